"""Newsletters (App API): every newsletter route of customerio-node 5.2.

Create, list, read and delete newsletters; their contents (one per language
and A/B test group), languages and test groups, and our A/B test's sample
and winner (`PUT` and `DELETE .../ab_test`); send now or schedule; their
metrics, link metrics and messages. Errors are the newsletter routes' own
form, `{"errors": [{"detail": ...}]}` (the `newsletter` surface,
`api/errors.py`). The use cases are in `campaigns/newsletters.py` and
`campaigns/newsletter_contents.py`; report windows are version 1's `period`
and `steps` (`campaigns/report_query.py`).
"""

from __future__ import annotations

from tidings import paging
from tidings.api.context import Context
from tidings.api.http import Request, Response, json_response
from tidings.api.routing import Route, Surface
from tidings.campaigns import metrics, newsletters, store
from tidings.campaigns import newsletter_ab as ab
from tidings.campaigns import newsletter_contents as contents
from tidings.campaigns import newsletter_requests as asks
from tidings.campaigns import report_query as ask
from tidings.errors import bad_request
from tidings.reporting import messages
from tidings.reporting.transactional_metrics import WINDOW_QUERY

KIND = "newsletter"
SURFACE: Surface = "newsletter"
SORTS = ("asc", "desc")


def _newsletter(request: Request) -> tuple[int, int]:
    return request.workspace.id, store.parse_id(request.params["newsletter_id"], KIND)


def _content(request: Request) -> tuple[int, int, int]:
    return (*_newsletter(request), store.parse_id(request.params["content_id"], "content"))


def _group(request: Request) -> tuple[int, int, int]:
    raw = request.params.get("test_group_id", "0")
    return (*_newsletter(request), store.parse_id(raw, "test group") if raw != "0" else 0)


# --- newsletters ---------------------------------------------------------------------------


async def list_newsletters(ctx: Context, request: Request) -> Response:
    page = paging.parse_page(
        request.query, default=newsletters.LIST_LIMIT, maximum=newsletters.LIST_MAX
    )
    sort = request.query.get("sort") or "asc"
    if sort not in SORTS:
        raise bad_request("sort must be asc or desc", "sort")
    found = await ctx.read(newsletters.list_page, request.workspace.id, page, sort == "desc")
    return json_response(found)


async def create_newsletter(ctx: Context, request: Request) -> Response:
    new = asks.parse_new(request.json_object(required=True), ctx.now())
    made = await ctx.write(newsletters.create, request.workspace.id, new, ctx.now())
    return json_response({"newsletter": made})


async def get_newsletter(ctx: Context, request: Request) -> Response:
    return json_response({"newsletter": await ctx.read(newsletters.get, *_newsletter(request))})


async def delete_newsletter(ctx: Context, request: Request) -> Response:
    await ctx.write(newsletters.remove, *_newsletter(request))
    return json_response({})


async def send_newsletter(ctx: Context, request: Request) -> Response:
    rate = asks.parse_send(request.json(empty={}))
    done = await ctx.write(newsletters.send, *_newsletter(request), rate, ctx.now())
    return json_response({"newsletter": done})


async def schedule_newsletter(ctx: Context, request: Request) -> Response:
    schedule = asks.parse_schedule(request.json_object(required=True), ctx.now())
    done = await ctx.write(newsletters.set_schedule, *_newsletter(request), schedule, ctx.now())
    return json_response({"newsletter": done})


async def set_ab_test(ctx: Context, request: Request) -> Response:
    test = asks.parse_ab_test(request.json_object(required=True))
    done = await ctx.write(newsletters.set_ab_test, *_newsletter(request), test, ctx.now())
    return json_response({"newsletter": done})


async def remove_ab_test(ctx: Context, request: Request) -> Response:
    done = await ctx.write(newsletters.set_ab_test, *_newsletter(request), None, ctx.now())
    return json_response({"newsletter": done})


# --- contents, languages, test groups -----------------------------------------------------


async def list_contents(ctx: Context, request: Request) -> Response:
    return json_response(await ctx.read(contents.list_contents, *_newsletter(request)))


async def get_content(ctx: Context, request: Request) -> Response:
    return json_response(await ctx.read(contents.get_content, *_content(request)))


async def update_content(ctx: Context, request: Request) -> Response:
    body = request.json_object(required=True)
    done = await ctx.write(contents.update_content, *_content(request), body, ctx.now())
    return json_response(done)


async def add_language(ctx: Context, request: Request) -> Response:
    body = request.json_object(required=True)
    done = await ctx.write(contents.add_language, *_group(request), body, ctx.now())
    return json_response(done)


