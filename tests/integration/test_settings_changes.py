"""The use cases the Settings page changes a workspace with, on a real database: a
channel's provider created, edited with its secrets kept unless given, refused without
a write when its config does not check, and removed; a sender identity renamed and
readdressed; a workspace created with its creator as admin, audited."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import new_workspace
from tidings import audit
from tidings.errors import ApiError
from tidings.templates import senders
from tidings.ui.settings_changes import found_workspace
from tidings.users import accounts
from tidings.workspaces import channel_providers, resources, service

NOW = 1_700_000_000
HASH = "scrypt$10$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
SMTP = {"host": "smtp.example.test", "port": 587, "username": "me", "password": "s3cret-pw"}


def test_a_provider_is_created_once_per_channel(tx, query, db):
    ws = new_workspace(db).workspace_id
    tx(channel_providers.create, ws, "email", "smtp", SMTP, NOW)
    assert query(channel_providers.stored, ws, "email") == ("smtp", SMTP)
    with pytest.raises(ApiError) as taken:
        tx(channel_providers.create, ws, "email", "capture", {}, NOW)
    assert taken.value.status == 409
    assert query(channel_providers.stored, ws, "email") == ("smtp", SMTP)
    assert query(resources.snapshot, ws).providers == {"email": ("smtp", SMTP)}  # apply sees it


def test_an_edit_keeps_the_secrets_it_does_not_give(tx, query, db):
    ws = new_workspace(db).workspace_id
    tx(channel_providers.create, ws, "email", "smtp", SMTP, NOW)
    shown = {"host": "mail.example.test", "port": 2525, "username": "me"}
    changed = tx(channel_providers.change, ws, "email", "smtp", shown, {}, NOW + 1)
    assert changed == ["host", "port"]
    assert query(channel_providers.stored, ws, "email") == (
        "smtp",
        {**shown, "password": "s3cret-pw"},
    )
    tx(channel_providers.change, ws, "email", "smtp", shown, {"password": "n3w-pw"}, NOW + 2)
    assert query(channel_providers.stored, ws, "email")[1]["password"] == "n3w-pw"
    without = {"host": "mail.example.test"}
    secrets = {"password": None}
    tx(channel_providers.change, ws, "email", "smtp", without, secrets, NOW + 3)
    assert query(channel_providers.stored, ws, "email") == ("smtp", without)


def test_a_refused_edit_writes_nothing(tx, query, db):
    ws = new_workspace(db).workspace_id
    tx(channel_providers.create, ws, "email", "smtp", SMTP, NOW)
    with pytest.raises(ApiError) as wrong:  # username without its password
        shown = {"host": "h", "username": "me"}
        tx(channel_providers.change, ws, "email", "smtp", shown, {"password": None}, NOW)
    assert wrong.value.status == 400 and "username and password" in wrong.value.message
    with pytest.raises(ApiError) as secret_shown:
        tx(channel_providers.change, ws, "email", "smtp", {**SMTP}, {}, NOW)
    assert "password" in secret_shown.value.message
    with pytest.raises(ApiError) as wrong_kind:
        tx(channel_providers.change, ws, "email", "twilio", {}, {}, NOW)
    assert wrong_kind.value.field == "kind"
    assert query(channel_providers.stored, ws, "email") == ("smtp", SMTP)


def test_a_new_kind_starts_without_the_old_secrets_and_a_provider_is_removed(tx, query, db):
    ws, other = new_workspace(db).workspace_id, new_workspace(db).workspace_id
    tx(channel_providers.create, ws, "email", "smtp", SMTP, NOW)
    tx(channel_providers.create, other, "email", "smtp", SMTP, NOW)
    assert tx(channel_providers.change, ws, "email", "capture", {}, {}, NOW)[0] == "kind"
    assert query(channel_providers.stored, ws, "email") == ("capture", {})
    tx(channel_providers.remove, ws, "email")
    assert query(channel_providers.stored, ws, "email") is None
    with pytest.raises(ApiError) as gone:
        tx(channel_providers.remove, ws, "email")
    assert gone.value.status == 404
    assert query(channel_providers.stored, other, "email") == ("smtp", SMTP)  # untouched


def test_a_sender_identity_changes_name_and_address_but_not_to_a_taken_one(tx, query, db):
    ws = new_workspace(db).workspace_id
    first = tx(senders.create, ws, "Acme", "hello@acme.test", NOW)
    tx(senders.create, ws, "Other", "other@acme.test", NOW)
    changed = tx(senders.change, ws, first["id"], "Acme Ltd", "news@acme.test", NOW + 5)
    assert (changed["name"], changed["email"], changed["updated_at"]) == (
        "Acme Ltd",
        "news@acme.test",
        NOW + 5,
    )
    assert query(senders.sender_identity_for, ws, "news@acme.test")["id"] == first["id"]
    assert query(senders.sender_identity_for, ws, "hello@acme.test") is None
    with pytest.raises(ApiError) as taken:
        tx(senders.change, ws, first["id"], "Acme", "other@acme.test", NOW + 6)
    assert taken.value.status == 409
    assert query(senders.get, ws, first["id"])["email"] == "news@acme.test"
    with pytest.raises(ApiError) as missing:
        tx(senders.change, new_workspace(db).workspace_id, first["id"], "x", "x@acme.test", NOW)
    assert missing.value.status == 404


def test_a_new_workspace_has_its_creator_as_admin_and_its_keys_work(tx, query, db):
    ws = new_workspace(db).workspace_id
    user = tx(
        accounts.create_user, f"a-{uuid.uuid4().hex[:8]}@example.test", HASH, ws, "admin", NOW
    )
    created = tx(found_workspace, "  Second shop ", user, NOW)
    new_id = created["workspace_id"]
    assert created["name"] == "Second shop"
    assert query(accounts.role_in, user, new_id) == "admin"
    assert query(service.by_app_key, created["app_api_key"]).id == new_id
    entries = query(audit.browse, new_id, audit.AuditQuery(limit=10))["entries"]
    assert {e["action"] for e in entries} == {"workspace.create", "user.role"}
    assert all(e["user_id"] == user for e in entries)
    with pytest.raises(ApiError) as blank:
        tx(found_workspace, "   ", user, NOW)
    assert blank.value.field == "name"
