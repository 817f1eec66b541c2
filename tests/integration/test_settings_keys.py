"""Rotating a key from the Settings page: the old key is refused by the very next
request, even though the server had just cached it; viewers are refused. And
lifting a suppression: an author's change, audited.

The app runs in this process and is driven over HTTP (`httpx.ASGITransport`):
a request with the old key first warms the server's key cache, then an admin's
form POST rotates the key, then the old key gets a 401 at once and the new
one, shown once on the answered page, works.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest

from tests.conftest import new_workspace
from tests.support import run_cli
from tidings import audit
from tidings.app import create_app
from tidings.config import Settings
from tidings.db.engine import Database
from tidings.people import service as people
from tidings.people.identifiers import Identifier
from tidings.sending import suppressions_view
from tidings.ui import security
from tidings.users import accounts, sessions
from tidings.workspaces.service import Credentials

Login = Callable[[str], dict[str, str]]  # a role -> a session of a new user of that role
Scenario = Callable[[httpx.AsyncClient, Credentials, Login], Awaitable[None]]
NEW_KEY = re.compile(r'<code id="new-key">([^<]+)</code>')


def signed_in(db: Database, workspace_id: int, role: str) -> tuple[str, str]:
    """A user of `role` and a live session of theirs: (session cookie value, CSRF token)."""
    secret, csrf = sessions.new_secret(), sessions.new_secret()
    now = int(time.time())
    with db.writer.begin() as conn:
        email = f"{role}-{secret[:8].lower()}@example.test"
        user_id = accounts.create_user(conn, email, "unused", workspace_id, role, now)
        sessions.log_in(conn, user_id, email, sessions.hash_id(secret), csrf, now)
    return secret, csrf


@pytest.fixture
def run(database_url: str, db: Database) -> Callable[[Scenario], None]:
    def run_scenario(scenario: Scenario) -> None:
        creds = new_workspace(db, "keys")
        app = create_app(Settings(database_url=database_url, background_workers=False))

        def as_role(role: str) -> dict[str, str]:
            secret, csrf = signed_in(db, creds.workspace_id, role)
            return {"cookie": f"{security.COOKIE}={secret}", "csrf": csrf}

        async def main() -> None:
            app.writer.start()  # type: ignore[union-attr]  # in this process: a Writer
            transport = httpx.ASGITransport(app=app)
            try:
                async with httpx.AsyncClient(transport=transport, base_url="http://t.test") as c:
                    await scenario(c, creds, as_role)
            finally:
                await asyncio.get_running_loop().run_in_executor(None, app.close)

        asyncio.run(main())

    return run_scenario


FINGERPRINT = re.compile(
    r'action="/settings/keys/(\w+)/rotate".*?name="fingerprint" value="(\w*)"', re.S
)


async def rotate(
    client: httpx.AsyncClient, who: dict[str, str], kind: str, fingerprint: str | None = None
) -> httpx.Response:
    """Send the rotation form of `kind` as the Settings page showed it to an admin (or with
    this `fingerprint`)."""
    if fingerprint is None:
        page = await client.get("/settings", headers={"cookie": who["cookie"]})
        fingerprint = dict(FINGERPRINT.findall(page.text)).get(kind, "")
    return await client.post(
        f"/settings/keys/{kind}/rotate",
        data={"csrf_token": who["csrf"], "fingerprint": fingerprint},
        headers={"cookie": who["cookie"], "origin": "http://t.test"},
    )


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def segments(client: httpx.AsyncClient, app_key: str) -> httpx.Response:
    """An App API read with this key."""
    return await client.get("/v1/segments", headers=bearer(app_key))


def test_a_rotated_app_key_is_refused_at_once_and_the_new_one_works(run, query):
    async def scenario(client, creds, as_role):
        assert (await segments(client, creds.app_api_key)).status_code == 200
        answer = await rotate(client, as_role("admin"), "app")
        assert answer.status_code == 200, answer.text
        new_key = html.unescape(NEW_KEY.findall(answer.text)[0])
        assert new_key != creds.app_api_key
        old = await client.get("/v1/segments", headers=bearer(creds.app_api_key))
        assert old.status_code == 401  # cached a moment ago, refused now
        assert (await client.get("/v1/segments", headers=bearer(new_key))).status_code == 200
        logged = query(audit.entries, creds.workspace_id)
        assert [(e["action"], e["details"]) for e in logged[:1]] == [
            ("workspace.rotate_keys", {"kinds": ["app"]})
        ]

    run(scenario)


def test_a_rotated_track_key_is_refused_at_once_and_the_other_keys_still_work(run):
    async def scenario(client, creds, as_role):
        identify = {"email": "k@x.test"}
        old_auth = (creds.site_id, creds.track_api_key)
        assert (await client.put("/api/v1/customers/k1", json=identify, auth=old_auth)).is_success
        answer = await rotate(client, as_role("admin"), "track")
        new_key = html.unescape(NEW_KEY.findall(answer.text)[0])
        refused = await client.put("/api/v1/customers/k1", json=identify, auth=old_auth)
        assert refused.status_code == 401
        again = await client.put(
            "/api/v1/customers/k1", json=identify, auth=(creds.site_id, new_key)
        )
        assert again.is_success
        app_key = await client.get("/v1/segments", headers=bearer(creds.app_api_key))
        assert app_key.status_code == 200  # only the Track API key was replaced

    run(scenario)


@pytest.mark.parametrize("role", ["viewer", "author"])
def test_only_admins_may_rotate_and_see_that_keys_exist(run, role):
    async def scenario(client, creds, as_role):
        who = as_role(role)
        assert (await rotate(client, who, "app")).status_code == 403
        assert (await segments(client, creds.app_api_key)).status_code == 200
        page = await client.get("/settings", headers={"cookie": who["cookie"]})
        assert page.status_code == 200
        assert creds.site_id in page.text
        assert "API keys" not in page.text and "/rotate" not in page.text

    run(scenario)


def test_a_rotation_without_the_form_token_is_refused_and_changes_nothing(run):
    async def scenario(client, creds, as_role):
        who = {**as_role("admin"), "csrf": "forged"}
        assert (await rotate(client, who, "cdp")).status_code == 403
        answer = await client.post(
            "/v1/identify",
            json={"userId": "u1", "traits": {"plan": "pro"}},
            auth=(creds.cdp_write_key, ""),
        )
        assert answer.status_code == 200, answer.text  # the write key still works

    run(scenario)


def test_lifting_a_suppression_is_an_authors_change_audited_and_refused_to_viewers(run, tx, query):
    async def scenario(client, creds, as_role):
        ws = creds.workspace_id
        tx(people.suppress, ws, Identifier("email", "gone@x.test"), int(time.time()))
        form = {"kind": "email", "value": "gone@x.test"}

        async def lift(who: dict[str, str]) -> httpx.Response:
            return await client.post(
                "/suppressions/remove",
                data={**form, "csrf_token": who["csrf"]},
                headers={"cookie": who["cookie"]},
            )

        assert (await lift(as_role("viewer"))).status_code == 403
        assert [r["value"] for r in query(suppressions_view.suppressed, ws)["rows"]] == [
            "gone@x.test"
        ]
        assert (await lift(as_role("author"))).status_code == 303
        assert query(suppressions_view.suppressed, ws)["rows"] == []
        [entry] = [e for e in query(audit.entries, ws) if e["action"] == "suppression.remove"]
        assert (entry["target_id"], entry["details"]) == ("email:gone@x.test", form)
        assert (await lift(as_role("author"))).status_code == 404  # nothing left to lift

    run(scenario)


def test_a_rotation_form_sent_twice_rotates_the_key_once(run, query):
    async def scenario(client, creds, as_role):
        admin = as_role("admin")
        page = await client.get("/settings", headers={"cookie": admin["cookie"]})
        fingerprint = dict(FINGERPRINT.findall(page.text))["app"]
        first = await rotate(client, admin, "app", fingerprint)
        new_key = html.unescape(NEW_KEY.findall(first.text)[0])
        again = await rotate(client, admin, "app", fingerprint)  # a reload of the answer
        assert again.status_code == 409
        assert "rotated already" in again.text and not NEW_KEY.findall(again.text)
        assert (await segments(client, new_key)).status_code == 200  # still the key
        rotations = [e for e in query(audit.entries, creds.workspace_id) if "rotate" in e["action"]]
        assert len(rotations) == 1

    run(scenario)


def test_a_rotation_from_the_command_line_is_audited_by_no_user(database_url, db, query):
    creds = new_workspace(db, "cli keys")
    store = ["--database-url", database_url, "--workspace-id", str(creds.workspace_id)]
    rotated = json.loads(run_cli("workspace", "rotate-keys", *store, "--kind", "track"))
    assert set(rotated) == {"workspace_id", "track_api_key"}
    [entry] = query(audit.entries, creds.workspace_id)
    assert (entry["action"], entry["user_id"], entry["details"]) == (
        "workspace.rotate_keys",
        None,
        {"kinds": ["track"]},
    )
