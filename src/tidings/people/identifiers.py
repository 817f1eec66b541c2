"""Who a request is about: identifiers, classified the way Customer.io does.

A path identifier is classified by its shape: it contains `@` -> an email,
it starts with `cio_` -> a cio_id (prefix stripped), anything else (a phone
number included) -> an id. Emails are case-insensitive, so they are compared
lower-cased.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from tidings.errors import bad_request

Kind = Literal["id", "email", "cio_id"]
KINDS: tuple[Kind, ...] = ("id", "email", "cio_id")
# The identifiers a client chooses: naming an unknown one creates the person,
# and suppressing one blocks it. A cio_id is ours: it names someone or nobody.
CLIENT_KINDS: tuple[Kind, ...] = ("id", "email")
MAX_ID_BYTES = 150


class Identifier(msgspec.Struct, frozen=True):
    """One identifier; a frozen msgspec Struct (hashable, compared by value) built in C."""

    kind: Kind
    value: str

    @property
    def key(self) -> str:
        """The value as stored for lookups (emails lower-cased)."""
        return stored_key(self.kind, self.value)


def stored_key(kind: str, value: str) -> str:
    """An identifier's value as stored for lookups (emails lower-cased)."""
    return value.lower() if kind == "email" else value


def classify(raw: str) -> Identifier:
    """Classify a `/customers/{identifier}` path value by its shape."""
    if "@" in raw:
        return Identifier("email", raw)
    if raw.startswith("cio_"):
        return Identifier("cio_id", raw[4:])
    return Identifier("id", raw)


def of_type(kind: str, raw: Any, *, field: str = "identifiers") -> Identifier:
    """An identifier whose kind is given (`id_type`, v2 `identifiers`, merge sides)."""
    if kind not in KINDS:
        raise bad_request(f"unsupported identifier type: {kind}", field)
    value = coerce_id(raw, field)
    if kind == "cio_id" and value.startswith("cio_"):
        value = value[4:]
    return Identifier(kind, value)  # type: ignore[arg-type]


def coerce_id(raw: Any, field: str = "id") -> str:
    """Clients send ids as strings or numbers; anything else is refused."""
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise bad_request(f"{field} attribute must be a string value", field)
    value = str(raw)
    check_id(value, field)
    return value


def check_id(value: str, field: str = "id") -> None:
    if value == "":
        raise bad_request(f"{field} attribute cannot be an empty string", field)
    if len(value.encode()) > MAX_ID_BYTES:
        raise bad_request(f"{field} attribute cannot be longer than {MAX_ID_BYTES} bytes", field)


def one_of(identifiers: Any, field: str = "identifiers") -> Identifier:
    """Exactly one `{kind: value}` pair, as v2 operations and merge sides carry."""
    if not isinstance(identifiers, dict) or len(identifiers) != 1:
        raise bad_request(f"{field} must hold exactly one of id, email or cio_id", field)
    ((kind, value),) = identifiers.items()
    return of_type(kind, value, field=f"{field}.{kind}")
