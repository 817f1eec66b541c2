"""Managing a workspace's users on a real database: adding (new or existing), taking a
role away (never the last admin's), password resets and changes ending sessions, each
audited in the change's transaction."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import new_workspace
from tidings import audit
from tidings.errors import ApiError
from tidings.users import accounts, sessions

NOW = 1_700_000_000
HASH = "scrypt$10$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
OTHER_HASH = "scrypt$10$8$1$BBBBBBBBBBBBBBBBBBBBBB$BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"


def _email() -> str:
    return f"a-{uuid.uuid4().hex[:10]}@example.test"


def _user(tx, ws: int, role: str) -> int:
    return tx(accounts.create_user, _email(), HASH, ws, role, NOW)


def _session(tx, user_id: int) -> str:
    raw = sessions.new_secret()
    tx(sessions.log_in, user_id, "x@example.test", sessions.hash_id(raw), "csrf", NOW)
    return sessions.hash_id(raw)


def _actions(query, ws: int, user_id: int) -> list[str]:
    found = query(audit.browse, ws, audit.AuditQuery(limit=100))["entries"]
    return [e["action"] for e in found if e["target_id"] == str(user_id)]


def test_adding_a_new_email_creates_a_user_and_an_existing_one_gets_a_role(tx, query, db):
    ws, other = new_workspace(db).workspace_id, new_workspace(db).workspace_id
    admin = _user(tx, ws, "admin")
    email = _email()
    assert tx(accounts.add_member, ws, email, HASH, "author", NOW, admin) is True
    account = query(accounts.by_email, email)
    assert account.password_hash == HASH
    assert query(accounts.role_in, account.id, ws) == "author"
    assert tx(accounts.add_member, other, email.upper(), OTHER_HASH, "viewer", NOW, admin) is False
    assert query(accounts.role_in, account.id, other) == "viewer"
    assert query(accounts.by_email, email).password_hash == HASH  # unchanged
    assert _actions(query, ws, account.id) == ["user.create"]
    assert _actions(query, other, account.id) == ["user.role"]


def test_revoking_ends_the_role_and_the_sessions_there_and_is_audited(tx, query, db):
    ws = new_workspace(db).workspace_id
    admin = _user(tx, ws, "admin")
    viewer = _user(tx, ws, "viewer")
    session = _session(tx, viewer)
    tx(accounts.revoke, ws, viewer, NOW + 1, admin)
    assert query(accounts.role_in, viewer, ws) is None
    assert query(sessions.find, session, NOW + 2) is None
    [entry] = [
        e
        for e in query(audit.browse, ws, audit.AuditQuery(action="user.revoke"))["entries"]
        if e["target_id"] == str(viewer)
    ]
    assert (entry["user_id"], entry["details"]) == (admin, {"before": "viewer"})
    with pytest.raises(ApiError) as again:
        tx(accounts.revoke, ws, viewer, NOW + 3, admin)
    assert again.value.status == 404


def test_the_last_admin_can_be_neither_removed_nor_demoted(tx, query, db):
    ws = new_workspace(db).workspace_id
    admin = _user(tx, ws, "admin")
    for change in (
        lambda: tx(accounts.revoke, ws, admin, NOW, admin),
        lambda: tx(accounts.set_role, ws, admin, "viewer", NOW, admin),
    ):
        with pytest.raises(ApiError) as refused:
            change()
        assert refused.value.status == 409 and "last admin" in refused.value.message
    assert query(accounts.role_in, admin, ws) == "admin"
    assert _actions(query, ws, admin) == ["user.create"]  # nothing recorded for refusals
    second = _user(tx, ws, "admin")
    tx(accounts.set_role, ws, admin, "viewer", NOW + 1, second)  # now there is another
    assert query(accounts.role_in, admin, ws) == "viewer"


def test_a_password_reset_ends_every_session_of_the_user(tx, query, db):
    ws = new_workspace(db).workspace_id
    admin = _user(tx, ws, "admin")
    author = _user(tx, ws, "author")
    first, second = _session(tx, author), _session(tx, author)
    kept = _session(tx, admin)
    tx(accounts.reset_password, ws, author, OTHER_HASH, NOW + 1, admin)
    assert query(accounts.password_hash_of, author) == OTHER_HASH
    assert query(sessions.find, first, NOW + 2) is None
    assert query(sessions.find, second, NOW + 2) is None
    assert query(sessions.find, kept, NOW + 2) is not None
    assert _actions(query, ws, author)[0] == "user.password_reset"
    stranger = _user(tx, new_workspace(db).workspace_id, "admin")
    with pytest.raises(ApiError) as refused:  # not a member of this workspace
        tx(accounts.reset_password, ws, stranger, OTHER_HASH, NOW, admin)
    assert refused.value.status == 404


def test_changing_ones_password_keeps_this_session_and_ends_the_others(tx, query, db):
    ws = new_workspace(db).workspace_id
    user = _user(tx, ws, "viewer")
    this, other = _session(tx, user), _session(tx, user)
    tx(accounts.change_password, user, HASH, OTHER_HASH, this, NOW + 1)
    assert query(accounts.password_hash_of, user) == OTHER_HASH
    assert query(sessions.find, this, NOW + 2) is not None
    assert query(sessions.find, other, NOW + 2) is None
    with pytest.raises(ApiError) as stale:  # checked against a hash no longer stored
        tx(accounts.change_password, user, HASH, HASH, this, NOW + 3)
    assert stale.value.status == 409
    assert query(accounts.password_hash_of, user) == OTHER_HASH
