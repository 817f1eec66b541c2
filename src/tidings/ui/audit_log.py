"""The audit log page (admins only) and its CSV export.

State in the URL: `/audit?user=&action=&target=&since=&until=&start=<cursor>`, a
plain GET form; `/audit/export.csv` with the same filters downloads every
entry they match (the cursor aside). Entries are `audit.browse`: newest first,
keyset-paged on `(at, id)`. Times are typed and shown in UTC.

The export is streamed: it is read `EXPORT_BATCH` entries at a time, each
batch its own read, and sent as it is read, so a long log never sits in
memory whole. Every cell passes `audit.csv_cell` (no spreadsheet formulas).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import urlencode

from tidings import audit, paging
from tidings.errors import ApiError
from tidings.ui.activity import when
from tidings.ui.http import Page, UiRequest
from tidings.ui.site import Ui
from tidings.users import accounts

PAGE_SIZE = 50
EXPORT_BATCH = 500
MAX_TEXT = 64
FIELDS = ("user", "action", "target", "since", "until")
# Suggested in the action box (any text may be typed: the filter is exact).
ACTIONS = (
    "user.create",
    "user.role",
    "user.revoke",
    "user.password_reset",
    "template.save",
    "template.test_send",
    "snippet.save",
    "layout.save",
    "segment.create",
    "segment.update",
    "segment.add_members",
    "segment.remove_members",
)
COLUMNS = ("id", "time_utc", "user_id", "user_email", "action", "target_type", "target_id")


async def audit_page(ui: Ui, request: UiRequest) -> Page:
    assert request.session is not None
    chosen, problems, q = _query(request)
    after = _cursor(request.query.get("start", ""))
    q = replace(q, limit=PAGE_SIZE, after=after)
    found = await ui.read(audit.browse, request.session.workspace_id, q)
    members = await ui.read(accounts.members_of, request.session.workspace_id)
    for entry in found["entries"]:
        entry["when"] = when(entry["at"])
        entry["details_text"] = json.dumps(entry["details"], indent=2, sort_keys=True)
    filters = {k: v for k, v in chosen.items() if v}
    after_this = {**filters, "start": found["next"]}
    return ui.page(
        request,
        "audit.html",
        chosen=chosen,
        problems=problems,
        found=found,
        members=members,
        actions=ACTIONS,
        next_url="/audit?" + urlencode(after_this) if found["next"] else "",
        first_url="/audit?" + urlencode(filters),
        export_url="/audit/export.csv" + ("?" + urlencode(filters) if filters else ""),
        paged=after is not None,
    )


async def export(ui: Ui, request: UiRequest) -> Page:
    """Every entry the filters match, as CSV (a header row first)."""
    assert request.session is not None
    _, problems, q = _query(request)
    if problems:
        raise ApiError(400, " ".join(problems))
    workspace_id = request.session.workspace_id
    headers = [
        (b"content-type", b"text/csv; charset=utf-8"),
        (b"content-disposition", f'attachment; filename="audit-{workspace_id}.csv"'.encode()),
    ]
    return Page(200, _line(COLUMNS + ("details",)), headers, _rows(ui, workspace_id, q))


async def _rows(ui: Ui, workspace_id: int, q: audit.AuditQuery) -> AsyncIterator[bytes]:
    q = replace(q, limit=EXPORT_BATCH, after=None)
    while True:
        found = await ui.read(audit.browse, workspace_id, q)
        out = io.StringIO()
        writer = csv.writer(out)
        for e in found["entries"]:
            details = json.dumps(e["details"], sort_keys=True, separators=(",", ":"))
            row = [e["id"], when(e["at"]), e["user_id"], e["email"], e["action"]]
            row += [e["target_type"], e["target_id"], details]
            writer.writerow([audit.csv_cell(value) for value in row])
        yield out.getvalue().encode()
        if not found["next"]:
            return
        last = found["entries"][-1]
        q = replace(q, after=(last["at"], last["id"]))


def _line(values: tuple[str, ...]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerow(values)
    return out.getvalue().encode()


def _query(request: UiRequest) -> tuple[dict[str, str], list[str], audit.AuditQuery]:
    """The filters as typed, the problems with them, and the query they make."""
    chosen = {name: request.query.get(name, "").strip()[:MAX_TEXT] for name in FIELDS}
    problems: list[str] = []
    q = audit.AuditQuery(
        user_id=int(chosen["user"]) if chosen["user"].isdigit() else None,
        action=chosen["action"],
        target_type=chosen["target"],
        since=_time(chosen["since"], "From", problems),
        until=_time(chosen["until"], "To", problems),
    )
    return chosen, problems, q


def _cursor(start: str) -> tuple[int, int] | None:
    """The cursor's `(at, id)`; a stale or edited one means the first page."""
    if not start:
        return None
    try:
        at, entry_id = paging.decode_cursor(start, 2)
    except ApiError:
        return None
    return at, entry_id


def _time(text: str, label: str, problems: list[str]) -> int | None:
    """A `datetime-local` value (or any ISO 8601 time), read as UTC; None when blank."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        problems.append(f"{label}: “{text}” is not a date and time (YYYY-MM-DDTHH:MM).")
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())
