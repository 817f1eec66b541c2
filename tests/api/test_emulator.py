"""`tidings emulate` through its pytest plugin, as a test suite uses it: the official
Python clients reach it over https, the outbox shows what would have gone out, the
clock runs delays and scheduled sends in order, a drain leaves nothing due, and a
reset forgets one test's data.

The plugin (`tidings.pytest_plugin`, registered as `pytest11`) gives the `tidings`
fixture; these tests use nothing else of the suite's.
"""

from __future__ import annotations

import os
import ssl
import time
from pathlib import Path

import httpx
import pytest
from customerio import SendEmailRequest

from tests.webhook_receiver import receive
from tidings.pytest_plugin import Emulator, EmulatorError, start

DAY = 86400
SLACK = 5  # seconds of real time a step may take on a loaded machine


@pytest.fixture
def fresh(tidings: Emulator) -> Emulator:
    """The emulator with nothing set up either: each test here makes its own templates,
    senders and campaigns (a workspace with sender identities refuses other senders)."""
    tidings.reset(everything=True)
    return tidings


def app(emulator: Emulator, method: str, path: str, **kwargs) -> httpx.Response:
    headers = {"Authorization": f"Bearer {emulator.app_api_key}"}
    return httpx.request(method, emulator.url + path, headers=headers, timeout=30, **kwargs)


def subjects(emulator: Emulator, **filters) -> list[str]:
    return [message["subject"] for message in emulator.outbox(**filters)]


def template(emulator: Emulator, subject: str) -> int:
    """A transactional email; its sender is an identity of the workspace, as templates' are."""
    app(emulator, "POST", "/v1/sender_identities", json={"email": "Shop <shop@example.test>"})
    fields = {"from": "shop@example.test", "subject": subject, "body": "<p>1</p>"}
    body = {"name": subject, "channel": "email", "contents": {"": fields}}
    made = app(emulator, "POST", "/v1/transactional", json=body)
    assert made.status_code == 200, made.text
    return int(made.json()["message"]["id"])


def identify(emulator: Emulator, who: str, **attributes) -> None:
    with emulator.track_client() as track:  # the official Track client, https only
        track.identify(who, **attributes)


def test_the_official_clients_reach_it_and_the_outbox_shows_the_message(tidings):
    assert os.environ["TIDINGS_APP_API_KEY"] == tidings.app_api_key
    assert (
        Path(os.environ["REQUESTS_CA_BUNDLE"])
        .read_bytes()
        .endswith(Path(tidings.ca_file).read_bytes())
    )
    identify(tidings, "ada", email="ada@example.test", first_name="Ada")
    request = SendEmailRequest(
        identifiers={"id": "ada"},
        to="ada@example.test",
        _from="team@example.test",
        subject="Hi {{ customer.first_name }}",
        body="<p>Welcome, {{ customer.first_name }}</p>",
    )
    with tidings.api_client() as client:  # the official App API client
        sent = client.send_email(request)
    tidings.drain()

    [message] = tidings.outbox(recipient="ada@example.test")
    assert message["delivery_id"] == sent["delivery_id"]
    assert message["subject"] == "Hi Ada"
    assert "Welcome, Ada" in message["message"]["html"]
    assert tidings.outbox(channel="sms") == []
    assert tidings.clear_outbox(channel="email") == 1
    assert tidings.outbox() == []


def test_filters_by_template_and_campaign(fresh):
    made = template(fresh, "Receipt")
    identify(fresh, "bo", email="bo@example.test")
    with fresh.api_client() as client:
        send_both(client, made)
    fresh.drain()
    assert subjects(fresh, template=made) == ["Receipt"]
    assert subjects(fresh) == ["Receipt", "Inline"]  # in the order they were sent
    assert subjects(fresh, campaign=made + 1000) == []
    bad = app(fresh, "GET", "/_emulator/outbox", params={"template": "receipt"})
    assert bad.status_code == 400 and "template" in bad.text


def send_both(client, made: int) -> None:
    client.send_email(
        SendEmailRequest(
            transactional_message_id=made, identifiers={"id": "bo"}, to="bo@example.test"
        )
    )
    client.send_email(
        SendEmailRequest(
            identifiers={"id": "bo"},
            to="bo@example.test",
            _from="shop@example.test",
            subject="Inline",
            body="<p>x</p>",
        )
    )


def test_the_clock_runs_delays_in_order(fresh):
    def email(subject: str) -> dict:
        return {"email": {"from": "team@example.test", "subject": subject, "body": "<p>.</p>"}}

    campaign = {
        "name": "Onboarding",
        "state": "running",
        "trigger": {"event": {"name": "signed_up"}},
        "workflow": [
            email("first"),
            {"delay": {"days": 1}},
            email("second"),
            {"delay": {"days": 1}},
            email("third"),
        ],
    }
    made = app(fresh, "POST", "/v1/campaigns", json=campaign)
    assert made.status_code == 200, made.text
    campaign_id = made.json()["campaign"]["id"]
    identify(fresh, "cy", email="cy@example.test")
    with fresh.track_client() as track:
        track.track("cy", "signed_up")
    fresh.drain()
    assert subjects(fresh) == ["first"]

    # The clock also goes on with real time, so a second may pass between two calls.
    before = fresh.now()
    assert 0 <= fresh.advance(hours=36) - (before + 36 * 3600) <= SLACK
    assert subjects(fresh) == ["first", "second"]
    assert 0 <= fresh.advance(days=2) - (before + 36 * 3600 + 2 * DAY) <= 2 * SLACK
    sent = fresh.outbox(campaign=campaign_id)
    assert [m["subject"] for m in sent] == ["first", "second", "third"]
    # Each delay ran from the end of the one before, not from the move of the clock.
    for earlier, later in zip(sent, sent[1:], strict=False):
        assert 0 <= later["created_at"] - earlier["created_at"] - DAY <= SLACK


