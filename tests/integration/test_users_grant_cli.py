"""`tidings user grant` and `tidings user revoke`: an existing user's role in another
workspace from the command line, audited; the last admin is kept."""

from __future__ import annotations

import json
import subprocess
import uuid

from tests.conftest import new_workspace
from tests.support import CLI
from tidings import audit
from tidings.users import accounts

HASH = "scrypt$10$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


def user_cli(database_url: str, command: str, *args: str):
    return subprocess.run(
        [*CLI, "user", command, "--database-url", database_url, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_grant_gives_an_existing_user_a_role_and_revoke_takes_it(database_url, db, tx, query):
    home, other = new_workspace(db).workspace_id, new_workspace(db).workspace_id
    email = f"grant-{uuid.uuid4().hex[:8]}@example.test"
    user_id = tx(accounts.create_user, email, HASH, home, "viewer", 1)
    tx(accounts.create_user, f"adm-{uuid.uuid4().hex[:8]}@example.test", HASH, other, "admin", 1)
    ws = ["--workspace-id", str(other)]
    done = user_cli(database_url, "grant", *ws, "--email", email.upper(), "--role", "author")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "user_id": user_id,
        "email": email,
        "workspace_id": other,
        "role": "author",
    }
    assert query(accounts.role_in, user_id, other) == "author"
    assert query(accounts.role_in, user_id, home) == "viewer"
    done = user_cli(database_url, "revoke", *ws, "--email", email)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["role"] is None
    assert query(accounts.role_in, user_id, other) is None
    entries = query(audit.browse, other, audit.AuditQuery(limit=10))["entries"]
    mine = [(e["action"], e["user_id"]) for e in entries if e["target_id"] == str(user_id)]
    assert mine == [("user.revoke", None), ("user.role", None)]  # the command line acted


def test_refusals_say_why(database_url, db, tx, query):
    ws = new_workspace(db).workspace_id
    admin_email = f"last-{uuid.uuid4().hex[:8]}@example.test"
    admin = tx(accounts.create_user, admin_email, HASH, ws, "admin", 1)
    flags = ["--workspace-id", str(ws)]
    unknown = user_cli(
        database_url, "grant", *flags, "--email", "nobody@example.test", "--role", "viewer"
    )
    assert unknown.returncode != 0 and "no user has the email" in unknown.stderr
    last = user_cli(database_url, "revoke", *flags, "--email", admin_email)
    assert last.returncode != 0 and "last admin" in last.stderr
    assert query(accounts.role_in, admin, ws) == "admin"
