"""Twilio's status callbacks (no credentials: Twilio's signature is the authority).

    POST /webhooks/twilio/{delivery_id}   form-encoded; 204 once recorded or ignored

403 when `X-Twilio-Signature` does not verify, 404 for an unknown delivery
(`tidings.reporting.sms_status`). The signed URL is rebuilt on the public URL
(`--public-url`), the one the callback URL was made on.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from tidings.api.context import Context
from tidings.api.http import Request, Response, no_content
from tidings.api.routing import Route
from tidings.reporting import sms_status


async def status(ctx: Context, request: Request) -> Response:
    url = ctx.public_url(request) + request.path
    if request.query_string:
        url += "?" + request.query_string.decode("latin-1")
    params = parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)
    signature = request.header("x-twilio-signature") or ""
    delivery_id = request.params["delivery_id"]
    await ctx.write(sms_status.record_status, delivery_id, url, params, signature, ctx.now())
    return no_content()


ROUTES = (Route("POST", "/webhooks/twilio/{delivery_id}", status, "track", "none", query=None),)
