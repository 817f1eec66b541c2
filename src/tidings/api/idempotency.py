"""`Idempotency-Key` for App API POSTs: a retried request gets the first answer again.

`keyed(ctx, request, fn, *args)` runs the write use case `fn(conn, *args)`
(which returns the JSON body of a 200) through the group-commit writer. With
an `Idempotency-Key` header, the key, a SHA-256 of the request (method, path
and body) and the answer are stored in the SAME transaction as the use
case's writes, so after a crash a retry finds both or neither:

- same key, same request: the stored status and body, replayed (with
  `Idempotent-Replayed: true`), and nothing written again;
- same key, another request: 422 `Idempotency-Key reused with a different
  request`;
- a request refused with a 4xx stores nothing, so its retry is judged afresh.

Keys are per workspace and live 24 hours (`runtime.housekeeping` prunes them; an
older one found here counts as absent). Two processes racing on one new key
both run the use case, one insert of the key fails on its primary key, that
whole write is rolled back and retried alone by the writer, and the retry
replays the winner's answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import msgspec
from sqlalchemy import Connection, delete, insert, select

from tidings.api.context import Context
from tidings.api.http import Request, Response, json_response
from tidings.db.schema import idempotency_keys
from tidings.errors import ApiError, bad_request

HEADER = "idempotency-key"
LIFETIME = 24 * 3600
MAX_KEY_CHARS = 255
_encode = msgspec.json.Encoder().encode


async def keyed(ctx: Context, request: Request, fn: Callable[..., Any], *args: Any) -> Response:
    key = request.header(HEADER)
    if key is None:
        return json_response(await ctx.write(fn, *args))
    if not key.strip() or len(key) > MAX_KEY_CHARS:
        raise bad_request(f"Idempotency-Key must be 1 to {MAX_KEY_CHARS} characters")
    route = f"{request.method} {request.path}"[:255]
    status, body, replayed = await ctx.write(
        run_once, request.workspace.id, (key, route, fingerprint(request)), ctx.now(), fn, args
    )
    response = Response(status, body)
    if replayed:
        response.headers.append((b"idempotent-replayed", b"true"))
    return response


def fingerprint(request: Request) -> str:
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path.encode(), request.body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def run_once(
    conn: Connection,
    workspace_id: int,
    keyed_as: tuple[str, str, str],
    now: int,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
) -> tuple[int, bytes, bool]:
    """(status, body, replayed): the stored answer, or `fn`'s, stored with the key.

    `keyed_as` is (key, route, request hash).
    """
    key, route, request_hash = keyed_as
    stored = _stored(conn, workspace_id, key, now)
    if stored is not None:
        if stored.request_hash != request_hash:
            raise ApiError(422, "Idempotency-Key reused with a different request", code="conflict")
        return stored.status, stored.response.encode(), True
    body = _encode(fn(conn, *args))
    conn.execute(
        insert(idempotency_keys).values(
            workspace_id=workspace_id,
            key=key,
            route=route,
            request_hash=request_hash,
            status=200,
            response=body.decode(),
            created_at=now,
        )
    )
    return 200, body, False


def _stored(conn: Connection, workspace_id: int, key: str, now: int) -> Any:
    where = (idempotency_keys.c.workspace_id == workspace_id, idempotency_keys.c.key == key)
    row = conn.execute(
        select(
            idempotency_keys.c.request_hash,
            idempotency_keys.c.status,
            idempotency_keys.c.response,
            idempotency_keys.c.created_at,
        ).where(*where)
    ).first()
    if row is not None and row.created_at < now - LIFETIME:
        conn.execute(delete(idempotency_keys).where(*where))
        return None
    return row