def test_a_scheduled_send_waits_for_the_clock(fresh):
    identify(fresh, "di", email="di@example.test")
    at = fresh.now() + 3600
    request = SendEmailRequest(
        identifiers={"id": "di"},
        to="di@example.test",
        _from="a@example.test",
        subject="Later",
        body="<p>.</p>",
        send_at=at,
    )
    with fresh.api_client() as client:
        client.send_email(request)
    fresh.drain()
    assert fresh.outbox() == []
    fresh.set_clock(at)
    assert subjects(fresh) == ["Later"]


def test_reset_forgets_the_data_and_keeps_the_set_up_unless_asked(fresh):
    made = template(fresh, "Kept")
    identify(fresh, "ed", email="ed@example.test")
    with fresh.api_client() as client:
        client.send_email(
            SendEmailRequest(
                transactional_message_id=made, identifiers={"id": "ed"}, to="ed@example.test"
            )
        )
    fresh.drain()
    assert app(fresh, "GET", "/v1/customers/ed/attributes").status_code == 200

    fresh.reset()
    assert app(fresh, "GET", "/v1/customers/ed/attributes").status_code == 404
    assert fresh.outbox() == []
    assert app(fresh, "GET", f"/v1/transactional/{made}").status_code == 200
    identify(fresh, "ed", email="ed@example.test")  # ids start again: the same in each test
    fresh.reset(everything=True)
    assert app(fresh, "GET", f"/v1/transactional/{made}").status_code == 404


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/_emulator/clock", {"advance": 1, "set": 2}, "advance"),
        ("/_emulator/clock", {}, "advance"),
        ("/_emulator/clock", {"advance": -5}, "advance"),
        ("/_emulator/clock", {"set": 1_000_000_000}, "set"),  # before now
        ("/_emulator/clock", {"set": "tomorrow"}, "set"),
        ("/_emulator/drain", {"timeout": 0}, "timeout"),
        ("/_emulator/reset", {"everything": "yes"}, "everything"),
    ],
)
def test_bad_control_calls_are_refused(tidings, path, body, field):
    answer = app(tidings, "POST", path, json=body)
    assert answer.status_code == 400, answer.text
    assert field in answer.text


def test_the_control_api_needs_the_app_key(tidings):
    assert httpx.post(tidings.url + "/_emulator/reset").status_code == 401
    stranger = Emulator({**tidings.info, "app_api_key": "wrong"})
    with pytest.raises(EmulatorError):
        stranger.drain()
    stranger.close()


def test_keys_and_a_workspace_file_are_taken_and_the_store_goes_with_it(tmp_path):
    spec = tmp_path / "workspace.yaml"
    spec.write_text(
        "transactional_messages:\n"
        "  - name: Welcome\n"
        "    from: team@example.test\n"
        "    subject: Welcome\n"
        "    body: <p>hi</p>\n"
    )
    emulator = start("--site-id", "site-1", "--app-api-key", "app-1", "--apply", str(spec))
    try:
        assert (emulator.site_id, emulator.app_api_key) == ("site-1", "app-1")
        listed = app(emulator, "GET", "/v1/transactional").json()
        assert [m["name"] for m in listed["messages"]] == ["Welcome"]
        context = ssl.create_default_context(cafile=emulator.ca_file)
        assert httpx.get(emulator.https_url + "/healthz", verify=context).status_code == 200
        folder = Path(emulator.ca_file).parent
    finally:
        emulator.stop()
    assert not folder.exists()


def test_the_control_api_is_not_served_by_tidings_serve(api):
    assert api.app("POST", "/_emulator/reset").status_code == 404
    assert api.app("GET", "/_emulator/outbox").status_code == 404


def test_a_drain_waits_for_reporting_webhooks_to_local_servers(fresh):
    with receive() as hook:
        body = {"name": "local", "endpoint": hook.url, "events": ["email_sent"]}
        made = app(fresh, "POST", "/v1/reporting_webhooks", json=body)
        assert made.status_code == 200, made.text
        identify(fresh, "fa", email="fa@example.test")
        request = SendEmailRequest(
            identifiers={"id": "fa"},
            to="fa@example.test",
            _from="team@example.test",
            subject="Hooked",
            body="<p>.</p>",
        )
        with fresh.api_client() as client:
            sent = client.send_email(request)
        fresh.drain()  # the send, its `sent` metric, and the post of that metric
        [post] = hook.posts
    assert post.json()["metric"] == "sent"
    assert post.json()["data"]["delivery_id"] == sent["delivery_id"]


def test_a_time_window_opens_as_the_clock_reaches_it(fresh):
    now = fresh.now()
    opens = now - now % 3600 + 2 * 3600  # the hour after next: the window is shut now
    start = time.strftime("%H:%M", time.gmtime(opens))
    end = time.strftime("%H:%M", time.gmtime(opens + 1800))
    campaign = {
        "name": "Office hours",
        "state": "running",
        "trigger": {"event": {"name": "asked"}},
        "workflow": [
            {"time_window": {"start": start, "end": end, "timezone": "UTC"}},
            {"email": {"from": "team@example.test", "subject": "Answer", "body": "<p>.</p>"}},
        ],
    }
    assert app(fresh, "POST", "/v1/campaigns", json=campaign).status_code == 200
    identify(fresh, "gu", email="gu@example.test")
    with fresh.track_client() as track:
        track.track("gu", "asked")
    fresh.drain()
    assert fresh.outbox() == []
    fresh.advance(hours=3)
    [answer] = fresh.outbox()
    # Sent when the window opened on the way, not when the move ended.
    assert answer["created_at"] - opens in range(SLACK + 1)
