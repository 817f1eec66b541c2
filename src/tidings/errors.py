"""One error type for every rejection a caller can cause.

Services raise `ApiError`; the HTTP layer turns it into the body format of the
surface the request came in on (Track v1, Track v2, App API). Nothing in a
service builds an error body by hand.
"""

from __future__ import annotations


class ApiError(Exception):
    """A request the server refuses, with a stable machine `code`.

    `field` names the offending input where there is one (Track v2 reports it);
    `errors` carries several messages at once for the `meta.errors` form;
    `headers` go out with the answer (a 401's `WWW-Authenticate`).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str = "invalid_request",
        field: str = "",
        errors: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.field = field
        self.errors = errors
        self.headers = headers or {}

    def __reduce__(self) -> tuple[object, ...]:
        # Crosses the pipe from the writer process (db/writer_service.py): rebuilt
        # field by field, since subclasses take other constructor arguments.
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))


def _rebuild(cls: type[ApiError], message: str, fields: dict[str, object]) -> ApiError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(fields)
    return error


def bad_request(message: str, field: str = "", code: str = "invalid_request") -> ApiError:
    return ApiError(400, message, code=code, field=field)


def not_found(message: str = "not found") -> ApiError:
    return ApiError(404, message, code="not_found")


def unauthorized(expected: str, challenge: str) -> ApiError:
    """A 401 saying what the surface `expected`, with its `WWW-Authenticate` challenge."""
    message = f"unauthorized: {expected}"
    return ApiError(401, message, code="unauthorized", headers={"WWW-Authenticate": challenge})