async def get_language(ctx: Context, request: Request) -> Response:
    language = request.params["language"]
    return json_response(await ctx.read(contents.get_language, *_group(request), language))


async def update_language(ctx: Context, request: Request) -> Response:
    body = request.json_object(required=True)
    language = request.params["language"]
    done = await ctx.write(contents.update_language, *_group(request), language, body, ctx.now())
    return json_response(done)


async def delete_language(ctx: Context, request: Request) -> Response:
    language = request.params["language"]
    await ctx.write(contents.delete_language, *_group(request), language, ctx.now())
    return json_response({})


async def list_test_groups(ctx: Context, request: Request) -> Response:
    return json_response(await ctx.read(ab.test_groups, *_newsletter(request)))


async def add_test_group(ctx: Context, request: Request) -> Response:
    workspace_id, newsletter_id = _newsletter(request)
    await ctx.write(contents.add_test_group, workspace_id, newsletter_id, ctx.now())
    return await get_newsletter(ctx, request)


# --- reports -------------------------------------------------------------------------------


async def delivery_metrics(ctx: Context, request: Request) -> Response:
    window = ask.parse_link_window(request.query, ctx.now())
    found = await ctx.read(
        metrics.delivery_report,
        request.workspace.id,
        KIND,
        request.params["newsletter_id"],
        request.params.get("content_id"),
        window,
    )
    return json_response(found)


async def link_metrics(ctx: Context, request: Request) -> Response:
    window = ask.parse_link_window(request.query, ctx.now())
    found = await ctx.read(
        metrics.link_report,
        request.workspace.id,
        KIND,
        request.params["newsletter_id"],
        request.params.get("content_id"),
        window,
        ask.parse_unique(request.query),
    )
    return json_response(found)


async def messages_of(ctx: Context, request: Request) -> Response:
    query = messages.parse_query(request.query)
    found = await ctx.read(
        metrics.message_report,
        request.workspace.id,
        KIND,
        request.params["newsletter_id"],
        query,
        ctx.now(),
    )
    return json_response(found)


NEWSLETTER = "/v1/newsletters/{newsletter_id}"
GROUP = NEWSLETTER + "/test_group/{test_group_id}"


def _reports(content: str) -> tuple[Route, ...]:
    return (
        Route("GET", f"{content}/metrics", delivery_metrics, SURFACE, query=WINDOW_QUERY),
        Route("GET", f"{content}/metrics/links", link_metrics, SURFACE, query=ask.LINKS_QUERY),
    )


ROUTES = (
    Route("GET", "/v1/newsletters", list_newsletters, SURFACE, query=(*paging.QUERY, "sort")),
    Route("POST", "/v1/newsletters", create_newsletter, SURFACE),
    Route("GET", NEWSLETTER, get_newsletter, SURFACE),
    Route("DELETE", NEWSLETTER, delete_newsletter, SURFACE),
    Route("POST", NEWSLETTER + "/send", send_newsletter, SURFACE),
    Route("POST", NEWSLETTER + "/schedule", schedule_newsletter, SURFACE),
    Route("GET", NEWSLETTER + "/contents", list_contents, SURFACE),
    Route("GET", NEWSLETTER + "/contents/{content_id}", get_content, SURFACE),
    Route("PUT", NEWSLETTER + "/contents/{content_id}", update_content, SURFACE),
    *_reports(NEWSLETTER),
    *_reports(NEWSLETTER + "/contents/{content_id}"),
    *_reports(NEWSLETTER + "/content/{content_id}"),  # the App API reference's spelling
    Route("GET", NEWSLETTER + "/messages", messages_of, SURFACE, query=ask.MESSAGES_QUERY),
    Route("POST", NEWSLETTER + "/language", add_language, SURFACE),
    Route("GET", NEWSLETTER + "/language/{language}", get_language, SURFACE),
    Route("PUT", NEWSLETTER + "/language/{language}", update_language, SURFACE),
    Route("DELETE", NEWSLETTER + "/language/{language}", delete_language, SURFACE),
    Route("GET", NEWSLETTER + "/test_groups", list_test_groups, SURFACE),
    Route("POST", NEWSLETTER + "/test_groups", add_test_group, SURFACE),
    Route("PUT", NEWSLETTER + "/ab_test", set_ab_test, SURFACE),  # ours
    Route("DELETE", NEWSLETTER + "/ab_test", remove_ab_test, SURFACE),  # ours
    Route("POST", GROUP + "/language", add_language, SURFACE),
    Route("GET", GROUP + "/language/{language}", get_language, SURFACE),
    Route("PUT", GROUP + "/language/{language}", update_language, SURFACE),
    Route("DELETE", GROUP + "/language/{language}", delete_language, SURFACE),
)
