"""Track API v2 requests: size limits, the batch envelope, dispatch on `type`/`action`.

Parsing is pure (no database): a batch is validated item by item before any
write, so an invalid item is reported by its index while the others apply.

Size limits are Customer.io's documented ones: `/api/v2/entity` 32 KB,
`/api/v2/batch` 500 KB, each batch item 32 KB measured as its compact JSON
encoding. An oversized *request* is refused with 400 (reason `too_large`),
not 413: the Track spec documents only 200/207/400/401 for these paths, with
400 meaning "the entire request was malformed or invalid".
"""

from __future__ import annotations

from typing import Any

import msgspec

from tidings.errors import ApiError, bad_request
from tidings.track_v2.object_ops import DELIVERY, OBJECT
from tidings.track_v2.operation import Operation, Parser
from tidings.track_v2.person_ops import PERSON

ENTITY_LIMIT = 32_768
BATCH_LIMIT = 512_000
ITEM_LIMIT = 32_768

_PARSERS: dict[str, dict[str, Parser]] = {"person": PERSON, "object": OBJECT, "delivery": DELIVERY}
_encode = msgspec.json.Encoder().encode


def check_size(body: bytes, limit: int) -> None:
    """Refuse a whole request over `limit` bytes."""
    if len(body) > limit:
        message = f"request body cannot be larger than {limit} bytes"
        raise ApiError(400, message, code="too_large")


def parse_batch(body: Any, now: int, body_size: int = 0) -> list[Operation | ApiError]:
    """Each item of `{"batch": [...]}` parsed, or the `ApiError` that item earns.

    Raises only when the request as a whole is invalid (`batch` is not a
    non-empty array). Items are measured only when the body (`body_size`
    bytes, 0 if unknown) could hold one over the item limit.
    """
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    batch = body.get("batch")
    if not isinstance(batch, list) or not batch:
        raise bad_request("batch must be a non-empty array", "batch")
    measure = body_size == 0 or body_size > ITEM_LIMIT
    return [_parse_item(item, now, measure) for item in batch]


def _parse_item(item: Any, now: int, measure: bool) -> Operation | ApiError:
    try:
        if measure and len(_encode(item)) > ITEM_LIMIT:
            message = f"a batch item cannot be larger than {ITEM_LIMIT} bytes"
            raise ApiError(400, message, code="too_large")
        return parse_operation(item, now)
    except ApiError as exc:
        return exc


def parse_operation(raw: Any, now: int) -> Operation:
    """The operation `raw` describes, or `ApiError` (400) naming the bad field."""
    if not isinstance(raw, dict):
        raise bad_request("an operation must be a JSON object")
    kind = raw.get("type")
    actions = _PARSERS.get(kind) if isinstance(kind, str) else None
    if actions is None:
        raise bad_request("type must be one of person, object or delivery", "type")
    action = raw.get("action")
    parser = actions.get(action) if isinstance(action, str) else None
    if parser is None:
        allowed = ", ".join(actions)
        raise bad_request(f"action for type {kind} must be one of: {allowed}", "action")
    return parser(raw, now)
