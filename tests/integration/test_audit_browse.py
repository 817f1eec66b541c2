"""The audit log as its page reads it, on a real database: filters, keyset paging newest
first, and cells made safe for spreadsheets."""

from __future__ import annotations

import uuid

from tests.conftest import new_workspace
from tidings import audit, paging
from tidings.users import accounts

NOW = 1_700_000_000
HASH = "scrypt$10$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


def _fill(tx, db):
    """A workspace with 7 entries by an admin at NOW+0..6 (two at NOW+3) and one by the
    command line; an entry of another workspace beside them."""
    ws = new_workspace(db).workspace_id
    admin = tx(
        accounts.create_user,
        f"adm-{uuid.uuid4().hex[:8]}@example.test",
        HASH,
        ws,
        "admin",
        NOW - 10,
    )
    for i, at in enumerate((0, 1, 2, 3, 3, 4, 5)):
        kind = "segment" if i % 2 else "template"
        entry = audit.Entry(f"{kind}.save", kind, str(i), ws, admin, {"n": i})
        tx(audit.record, entry, NOW + at)
    tx(audit.record, audit.Entry("template.save", "template", "cli", ws, None), NOW + 6)
    other = new_workspace(db).workspace_id
    tx(audit.record, audit.Entry("template.save", "template", "x", other, admin), NOW + 6)
    return ws, admin


def test_entries_are_filtered_by_user_action_target_and_time(tx, query, db):
    ws, admin = _fill(tx, db)

    def ids(**filters):
        q = audit.AuditQuery(limit=100, **filters)
        return [e["target_id"] for e in query(audit.browse, ws, q)["entries"]]

    # the user's creation last; the other workspace's entry ("x") is not here
    assert ids() == ["cli", "6", "5", "4", "3", "2", "1", "0", str(admin)]
    assert ids(user_id=admin) == ["6", "5", "4", "3", "2", "1", "0"]
    assert ids(action="segment.save") == ["5", "3", "1"]
    assert ids(target_type="template") == ["cli", "6", "4", "2", "0"]
    assert ids(since=NOW + 2, until=NOW + 4) == ["5", "4", "3", "2"]
    found = query(audit.browse, ws, audit.AuditQuery(limit=100, action="segment.save"))
    first = found["entries"][0]
    assert first["email"].startswith("adm-") and first["details"] == {"n": 5}


def test_pages_follow_their_cursor_without_gaps_at_equal_times(tx, query, db):
    ws, _ = _fill(tx, db)
    seen: list[str] = []
    q = audit.AuditQuery(limit=2, since=NOW)
    while True:
        found = query(audit.browse, ws, q)
        assert len(found["entries"]) <= 2
        seen += [e["target_id"] for e in found["entries"]]
        if not found["next"]:
            break
        at, entry_id = paging.decode_cursor(found["next"], 2)
        q = audit.AuditQuery(limit=2, since=NOW, after=(at, entry_id))
    assert seen == ["cli", "6", "5", "4", "3", "2", "1", "0"]


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted():
    for risky in ("=SUM(A1)", "+1", "-2", "@cmd", "\tx", "\rx"):
        assert audit.csv_cell(risky) == "'" + risky
    assert audit.csv_cell("user.role") == "user.role"
    assert audit.csv_cell(None) == ""
    assert audit.csv_cell(42) == "42"
