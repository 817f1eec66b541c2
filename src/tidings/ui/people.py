"""The People page: search the workspace's people by id or email, a page at a time.

The state is in the URL (`?q=...&start=<cursor>`), so a search can be shared,
bookmarked and gone back to. It is a plain GET form, working without
JavaScript; with it, htmx asks for the results alone as one types and swaps
them in (`HX-Request`), pushing the URL. The search is the App API's
customer search (`segments/search.py`: `search_text` pages and answers as
`search` does, with the box's text in place of a condition), with the same
cursors.
"""

from __future__ import annotations

from urllib.parse import urlencode

from tidings import paging
from tidings.errors import ApiError
from tidings.segments import search
from tidings.ui.http import Page, UiRequest
from tidings.ui.site import Ui

PAGE_SIZE = 50
MAX_QUERY = 200


async def people(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    query = request.query
    text = query.get("q", "")[:MAX_QUERY]
    try:
        page = paging.parse_page(query, default=PAGE_SIZE, maximum=PAGE_SIZE)
    except ApiError:
        page = paging.PageRequest(PAGE_SIZE)  # a stale or edited cursor: the first page
    found = await ui.read(search.search_text, request.session.workspace_id, text, page)
    next_url = "/people?" + urlencode({"q": text, "start": found["next"]}) if found["next"] else ""
    values = {
        "q": text,
        "people": found["identifiers"],
        "next_url": next_url,
        "paged": page.after is not None,
    }
    template = "people_results.html" if request.is_htmx else "people.html"
    return ui.page(request, template, **values)
