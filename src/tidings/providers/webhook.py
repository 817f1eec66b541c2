"""The webhook adapter: a campaign's webhook action, sent as the HTTP request it describes.

Every request goes through the SSRF guard of `tidings.fetch` (the operator's
`--fetch-allow` list, as for collections and imports). The delivery id is
sent as `Idempotency-Key` (and `X-Tidings-Delivery-Id`), so a receiver can
drop the second copy of a request that was retried after a crash
(CAMPAIGNS.md 9.1). Outcomes (CAMPAIGNS.md 3.6): a 2xx is sent; 408, 429, a
5xx, a timeout or a network error is retried (`Transient`); any other status,
a refused address or a bad URL fails for good.
"""

from __future__ import annotations

import asyncio

from tidings import fetch
from tidings.providers.base import Outbound, Outcome, Permanent, Sent, Transient, Webhook

TIMEOUT = 10.0


class WebhookAdapter:
    def __init__(self, allow: fetch.Allowlist, timeout: float = TIMEOUT) -> None:
        self._allow = allow
        self._timeout = timeout

    async def send(self, delivery_id: str, message: Outbound) -> Outcome:
        if not isinstance(message, Webhook):
            return Permanent("the webhook adapter only sends webhooks")
        return await asyncio.to_thread(self._send, delivery_id, message)

    def _send(self, delivery_id: str, message: Webhook) -> Outcome:
        headers = {
            "Content-Type": "application/json",
            **message.headers,
            "Idempotency-Key": delivery_id,
            "X-Tidings-Delivery-Id": delivery_id,
        }
        body = message.body.encode() if message.method != "get" else None
        try:
            status = fetch.request(
                message.method,
                message.url,
                body,
                headers,
                allow=self._allow,
                timeout=self._timeout,
            )
        except fetch.FetchRefused as exc:
            return Permanent(str(exc))
        except fetch.FetchFailed as exc:
            return Permanent(str(exc)) if exc.permanent else Transient(str(exc))
        if 200 <= status < 300:
            return Sent(None)
        if status >= 500 or status in (408, 429):
            return Transient(f"the webhook answered {status}")
        return Permanent(f"the webhook answered {status}")

    async def close(self) -> None:
        return None
