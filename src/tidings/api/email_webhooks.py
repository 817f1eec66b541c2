"""The HTTP email providers' webhooks (no credentials: each provider's own authentication,
checked by `tidings.reporting.email_webhooks`).

    POST /webhooks/{kind}/{workspace_id}   kind: ses | sendgrid | postmark | mailgun

204 once recorded or ignored; 401 (Postmark's basic auth) or 403 when the post
does not authenticate, 400 for a body that is not JSON, 502 when an SNS
certificate or subscription confirmation cannot be fetched.
"""

from __future__ import annotations

from tidings.api.auth import basic_credentials
from tidings.api.context import Context
from tidings.api.http import Request, Response, no_content
from tidings.api.routing import Route
from tidings.reporting import email_webhooks


async def receive(ctx: Context, request: Request) -> Response:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.headers.items()}
    basic = basic_credentials(headers.get("authorization", ""))
    post = email_webhooks.Post(request.body, headers, basic)
    services = email_webhooks.Services(ctx.read, ctx.write, ctx.fetch_allow, ctx.now)
    await email_webhooks.receive(
        services, request.params["kind"], request.params["workspace_id"], post
    )
    return no_content()


ROUTES = (Route("POST", "/webhooks/{kind}/{workspace_id}", receive, "track", "none", query=None),)
