"""The Segments pages: the list, a segment's page (definition, members), the builder of
data-driven segments with its live count, and manual segments' members.

Reads are the App API's (`segments/service.py`) and `segments/browse.py`
(pages of segments, capped member counts, a time-boxed live count). Changes go
through the App API's use cases (`membership.create_segment` /
`update_segment`, `service.change_members`), each with its audit entry in the
same transaction (`audit.audited`); the segment worker then builds a changed
segment in the background, as after an API call. The builder's document is
checked by the condition parser itself, and its errors show at their input
(`ui/segment_form.py`). Every form posts without JavaScript; htmx swaps the
builder and refreshes the count as one types.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from tidings import audit, paging
from tidings.errors import ApiError
from tidings.segments import browse, membership, service
from tidings.segments.conditions import OPERATORS, parse
from tidings.ui import segment_form, segment_stored
from tidings.ui.http import Page, UiRequest, redirect
from tidings.ui.site import Ui
from tidings.users import roles

PAGE_SIZE = 50
LIST_CAP = 1_000  # member counts on the list stop here ("more than 1,000")
PAGE_CAP = 100_000  # and on a segment's page
STATES = {"build_queued": "Waiting to build", "build": "Building", "finished": "Built"}
ID_TYPES = {"id": "id", "email": "email"}
MAX_MEMBERS_TEXT = 1000


async def segment_list(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    page = _page(request)
    found = await ui.read(browse.list_page, request.session.workspace_id, page)
    ids = [s["id"] for s in found["segments"]]
    counts = await ui.read(browse.member_counts, ids, LIST_CAP)
    rows = [_summary(s, counts[s["id"]]) for s in found["segments"]]
    next_url = f"/segments?start={found['next']}" if found["next"] else ""
    values: dict[str, Any] = {"rows": rows, "next_url": next_url, "paged": page.after is not None}
    values["notice"] = "Deleted the segment." if request.query.get("deleted") else ""
    return ui.page(request, "segments.html", cap=LIST_CAP, may_edit=_may_edit(request), **values)


async def segment_page(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    workspace_id, segment_id = _segment(request)
    segment = await ui.read(service.get, workspace_id, segment_id)
    page = _page(request)
    found = await ui.read(service.membership, workspace_id, segment_id, page)
    count = await ui.read(browse.member_count, segment_id, PAGE_CAP)
    base = f"/segments/{segment_id}"
    values: dict[str, Any] = {
        "segment": _summary(segment, count),
        "tree": _tree(segment),
        "document": json.dumps(segment.get("conditions"), indent=2),
        "names": await _names(ui, workspace_id),
        "members": [{**m, "href": person_url(m)} for m in found["identifiers"]],
        "next_url": f"{base}?start={found['next']}" if found["next"] else "",
        "paged": page.after is not None,
        "base": base,
        "cap": PAGE_CAP,
        "notice": _notice(request.query),
        "here": request.path + (f"?{request.query_string}" if request.query_string else ""),
        "may_edit": _may_edit(request),
    }
    return ui.page(request, "segment.html", **values)


def person_url(identifier: dict[str, Any]) -> str:
    """A person's page, by their cio_id (every person has one)."""
    return "/people/" + quote(identifier["cio_id"], safe="")


# -- the builder --------------------------------------------------------------------------


@dataclass
class Builder:
    """The builder's state: the segment's fields as typed, its tree, and errors by input."""

    name: str = ""
    description: str = ""
    tags: str = ""
    root: segment_form.Node = field(default_factory=lambda: segment_form.blank("all"))
    dynamic: bool = True
    segment_id: int | None = None
    errors: dict[str, str] = field(default_factory=dict)
    count: browse.Matching | None = None
    count_error: str = ""

    @property
    def error_list(self) -> list[tuple[str, str, str]]:
        """Each error's input, a label naming it (blank: the whole form) and message."""
        return [(key, _label(key), message) for key, message in self.errors.items()]

    @property
    def action(self) -> str:
        return f"/segments/{self.segment_id}/edit" if self.segment_id else "/segments/new"


async def new_form(ui: Ui, request: UiRequest) -> Page:
    return await _show(ui, request, Builder())


async def edit_form(ui: Ui, request: UiRequest) -> Page:
    workspace_id, segment_id = _segment(request)
    segment = await ui.read(service.get, workspace_id, segment_id)
    builder = Builder(
        name=segment["name"],
        description=segment["description"] or "",
        tags=", ".join(segment["tags"] or []),
        dynamic=segment["type"] == "dynamic",
        segment_id=segment_id,
    )
    if builder.dynamic:
        builder.root = segment_stored.from_condition(segment["conditions"])
    return await _show(ui, request, builder)


async def create_post(ui: Ui, request: UiRequest) -> Page:
    return await _post(ui, request, Builder())


