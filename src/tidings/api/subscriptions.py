"""The subscription center (App API): the workspace's topics and channels, a person's
preferences, and the token of the person's hosted preferences page (`/t/p/{token}`).

Topics and channels are declared with `tidings apply` (`subscriptions/topics.py`).
"""

from __future__ import annotations

from tidings.api.context import Context
from tidings.api.http import Request, Response, json_response
from tidings.api.routing import Route
from tidings.people import read
from tidings.reporting import preference_center
from tidings.subscriptions import center, topics


async def list_topics(ctx: Context, request: Request) -> Response:
    found = await ctx.read(topics.topics, request.workspace.id)
    return json_response({"topics": [t.json() for t in found]})


async def list_channels(ctx: Context, request: Request) -> Response:
    found = await ctx.read(topics.channels, request.workspace.id)
    return json_response({"channels": [t.json() for t in found]})


async def preferences_of(ctx: Context, request: Request) -> Response:
    id_type = read.parse_id_type(request.query)
    args = (request.workspace.id, request.params["customer_id"], id_type)
    return json_response(await ctx.read(center.preferences_of, *args))


async def token(ctx: Context, request: Request) -> Response:
    customer_id, base_url = request.params["customer_id"], ctx.public_url(request)
    args = (request.workspace.id, customer_id, base_url, ctx.now())
    return json_response(await ctx.write(preference_center.token_for, *args))


ROUTES = (
    Route("GET", "/v1/subscription_topics", list_topics, "app"),
    Route("GET", "/v1/subscription_channels", list_channels, "app"),
    Route(
        "GET",
        "/v1/customers/{customer_id}/subscription_preferences",
        preferences_of,
        "app",
        query=("id_type", "language"),
    ),
    Route("GET", "/v1/subscription_center/{customer_id}/token", token, "app"),
)
