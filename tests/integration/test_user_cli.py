"""`tidings user create`: a generated password printed once, or one read from stdin;
stored only as a scrypt hash, with the role in the workspace named."""

from __future__ import annotations

import json
import subprocess
import uuid

from tests.support import CLI
from tidings import audit
from tidings.users import accounts, passwords


def create(database_url: str, *args: str, stdin: str | None = None):
    return subprocess.run(
        [*CLI, "user", "create", "--database-url", database_url, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _email() -> str:
    return f"cli-{uuid.uuid4().hex[:8]}@Example.test"


def test_a_generated_password_is_printed_once_and_stored_hashed(database_url, workspace, query):
    ws = str(workspace.workspace_id)
    email = _email()
    done = create(database_url, "--workspace-id", ws, "--email", email, "--role", "admin")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["email"] == email.lower() and shown["role"] == "admin"
    assert len(shown["password"]) >= 20
    account = query(accounts.by_email, email)
    assert account.password_hash.startswith("scrypt$")
    assert shown["password"] not in account.password_hash
    assert passwords.verify_password(shown["password"], account.password_hash)
    assert query(accounts.role_in, account.id, workspace.workspace_id) == "admin"
    [entry] = [
        e for e in query(audit.entries, workspace.workspace_id) if e["action"] == "user.create"
    ]
    assert entry["target_id"] == str(account.id)


def test_a_password_from_stdin_is_used_and_not_printed(database_url, workspace, query):
    email = _email()
    args = ["--workspace-id", str(workspace.workspace_id), "--email", email, "--role", "viewer"]
    done = create(database_url, *args, "--password-stdin", stdin="a long passphrase here\n")
    assert done.returncode == 0, done.stderr
    assert "password" not in json.loads(done.stdout)
    account = query(accounts.by_email, email)
    assert passwords.verify_password("a long passphrase here", account.password_hash)


def test_refusals_say_why_and_create_nobody(database_url, workspace, query):
    ws = ["--workspace-id", str(workspace.workspace_id)]
    email = _email()
    short = create(
        database_url, *ws, "--email", email, "--role", "viewer", "--password-stdin", stdin="short\n"
    )
    assert short.returncode != 0 and "at least 12" in short.stderr
    assert query(accounts.by_email, email) is None
    bad_role = create(database_url, *ws, "--email", email, "--role", "owner")
    assert bad_role.returncode != 0 and "owner" in bad_role.stderr
    first = create(database_url, *ws, "--email", email, "--role", "viewer")
    again = create(database_url, *ws, "--email", email.upper(), "--role", "admin")
    assert first.returncode == 0 and again.returncode != 0 and "exists already" in again.stderr
    several = create(database_url, "--email", _email(), "--role", "viewer")
    assert several.returncode != 0 and "--workspace-id" in several.stderr
    missing = create(
        database_url, "--workspace-id", "999999", "--email", _email(), "--role", "viewer"
    )
    assert missing.returncode != 0 and "no workspace 999999" in missing.stderr
