"""One place that turns an `ApiError` into the body each surface's clients expect.

Track v1 and the App API: `{"meta":{"error": ...}}` (or `{"meta":{"errors": [...]}}`
when several problems are reported together); Track v2: `{"errors":[{reason,
field, message}]}`; Pipelines: `{"code", "message"}`, which cdp-analytics-python
reads on every non-200 answer.
"""

from __future__ import annotations

from tidings.api.http import Response, json_response, text_response
from tidings.errors import ApiError


def error_response(surface: str, error: ApiError) -> Response:
    response = _body(surface, error)
    for name, value in error.headers.items():
        response.headers.append((name.lower().encode(), value.encode("latin-1")))
    if error.status == 429 and not any(k.lower() == "retry-after" for k in error.headers):
        response.headers.append((b"retry-after", b"1"))
    return response


def _body(surface: str, error: ApiError) -> Response:
    # Track answers a missing resource (a segment) in plain text, as Customer.io
    # does (BEHAVIOUR.md 2.5); a path it does not serve gets JSON like any error.
    if surface == "track" and error.status == 404 and error.code == "not_found":
        return text_response(error.message, 404)
    if surface == "track_v2":
        item = {"reason": error.code, "field": error.field, "message": error.message}
        return json_response({"errors": [item]}, error.status)
    if surface == "cdp":
        return json_response({"code": error.code, "message": error.message}, error.status)
    if error.errors:
        return json_response({"meta": {"errors": error.errors}}, error.status)
    return json_response({"meta": {"error": error.message}}, error.status)
