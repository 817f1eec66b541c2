"""The Suppressions page: suppressed people and blocked addresses, filtered by the
start of an address or id, and lifting one.

Lifting a suppression lets messages reach that person or address again, which
Customer.io leaves to those who may change the workspace's content and
people, so it needs `edit_content` (authors and admins); viewers see the lists
only. Each removal is recorded in the audit log in its own transaction
(`audit.audited`). The lists are keyset-paged (`sending.suppressions_view`),
their state in the URL: `/suppressions?address=&after=` for suppressed
identifiers (the cursor is `kind:value`) and `&blocked_after=` for blocked
addresses.
"""

from __future__ import annotations

from urllib.parse import urlencode

from tidings import audit
from tidings.sending import suppressions_view as view
from tidings.ui.activity import when
from tidings.ui.http import Page, UiRequest, redirect
from tidings.ui.site import Ui
from tidings.users import roles


async def suppressions(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    workspace_id = request.session.workspace_id
    prefix = request.query.get("address", "").strip()[:255]
    kind, sep, value = request.query.get("after", "").partition(":")
    after = (kind, value) if sep and kind in view.KINDS else None
    blocked_after = request.query.get("blocked_after", "") or None
    people = await ui.read(view.suppressed, workspace_id, prefix, after)
    addresses = await ui.read(view.blocked, workspace_id, prefix, blocked_after)
    for row in (*people["rows"], *addresses["rows"]):
        row["at"] = when(row["created_at"])
    base = {"address": prefix} if prefix else {}
    next_people = people["next"] and ":".join(people["next"])
    return ui.page(
        request,
        "suppressions.html",
        prefix=prefix,
        people=people,
        addresses=addresses,
        may_remove=roles.may(request.session.role, "edit_content"),
        next_people="/suppressions?" + urlencode({**base, "after": next_people})
        if next_people
        else "",
        next_blocked="/suppressions?" + urlencode({**base, "blocked_after": addresses["next"]})
        if addresses["next"]
        else "",
        people_paged=after is not None,
        blocked_paged=blocked_after is not None,
        first_url="/suppressions?" + urlencode(base),
    )


async def unsuppress(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    session = request.session
    kind, value = request.form.get("kind", ""), request.form.get("value", "")
    entry = audit.Entry(
        "suppression.remove",
        "suppression",
        f"{kind}:{value}",
        session.workspace_id,
        session.user_id,
        {"kind": kind, "value": value},
    )
    args = (session.workspace_id, kind, value)
    await ui.write(audit.audited, entry, ui.now(), view.unsuppress, *args)
    return redirect("/suppressions")


async def unblock(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    session = request.session
    address = request.form.get("address", "")
    entry = audit.Entry(
        "blocked_address.remove",
        "blocked_address",
        address,
        session.workspace_id,
        session.user_id,
        {"address": address},
    )
    await ui.write(audit.audited, entry, ui.now(), view.unblock, session.workspace_id, address)
    return redirect("/suppressions")
