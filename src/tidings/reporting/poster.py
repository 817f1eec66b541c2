"""The webhook poster: sends queued reporting-webhook posts, signed, in order.

A thread of `tidings serve` (and of `tidings worker`). Each pass claims the
post at the head of one webhook's queue (`webhook_posts.claim`), POSTs it
outside any transaction, and records the outcome:

- a 2xx: sent; the next post of that webhook becomes claimable;
- anything else (a timeout after 4 seconds, a connection error, another
  status): retried after the `RETRY` policy's delay, at least an hour later
  for the statuses Customer.io names (400, 401, ... 521), until the post is
  7 days old; then it is marked failed and the queue moves on;
- an endpoint the address guard refuses (loopback, private... not in the
  fetch allowlist): failed at once, since retrying cannot help.

Each post carries `X-CIO-Timestamp` (Unix seconds, when sent) and
`X-CIO-Signature`: the hex HMAC-SHA256, keyed with the webhook's signing key
(its text, as shown in the webhook object), of `v0:<timestamp>:<body>`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import ssl
from collections.abc import Callable
from typing import Any

from tidings import fetch
from tidings.clock import Clock
from tidings.db.engine import Database
from tidings.jobs.lease import RetryPolicy
from tidings.ops.loop import PassLoop
from tidings.reporting import webhook_posts
from tidings.reporting.webhook_posts import ClaimedPost

log = logging.getLogger("tidings.webhooks")

TIMEOUT = 4.0
RETRY_WINDOW = 7 * 86_400
SLOW_RETRY = 3_600  # Customer.io waits an hour after these statuses
SLOW_STATUSES = frozenset({400, 401, 402, 403, 404, 405, 410, 429, 500, 502, 521})
RETRY = RetryPolicy(base=30.0, cap=6 * 3_600.0)  # until RETRY_WINDOW, not a count

Write = Callable[..., Any]


def signature(signing_key: str, timestamp: int, body: bytes) -> str:
    message = b"v0:%d:" % timestamp + body
    return hmac.new(signing_key.encode(), message, hashlib.sha256).hexdigest()


def headers(signing_key: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-CIO-Timestamp": str(timestamp),
        "X-CIO-Signature": signature(signing_key, timestamp, body),
    }


class WebhookPoster(PassLoop):
    thread_name = "tidings-webhooks"

    def __init__(
        self,
        db: Database,
        clock: Clock,
        allow: fetch.Allowlist,
        *,
        write: Write | None = None,
        poll_interval: float = 0.2,
        lease: int = 60,
        timeout: float = TIMEOUT,
        retry: RetryPolicy = RETRY,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(poll_interval)
        self.db = db
        self.clock = clock
        self.allow = allow
        self.write: Write = write or self.db.write
        self.lease = lease
        self.timeout = timeout
        self._retry = retry
        self._verify = verify

    def run_once(self) -> bool:
        """Claim and attempt one post; False when none was due."""
        if not self.db.read(webhook_posts.due, self._now()):
            return False  # nothing due: no write transaction for an idle poll
        post = self.write(webhook_posts.claim, self._now(), self.lease)
        if post is None:
            return False
        error = self._attempt(post)
        if error is None:
            self.write(webhook_posts.sent, post)
        else:
            self._after_error(post, *error)
        return True

    def _attempt(self, post: ClaimedPost) -> tuple[str, int | None, bool] | None:
        """None when delivered, else (error, status, retryable)."""
        body = post.body.encode()
        try:
            status = fetch.post(
                post.endpoint,
                body,
                headers(post.signing_key, self._now(), body),
                allow=self.allow,
                timeout=self.timeout,
                verify=self._verify,
            )
        except fetch.FetchRefused as exc:
            return str(exc), None, False
        except fetch.FetchFailed as exc:
            return str(exc), None, True
        if 200 <= status < 300:
            return None
        return f"{post.endpoint}: the endpoint responded {status}", status, True

    def _after_error(self, post: ClaimedPost, error: str, status: int | None, retry: bool) -> None:
        now = self._now()
        too_late = now >= post.created_at + RETRY_WINDOW or self._retry.exhausted(post.attempt)
        if not retry or too_late:
            log.error(
                "webhook post %s to webhook %s failed for good: %s", post.id, post.webhook_id, error
            )
            self.write(webhook_posts.failed, post, error)
            return
        delay = self._retry.delay(post.attempt)
        if status in SLOW_STATUSES:
            delay = max(delay, SLOW_RETRY)
        log.warning("webhook post %s failed, retrying in %d s: %s", post.id, delay, error)
        self.write(webhook_posts.retry, post, now + delay, error)

    def _now(self) -> int:
        return int(self.clock.now())
