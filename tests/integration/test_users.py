"""Users, roles, sessions, the login throttle and the audit log on a real database."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from tests.conftest import new_workspace
from tidings import audit
from tidings.db.schema import ui_sessions, user_roles
from tidings.errors import ApiError
from tidings.runtime import housekeeping
from tidings.users import accounts, sessions, throttle

NOW = 1_700_000_000
HASH = "scrypt$10$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


def _email() -> str:
    return f"u-{uuid.uuid4().hex[:10]}@Example.test"


def _user(tx, ws: int, role: str = "admin", email: str | None = None) -> tuple[int, str]:
    email = email or _email()
    return tx(accounts.create_user, email, HASH, ws, role, NOW), email.lower()


def _entries(query, ws: int | None, user_id: int | None = None):
    found = query(audit.entries, ws)
    return [e for e in found if user_id is None or e["target_id"] == str(user_id)]


def test_a_user_is_created_with_a_role_and_audited(tx, query, workspace):
    ws = workspace.workspace_id
    user_id, email = _user(tx, ws, "author")
    account = query(accounts.by_email, email.upper())
    assert account is not None and (account.id, account.email) == (user_id, email)
    assert query(accounts.role_in, user_id, ws) == "author"
    [entry] = _entries(query, ws, user_id)
    assert entry["action"] == "user.create" and entry["target_type"] == "user"
    assert entry["details"] == {"email": email, "role": "author"}
    assert entry["user_id"] is None  # made by the command line, not a signed-in user


def test_a_taken_email_is_a_409_and_writes_nothing(tx, query, workspace):
    ws = workspace.workspace_id
    _, email = _user(tx, ws)
    before = len(query(audit.entries, ws))
    with pytest.raises(ApiError) as refused:
        tx(accounts.create_user, email.upper(), HASH, ws, "viewer", NOW)
    assert refused.value.status == 409
    assert len(query(audit.entries, ws)) == before


@pytest.mark.parametrize(("email", "role"), [("no-at-sign", "admin"), ("a@b.test", "owner")])
def test_bad_emails_and_roles_are_400s(tx, workspace, email, role):
    with pytest.raises(ApiError) as refused:
        tx(accounts.create_user, email, HASH, workspace.workspace_id, role, NOW)
    assert refused.value.status == 400


def test_roles_are_per_workspace_and_changes_are_audited(tx, query, db, workspace):
    ws, other = workspace.workspace_id, new_workspace(db).workspace_id
    admin, _ = _user(tx, ws, "admin")
    user_id, email = _user(tx, ws, "viewer")
    assert query(accounts.role_in, user_id, other) is None
    tx(accounts.set_role, other, user_id, "author", NOW + 1, admin)
    tx(accounts.set_role, ws, user_id, "author", NOW + 2, admin)
    grants = query(accounts.grants_of, user_id)
    assert [(g.workspace_id, g.role) for g in grants] == [(ws, "author"), (other, "author")]
    [change, _] = _entries(query, ws, user_id)
    assert (change["action"], change["user_id"]) == ("user.role", admin)
    assert change["details"] == {"role": "author", "before": "viewer"}
    members = query(accounts.members_of, ws)
    assert {(m.email, m.role) for m in members} >= {(email, "author")}


def test_an_audited_change_that_rolls_back_leaves_no_entry(tx, query, workspace):
    ws = workspace.workspace_id
    user_id, _ = _user(tx, ws, "viewer")
    entry = audit.Entry("user.role", "user", str(user_id), ws, None, {"role": "owner"})
    with pytest.raises(ApiError):
        tx(audit.audited, entry, NOW, accounts.set_role, ws, user_id, "owner", NOW, None)
    assert len(_entries(query, ws, user_id)) == 1  # only the creation
    entry = audit.Entry("user.role", "user", audit.RESULT, ws, None, {})
    tx(audit.audited, entry, NOW, accounts.role_in, user_id, ws)
    assert _entries(query, ws)[0]["target_id"] == "viewer"  # the use case's result


def _log_in(tx, user_id, email, replaces=None, now=NOW):
    raw, csrf = sessions.new_secret(), sessions.new_secret()
    workspace_id = tx(sessions.log_in, user_id, email, sessions.hash_id(raw), csrf, now, replaces)
    return raw, csrf, workspace_id


def test_a_login_makes_a_session_found_by_its_hashed_id(tx, query, workspace):
    ws = workspace.workspace_id
    user_id, email = _user(tx, ws, "author")
    raw, csrf, opened = _log_in(tx, user_id, email)
    assert opened == ws
    found = query(sessions.find, sessions.hash_id(raw), NOW + 5)
    assert (found.user_id, found.email, found.workspace_id) == (user_id, email, ws)
    assert (found.role, found.csrf_token) == ("author", csrf)
    stored = query(lambda conn: conn.execute(select(ui_sessions.c.id_hash)).scalars().all())
    assert raw not in stored and sessions.hash_id(raw) in stored
    assert query(sessions.find, raw, NOW) is None  # the raw id is no key
    assert _entries(query, None, user_id)[0]["action"] == "user.login"


def test_sessions_expire_when_idle_and_in_all(tx, query, workspace):
    user_id, email = _user(tx, workspace.workspace_id)
    raw, _, _ = _log_in(tx, user_id, email)
    key = sessions.hash_id(raw)
    assert query(sessions.find, key, NOW + sessions.IDLE_SECONDS) is None
    t = NOW
    while t + sessions.IDLE_SECONDS // 2 < NOW + sessions.ABSOLUTE_SECONDS:
        t += sessions.IDLE_SECONDS // 2
        tx(sessions.touch, key, t)  # kept in use: the idle limit moves on
        assert query(sessions.find, key, t + 60) is not None
    assert query(sessions.find, key, NOW + sessions.ABSOLUTE_SECONDS) is None
    assert tx(housekeeping.prune, NOW + sessions.ABSOLUTE_SECONDS)["ui_sessions"] >= 1
    assert (
        query(
            lambda conn: conn.execute(
                select(ui_sessions).where(ui_sessions.c.id_hash == key)
            ).first()
        )
        is None
    )


def test_a_login_replaces_the_browsers_old_session(tx, query, workspace):
    user_id, email = _user(tx, workspace.workspace_id)
    first, _, _ = _log_in(tx, user_id, email)
    second, _, _ = _log_in(tx, user_id, email, replaces=sessions.hash_id(first))
    assert second != first
    assert query(sessions.find, sessions.hash_id(first), NOW) is None
    assert query(sessions.find, sessions.hash_id(second), NOW) is not None


def test_logout_deletes_the_session_and_is_audited(tx, query, workspace):
    user_id, email = _user(tx, workspace.workspace_id)
    raw, _, _ = _log_in(tx, user_id, email)
    tx(sessions.log_out, sessions.hash_id(raw), user_id, NOW + 10)
    assert query(sessions.find, sessions.hash_id(raw), NOW + 10) is None
    assert _entries(query, None, user_id)[0]["action"] == "user.logout"


def test_a_user_without_a_role_anywhere_cannot_log_in(tx, query, workspace):
    user_id, email = _user(tx, workspace.workspace_id)
    tx(lambda conn: conn.execute(user_roles.delete().where(user_roles.c.user_id == user_id)))
    with pytest.raises(ApiError) as refused:
        _log_in(tx, user_id, email)
    assert refused.value.status == 403


def test_switching_to_a_workspace_needs_a_role_there(tx, query, db, workspace):
    ws, other = workspace.workspace_id, new_workspace(db).workspace_id
    user_id, email = _user(tx, ws, "viewer")
    raw, _, _ = _log_in(tx, user_id, email)
    key = sessions.hash_id(raw)
    with pytest.raises(ApiError) as refused:
        tx(sessions.switch_workspace, key, user_id, other, NOW)
    assert refused.value.status == 403
    assert query(sessions.find, key, NOW).workspace_id == ws
    tx(accounts.set_role, other, user_id, "admin", NOW, None)
    tx(sessions.switch_workspace, key, user_id, other, NOW)
    session, grants = query(sessions.signed_in, key, NOW)
    assert (session.workspace_id, session.role) == (other, "admin")
    assert [g.workspace_id for g in grants] == [ws, other]


def test_the_throttle_counts_failures_per_email_and_per_address(tx, query):
    email, address = _email(), f"198.51.100.{uuid.uuid4().int % 250}"
    for i in range(throttle.MAX_PER_EMAIL - 1):
        tx(throttle.record_failure, email, address, NOW + i)
    assert query(throttle.retry_after, email, address, NOW + 10) is None
    tx(throttle.record_failure, email, address, NOW + 10)
    wait = query(throttle.retry_after, email, address, NOW + 10)
    assert wait == throttle.WINDOW - 10  # until the oldest failure leaves the window
    assert query(throttle.retry_after, email, "203.0.113.9", NOW + 10) is not None
    assert query(throttle.retry_after, _email(), address, NOW + 10) is None  # address: 5 of 20
    assert query(throttle.retry_after, email, address, NOW + throttle.WINDOW + 11) is None
    tx(throttle.clear, throttle.email_key(email))
    assert query(throttle.failures, throttle.email_key(email), NOW + 10) == 0
    assert query(throttle.failures, throttle.address_key(address), NOW + 10) == 5
    assert tx(housekeeping.prune, NOW + 10 + throttle.WINDOW)["login_failures"] >= 5
    assert query(throttle.failures, throttle.address_key(address), NOW) == 0


def test_many_emails_from_one_address_are_throttled_too(tx, query):
    address = f"192.0.2.{uuid.uuid4().int % 250}-{uuid.uuid4().hex[:6]}"
    for i in range(throttle.MAX_PER_ADDRESS):
        tx(throttle.record_failure, _email(), address, NOW + i)
    assert query(throttle.retry_after, _email(), address, NOW + 30) is not None


def test_a_login_clears_its_emails_failures(tx, query, workspace):
    user_id, email = _user(tx, workspace.workspace_id)
    tx(throttle.record_failure, email, "192.0.2.1", NOW)
    _log_in(tx, user_id, email, now=NOW + 1)
    assert query(throttle.failures, throttle.email_key(email), NOW + 1) == 0
    failed = [e for e in query(audit.entries, None) if e["action"] == "user.login_failed"]
    assert any(e["details"] == {"email": email, "address": "192.0.2.1"} for e in failed)


def test_a_login_with_an_older_hash_stores_the_fresh_one_in_its_transaction(tx, query, workspace):
    user_id, email = _user(tx, workspace.workspace_id)  # HASH: log2 N = 10, p = 1
    fresh = "scrypt$15$8$3$BBBBBBBBBBBBBBBBBBBBBB$BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
    raw, csrf = sessions.new_secret(), sessions.new_secret()
    tx(sessions.log_in, user_id, email, sessions.hash_id(raw), csrf, NOW, None, (HASH, fresh))
    assert query(accounts.password_hash_of, user_id) == fresh
    assert query(sessions.find, sessions.hash_id(raw), NOW) is not None
    assert _entries(query, None, user_id)[0]["details"] == {"rehashed": True}


def test_a_rehash_loses_to_a_password_changed_since_the_check(tx, query, workspace):
    user_id, email = _user(tx, workspace.workspace_id)
    changed = "scrypt$15$8$3$CCCCCCCCCCCCCCCCCCCCCC$CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC"
    tx(accounts.reset_password, workspace.workspace_id, user_id, changed, NOW, None)
    fresh = "scrypt$15$8$3$BBBBBBBBBBBBBBBBBBBBBB$BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
    raw, csrf = sessions.new_secret(), sessions.new_secret()
    tx(sessions.log_in, user_id, email, sessions.hash_id(raw), csrf, NOW, None, (HASH, fresh))
    assert query(accounts.password_hash_of, user_id) == changed
    assert _entries(query, None, user_id)[0]["details"] == {}