async def edit_post(ui: Ui, request: UiRequest) -> Page:
    workspace_id, segment_id = _segment(request)
    segment = await ui.read(service.get, workspace_id, segment_id)
    return await _post(
        ui, request, Builder(dynamic=segment["type"] == "dynamic", segment_id=segment_id)
    )


async def _post(ui: Ui, request: UiRequest, builder: Builder) -> Page:
    """A builder button: change the tree and show the form again, count, or save."""
    form = request.form
    builder.name = form.get("name", "")
    builder.description = form.get("description", "")
    builder.tags = form.get("tags", "")
    action = form.get("action", "refresh")
    root = segment_form.from_form(form)
    if action in ("save", "count", "refresh"):
        builder.root = segment_form.rekey(root)
    else:
        builder.root = segment_form.apply_action(root, action)
    if action == "save":
        return await _save(ui, request, builder)
    if action == "count" and builder.dynamic:
        await _count_into(ui, request, builder)
    return await _show(ui, request, builder)


async def _save(ui: Ui, request: UiRequest, builder: Builder) -> Page:
    assert request.session is not None
    session = request.session
    spec: dict[str, Any] = {
        "name": builder.name,
        "description": builder.description,
        "tags": [t.strip() for t in builder.tags.split(",") if t.strip()],
    }
    paths: dict[str, str] = {}
    if builder.dynamic:
        spec["conditions"], paths = segment_form.to_condition(builder.root)
    details = {"name": builder.name.strip(), "conditions": spec.get("conditions")}
    now = ui.now()
    try:
        if builder.segment_id is None:
            entry = request.audit_entry("segment.create", "segment", audit.RESULT, **details)
            segment_id = await ui.write(
                audit.audited,
                entry,
                now,
                create_segment,
                session.workspace_id,
                {"segment": spec},
                now,
            )
        else:
            segment_id = builder.segment_id
            entry = request.audit_entry("segment.update", "segment", str(segment_id), **details)
            args = (session.workspace_id, segment_id, {"segment": spec}, now)
            await ui.write(audit.audited, entry, now, membership.update_segment, *args)
    except ApiError as exc:
        if exc.status != 400:
            raise
        builder.errors = {_input_of(exc.field, paths): _message(exc)}
        return await _show(ui, request, builder, status=400)
    return _go(request, f"/segments/{segment_id}")


def create_segment(conn: Any, workspace_id: int, body: Any, now: int) -> int:
    """`membership.create_segment`, answering the new segment's id (for its audit entry)."""
    created: dict[str, Any] = membership.create_segment(conn, workspace_id, body, now)
    return int(created["id"])


async def count(ui: Ui, request: UiRequest) -> Page:
    """The live count of the builder's condition (htmx, as one types)."""
    builder = Builder(root=segment_form.rekey(segment_form.from_form(request.form)))
    await _count_into(ui, request, builder)
    return ui.page(request, "segment_count.html", builder=builder)


async def _count_into(ui: Ui, request: UiRequest, builder: Builder) -> None:
    assert request.session is not None
    document, paths = segment_form.to_condition(builder.root)
    try:
        condition = parse(document, segment_form.PATH)
    except ApiError as exc:
        builder.count_error = _message(exc)
        builder.errors.setdefault(_input_of(exc.field, paths), builder.count_error)
        return
    workspace_id = request.session.workspace_id
    builder.count = await ui.read(browse.count_matching, workspace_id, condition, ui.now())


async def _show(ui: Ui, request: UiRequest, builder: Builder, status: int = 200) -> Page:
    assert request.session is not None
    names = await _names(ui, request.session.workspace_id)
    names.pop(builder.segment_id or 0, None)
    values: dict[str, Any] = {
        "builder": builder,
        "names": names,
        "operators": OPERATORS,
        "groups": GROUP_LABELS,
        "leaves": LEAF_LABELS,
        "event_types": ("event", "page", "screen"),
    }
    if request.is_htmx:  # htmx swaps only 2xx answers: errors come back as a 200 form
        return ui.page(request, "segment_builder.html", **values)
    return ui.page(request, "segment_edit.html", status, **values)


GROUP_LABELS = {"all": "all of", "any": "any of", "none": "none of", "not_all": "not all of"}
LEAF_LABELS = {
    "attribute": "Attribute",
    "event": "Event",
    "segment": "Segment membership",
    "device": "Device",
    "relationship": "Relationship",
}


def _input_of(error_field: str, paths: dict[str, str]) -> str:
    """The builder input a use case's 400 names: the segment's fields or a condition's."""
    own = {"segment.name": "name", "segment.description": "description", "segment.tags": "tags"}
    if error_field in own:
        return own[error_field]
    return segment_form.error_input(error_field, paths) or "form"


