"""The `collection_fetch` job: fetch a url collection's file and store its rows.

Payload: `{"collection_id", "url"}`. Idempotent: it replaces the rows with
what the URL gives now, and only while the collection still points at that
URL (`service.store_fetched`). The fetch goes through `tidings.fetch`, so the
operator's allowlist decides which private addresses it may reach.

Failures: a refused address, a 4xx, an oversize or unreadable file are
`Permanent`; timeouts, connection errors and 5xx are retried by the worker.
When the job gives up, the collection shows `fetch_status: "failed"` and the
reason in `fetch_error`, and keeps its previous rows.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection

from tidings.collections import rows, service
from tidings.fetch import Allowlist, FetchFailed, FetchRefused, fetch
from tidings.jobs.queue import Claimed
from tidings.jobs.runner import JobContext, Permanent

log = logging.getLogger("tidings.collections")

TIMEOUT = 30.0


class CollectionFetchJob:
    """The handler registered for `service.JOB_KIND`."""

    def __init__(self, allow: Allowlist, timeout: float = TIMEOUT) -> None:
        self._allow = allow
        self._timeout = timeout

    def run(self, ctx: JobContext, job: Claimed) -> None:
        collection_id, url = _target(job)
        if not ctx.read(service.still_wanted, job.workspace_id, collection_id, url):
            return  # deleted, or given other rows meanwhile
        content = self._download(url)
        stored = ctx.write(
            service.store_fetched, job.workspace_id, collection_id, url, content, ctx.now()
        )
        if not stored:
            log.info("collection %s moved on while %s was fetched", collection_id, url)

    def give_up(self, conn: Connection, job: Claimed, error: str, now: int) -> None:
        collection_id = job.payload.get("collection_id")
        url = job.payload.get("url")
        if isinstance(collection_id, int) and isinstance(url, str):
            service.mark_failed(conn, job.workspace_id, collection_id, url, error, now)

    def _download(self, url: str) -> rows.Content:
        try:
            got = fetch(url, allow=self._allow, max_bytes=rows.MAX_BYTES, timeout=self._timeout)
        except FetchRefused as exc:
            raise Permanent(str(exc)) from exc
        except FetchFailed as exc:
            if exc.permanent:
                raise Permanent(str(exc)) from exc
            raise
        try:
            return rows.parse_file(got.body, got.content_type, got.url)
        except rows.InvalidRows as exc:
            raise Permanent(str(exc)) from exc


def _target(job: Claimed) -> tuple[int, str]:
    collection_id, url = job.payload.get("collection_id"), job.payload.get("url")
    if not isinstance(collection_id, int) or not isinstance(url, str):
        raise Permanent(f"collection_fetch job {job.id} lacks collection_id or url")
    return collection_id, url