def _label(key: str) -> str:
    """`Condition 1.2, value` for `c.1.1.value`; `Name` for `name`; "" for the form."""
    if key == "form":
        return ""
    if not key.startswith(segment_form.ROOT):
        return key.capitalize()
    parts = key.split(".")[1:]
    numbers = [str(int(p) + 1) for p in parts if p.isdigit()]
    label = "Condition " + ".".join(numbers) if numbers else "Conditions"
    for part in parts:
        if part.startswith("w") and part[1:].isdigit():
            label += f", data test {int(part[1:]) + 1}"
        elif not part.isdigit():
            label += f", {part}"
    return label


def _message(exc: ApiError) -> str:
    """The parser's message without the path it starts with (the page shows where)."""
    prefix = f"{exc.field}: "
    return (
        exc.message[len(prefix) :] if exc.field and exc.message.startswith(prefix) else exc.message
    )


# -- manual segments ----------------------------------------------------------------------


async def create_manual(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    form = request.form
    spec = {"name": form.get("name", ""), "description": form.get("description", "")}
    entry = request.audit_entry(
        "segment.create", "segment", audit.RESULT, name=spec["name"].strip()
    )
    now = ui.now()
    segment_id = await ui.write(
        audit.audited,
        entry,
        now,
        create_segment,
        request.session.workspace_id,
        {"segment": spec},
        now,
    )
    return redirect(f"/segments/{segment_id}")


async def add_members(ui: Ui, request: UiRequest) -> Page:
    return await _change_members(ui, request, add=True)


async def remove_members(ui: Ui, request: UiRequest) -> Page:
    return await _change_members(ui, request, add=False)


async def _change_members(ui: Ui, request: UiRequest, add: bool) -> Page:
    """Add people by id or email (one a line, or separated by commas), or remove one
    member by cio_id; unknown identifiers are skipped, as the App API does."""
    assert request.session is not None
    workspace_id, segment_id = _segment(request)
    form = request.form
    id_type = form.get("id_type", "") if add else "cio_id"
    if add and id_type not in ID_TYPES:
        id_type = "id"
    text = form.get("people", "")
    ids = [part.strip() for part in text.replace(",", "\n").splitlines() if part.strip()]
    ids = ids[:MAX_MEMBERS_TEXT]
    if not ids:
        return redirect(f"/segments/{segment_id}?none=1")
    action = "segment.add_members" if add else "segment.remove_members"
    entry = request.audit_entry(action, "segment", str(segment_id), id_type=id_type, ids=ids)
    now = ui.now()
    args = (workspace_id, segment_id, id_type, ids, now, add)
    await ui.write(audit.audited, entry, now, service.change_members, *args)
    return redirect(f"/segments/{segment_id}?{'added' if add else 'removed'}={len(ids)}")


def _notice(query: dict[str, str]) -> str:
    """What the last change did, from the redirect's query (never text from the URL)."""
    if query.get("none"):
        return "Give at least one id or email."
    for key, verb in (("added", "Added"), ("removed", "Removed")):
        given = query.get(key, "")
        if given.isascii() and given.isdigit():
            n = int(given)
            done = f"{verb} {n:,} {'identifier' if n == 1 else 'identifiers'}"
            return done + (" (those that match no one are skipped)." if key == "added" else ".")
    return ""


def _may_edit(request: UiRequest) -> bool:
    return request.session is not None and roles.may(request.session.role, "edit_content")


# -- helpers ------------------------------------------------------------------------------


def _page(request: UiRequest) -> paging.PageRequest:
    try:
        return paging.parse_page(request.query, default=PAGE_SIZE, maximum=PAGE_SIZE)
    except ApiError:
        return paging.PageRequest(PAGE_SIZE)  # a stale or edited cursor: the first page


def _segment(request: UiRequest) -> tuple[int, int]:
    assert request.session is not None
    return request.session.workspace_id, service.parse_segment_id(request.params["segment_id"])


def _go(request: UiRequest, location: str) -> Page:
    if request.is_htmx:
        return Page(200, b"", [(b"hx-redirect", location.encode("latin-1"))])
    return redirect(location)


async def _names(ui: Ui, workspace_id: int) -> dict[int, str]:
    return {s["id"]: s["name"] for s in await ui.read(service.list_all, workspace_id)}


def _tree(segment: dict[str, Any]) -> segment_form.Node | None:
    conditions = segment.get("conditions")
    return segment_stored.from_condition(conditions) if conditions is not None else None


def _summary(segment: dict[str, Any], members: browse.Bounded) -> dict[str, Any]:
    state = (
        "Manual" if segment["type"] == "manual" else STATES.get(segment["state"], segment["state"])
    )
    if segment["type"] == "dynamic" and segment["state"] != "finished":
        state += f" ({segment['progress'] or 0}%)"
    return {
        **segment,
        "kind": "data-driven" if segment["type"] == "dynamic" else "manual",
        "state_text": state,
        "building": segment["type"] == "dynamic" and segment["state"] != "finished",
        "members": members,
        "updated": _when(segment["updated_at"]),
        "created": _when(segment["created_at"]),
    }


def _when(at: int | None) -> str:
    if at is None:
        return ""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")
