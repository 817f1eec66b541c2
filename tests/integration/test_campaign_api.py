"""Campaigns and broadcasts over HTTP on both stores: every route, Customer.io's shapes,
404s and 400s naming the field, workspaces kept apart, a `GET` sent back as a `PUT`.

The application runs in this process (its writer a thread, no background
workers), driven through `httpx.ASGITransport` from an event loop of its own.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tidings.app import Tidings, create_app
from tidings.config import Settings
from tidings.workspaces.service import Credentials

PRO = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}

WELCOME: dict[str, Any] = {
    "name": "Welcome",
    "description": "new people",
    "tags": ["onboarding"],
    "trigger": {"event": {"name": "signed_up"}},
    "frequency": {"every": {"days": 7}},
    "exit_when": {"attribute": {"field": "churned", "operator": "exists"}},
    "goal": {"event": {"name": "purchased"}, "within": {"days": 30}},
    "workflow": [
        {
            "key": "hello",
            "email": {
                "from": "team@acme.test",
                "subject": "Hi {{ customer.first_name }}",
                "body": "<p>Welcome</p>",
                "preheader": "Glad you came",
                "languages": {"fr": {"subject": "Salut"}},
            },
        },
        {"delay": {"days": 1}},
        {
            "branch": {
                "if": PRO,
                "then": [{"sms": {"body": "Thanks, pro"}, "sending_state": "draft"}],
                "else": [{"time_window": {"start": "09:00", "end": "17:00", "days": ["mon"]}}],
            }
        },
        {
            "wait_until": {
                "event": {"name": "opened_app"},
                "timeout": {"days": 2},
                "on_timeout": [{"webhook": {"url": "https://hooks.acme.test/x"}}],
            }
        },
        {"split": {"paths": [{"if": PRO, "steps": [{"push": {"title": "Hey"}}]}], "else": []}},
        {"random": {"paths": [{"percent": 30, "steps": ["exit"]}, {"percent": 70, "steps": []}]}},
        {"at_local": {"time": "08:30", "timezone": "Europe/Paris"}},
        {"update": {"attributes": {"welcomed": True}}},
        "exit",
    ],
}


class Client:
    """Synchronous calls into the app, running on its own event loop thread."""

    def __init__(self, app: Tidings, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t.test"
        )

    def call(self, creds: Credentials, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {creds.app_api_key}"}
        request = self.http.request(method, path, headers=headers, **kwargs)
        return asyncio.run_coroutine_threadsafe(request, self.loop).result(timeout=30)


@pytest.fixture(scope="module")
def client(database_url: str, db: Any) -> Iterator[Client]:
    yield from serving(Settings(database_url=database_url, background_workers=False))


def serving(settings: Settings) -> Iterator[Client]:
    """A client of the app made with `settings`, served on a loop of its own, then closed."""
    app = create_app(settings)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> None:
        app.writer.start()  # type: ignore[union-attr]  # in this process: a Writer

    asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
    made = Client(app, loop)
    yield made
    asyncio.run_coroutine_threadsafe(made.http.aclose(), loop).result(timeout=10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    loop.close()
    app.close()


class Api:
    def __init__(self, client: Client, creds: Credentials) -> None:
        self.client, self.creds = client, creds

    def __call__(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.client.call(self.creds, method, path, **kwargs)
        assert response.status_code == status, response.text
        return response.json()

    def error(self, method: str, path: str, status: int = 400, **kwargs: Any) -> str:
        message: str = self(method, path, status, **kwargs)["meta"]["error"]
        return message


@pytest.fixture
def api(client: Client, workspace: Credentials) -> Api:
    return Api(client, workspace)


@pytest.fixture
def other_api(client: Client, other_workspace: Credentials) -> Api:
    return Api(client, other_workspace)


def create(api: Api, document: dict[str, Any] = WELCOME) -> dict[str, Any]:
    made: dict[str, Any] = api("POST", "/v1/campaigns", json={"campaign": document})["campaign"]
    return made


def by_name(actions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {a["name"]: a for a in actions}


def test_a_campaign_in_customerios_shape(api) -> None:
    made = create(api)
    assert made["name"] == "Welcome" and made["description"] == "new people"
    assert (made["type"], made["state"], made["active"]) == ("event", "draft", False)
    assert made["deduplicate_id"] == f"{made['id']}:{made['updated']}"
    assert made["event_name"] == "signed_up" and made["tags"] == ["onboarding"]
    assert made["first_started"] is None and made["date_attribute"] is None
    assert (made["scheduled_start"], made["scheduled_stop"], made["created_by"]) == (None,) * 3
    types = [a["type"] for a in made["actions"]]
    assert types[:4] == ["email", "delay", "branch", "twilio"]  # our sms shows as twilio
    assert len(types) == 14
    templates = made["msg_templates"]
    assert [t["type"] for t in templates] == ["email", "twilio", "webhook", "push"]
    assert made["definition"] == {
        "trigger": {"event": {"name": "signed_up"}},
        "frequency": {"every": 7 * 86400},
        "exit_when": WELCOME["exit_when"],
        "goal": {"event": {"name": "purchased"}, "within": 30 * 86400, "exit": True},
    }
    assert api("GET", f"/v1/campaigns/{made['id']}") == {"campaign": made}
    assert api("GET", "/v1/campaigns") == {"campaigns": [made]}


def test_get_sent_back_as_put_changes_nothing(api) -> None:
    made = create(api)
    path = f"/v1/campaigns/{made['id']}"
    again = api("PUT", path, json={"campaign": made})["campaign"]
    assert again["actions"] == made["actions"]  # the same action ids, by key
    assert again["workflow"] == made["workflow"] and again["definition"] == made["definition"]
    assert again["updated"] >= made["updated"]
    plain = api("PUT", path, json={**made["definition"], "name": "Renamed", "workflow": []})
    assert plain["campaign"]["name"] == "Renamed" and plain["campaign"]["actions"] == []


def test_the_workflow_is_written_back_as_a_document(api) -> None:
    workflow = create(api)["workflow"]
    assert workflow[0]["key"] == "hello" and workflow[0]["sending_state"] == "automatic"
    assert workflow[0]["email"]["languages"] == {"fr": {"subject": "Salut"}}
    assert workflow[1] == {"key": "1", "name": "Delay", "delay": 86400}
    branch = workflow[2]["branch"]
    assert branch["then"][0]["sms"] == {"body": "Thanks, pro"}
    assert branch["then"][0]["sending_state"] == "draft"
    assert branch["else"][0]["time_window"] == {
        "days": ["mon"],
        "start": "09:00",
        "end": "17:00",
        "timezone": "customer",
        "fallback_timezone": "UTC",
    }
    wait = workflow[3]["wait_until"]
    assert wait["timeout"] == 2 * 86400
    assert wait["on_timeout"][0]["webhook"] == {
        "url": "https://hooks.acme.test/x",
        "method": "post",
        "body": "",
    }
    assert workflow[4]["split"]["else"] == [] and workflow[4]["split"]["paths"][0]["if"] == PRO
    assert [p["percent"] for p in workflow[5]["random"]["paths"]] == [30, 70]
    assert workflow[6]["at_local"]["time"] == "08:30"
    assert workflow[8] == {"key": "8", "name": "Exit", "exit": {}}


def test_date_and_segment_triggers_show_their_fields(api) -> None:
    date = {
        "name": "Renewal",
        "trigger": {
            "date": {
                "attribute": "renews_at",
                "frequency": "yearly",
                "offset": {"days": -3},
                "at": "09:15",
                "timezone": "customer",
                "fallback_timezone": "America/New_York",
            }
        },
        "filters": {"and": [{"segment": {"id": 41}}, PRO]},
    }
    made = create(api, date)
    assert made["type"] == "date"
    assert (made["date_attribute"], made["frequency"]) == ("renews_at", "yearly")
    assert (made["start_hour"], made["start_minutes"]) == (9, 15)
    assert (made["timezone"], made["use_customer_timezone"]) == ("America/New_York", True)
    assert made["filter_segment_ids"] == [41] and made["trigger_segment_ids"] == []
    assert made["definition"]["trigger"]["date"]["offset"] == {"days": -3}
    again = api("PUT", f"/v1/campaigns/{made['id']}", json=made)["campaign"]
    assert again["definition"] == made["definition"]
    segment = create(api, {"name": "VIP", "trigger": {"segment": {"id": 9}}})
    assert (segment["type"], segment["trigger_segment_ids"]) == ("segment", [9])
    attribute = create(api, {"name": "Plan", "trigger": {"attribute": {"field": "plan"}}})
    assert attribute["type"] == "segment"


def test_start_stop_pause_resume(api) -> None:
    made = create(api)
    path = f"/v1/campaigns/{made['id']}"
    started = api("POST", path + "/start")["campaign"]
    assert (started["state"], started["active"]) == ("running", True)
    first = started["first_started"]
    assert first is not None
    assert api("POST", path + "/pause")["campaign"]["state"] == "stopped"
    assert api("POST", path + "/stop")["campaign"]["active"] is False
    resumed = api("POST", path + "/resume")["campaign"]
    assert resumed["state"] == "running" and resumed["first_started"] == first


def test_actions_list_pages_and_edits(api) -> None:
    made = create(api)
    path = f"/v1/campaigns/{made['id']}/actions"
    listed = api("GET", path)
    assert listed["next"] == "" and len(listed["actions"]) == 14
    first = api("GET", path, params={"limit": 5})
    second = api("GET", path, params={"limit": 5, "start": first["next"]})
    assert [a["id"] for a in first["actions"] + second["actions"]] == [
        a["id"] for a in listed["actions"][:10]
    ]
    email = listed["actions"][0]
    assert email["campaign_id"] == made["id"] and email["parent_action_id"] is None
    assert (email["language"], email["sending_state"]) == ("", "automatic")
    assert email["preheader_text"] == "Glad you came" and "preheader" not in email
    assert api("GET", f"{path}/{email['id']}") == {"action": email}
    delay = by_name(listed["actions"])["Delay"]
    assert delay["settings"] == {"seconds": 86400} and "language" not in delay
    sms = next(a for a in listed["actions"] if a["type"] == "twilio")
    assert sms["parent_action_id"] == by_name(listed["actions"])["Branch"]["id"]
    edited = api(
        "PUT",
        f"{path}/{email['id']}",
        json={**email, "subject": "Hello", "preheader_text": "New", "sending_state": "draft"},
    )["action"]
    assert (edited["subject"], edited["preheader_text"]) == ("Hello", "New")
    assert edited["sending_state"] == "draft" and edited["body"] == "<p>Welcome</p>"
    campaign = api("GET", f"/v1/campaigns/{made['id']}")["campaign"]
    assert campaign["workflow"][0]["email"]["subject"] == "Hello"
    assert campaign["workflow"][0]["sending_state"] == "draft"


def test_languages(api) -> None:
    made = create(api)
    email_id = made["actions"][0]["id"]
    path = f"/v1/campaigns/{made['id']}/actions/{email_id}/language"
    fr = api("GET", f"{path}/FR")["action"]
    assert (fr["language"], fr["subject"]) == ("fr", "Salut")
    assert api.error("GET", f"{path}/de", 404) == "no content in this language"
    de = api("PUT", f"{path}/de", json={"subject": "Hallo"})["action"]
    assert (de["language"], de["subject"], de["body"]) == ("de", "Hallo", "<p>Welcome</p>")
    assert api("GET", f"{path}/de")["action"] == de
    default = api("GET", f"/v1/campaigns/{made['id']}/actions/{email_id}")["action"]
    assert default["subject"] == "Hi {{ customer.first_name }}"


def test_webhook_actions(api) -> None:
    made = create(api)
    webhook = next(a for a in made["actions"] if a["type"] == "webhook")
    path = f"/v1/campaigns/{made['id']}/actions/{webhook['id']}"
    headers = '[{"name":"X-Token","value":"abc"}]'
    edited = api("PUT", path, json={"method": "put", "headers": headers})["action"]
    assert (edited["method"], edited["headers"]) == ("put", headers)
    assert edited["url"] == "https://hooks.acme.test/x"
    sent_back = api("PUT", path, json=edited)["action"]
    moving = ("updated", "deduplicate_id")
    assert {k: v for k, v in sent_back.items() if k not in moving} == {
        k: v for k, v in edited.items() if k not in moving
    }
    workflow = api("GET", f"/v1/campaigns/{made['id']}")["campaign"]["workflow"]
    assert workflow[3]["wait_until"]["on_timeout"][0]["webhook"]["headers"] == {"X-Token": "abc"}
    assert api.error("PUT", path, json={"subject": "x"}) == (
        "subject is not a field of webhook actions"
    )
    assert api.error("PUT", path, json={"method": "head"}).startswith("method must be one of")
    assert api.error("PUT", path + "/language/fr", json={}) == "webhook actions have no languages"


def test_action_edits_are_checked_naming_the_field(api) -> None:
    made = create(api)
    path = f"/v1/campaigns/{made['id']}/actions"
    email, delay = made["actions"][0]["id"], made["actions"][1]["id"]
    cases = {
        "title is not a field of email messages": {"title": "x"},
        "subject must be a string": {"subject": 3},
        'subject cannot be null (set "" to empty it)': {"subject": None},
        "sending_state must be one of: automatic, draft, off": {"sending_state": "on"},
    }
    for message, body in cases.items():
        assert api.error("PUT", f"{path}/{email}", json=body) == message
    liquid = api.error("PUT", f"{path}/{email}", json={"body": "{% if %}"})
    assert liquid.startswith("body")
    assert api.error("PUT", f"{path}/{delay}", json={"seconds": 5}).startswith(
        f"action {delay} is a delay step, which has no content"
    )


def test_documents_are_checked_naming_the_path(api) -> None:
    cases = [
        ({"campaign": {"trigger": {"event": {"name": "x"}}}}, "campaign.name"),
        ({"name": "x", "trigger": {"event": {}}}, "campaign.trigger.event.name"),
        (
            {"name": "x", "trigger": {"event": {"name": "x"}}, "workflow": [{"email": {"x": "y"}}]},
            "campaign.workflow[0].email.x",
        ),
        (
            {
                "name": "x",
                "trigger": {"event": {"name": "x"}},
                "workflow": [{"update": {"attributes": {"anonymous_id": "a-1"}}}],
            },
            "campaign.workflow[0].update.attributes.anonymous_id",
        ),
        ({"name": "x", "kind": "broadcast"}, "campaign.kind"),
        ({"name": "x", "trigger": {"event": {"name": "x"}}, "id": 3}, "campaign.id"),
    ]
    for body, field in cases:
        assert api.error("POST", "/v1/campaigns", json=body).startswith(field + ":"), body
    made = create(api)
    bad = {**made, "definition": {"trigger": {"segment": {"id": "x"}}}}
    message = api.error("PUT", f"/v1/campaigns/{made['id']}", json={"campaign": bad})
    assert message.startswith("campaign.trigger.segment.id:")


def test_unknown_ids_are_404s(api) -> None:
    made = create(api)
    cid, action_id = made["id"], made["actions"][0]["id"]
    for path in (
        "/v1/campaigns/999999",
        "/v1/campaigns/abc",
        "/v1/campaigns/999999/actions",
        f"/v1/campaigns/{cid}/actions/999999",
        f"/v1/campaigns/999999/actions/{action_id}",
        "/v1/broadcasts/999999",
        f"/v1/broadcasts/{cid}",  # a campaign is not a broadcast
        "/v1/segments/999999/used_by",
    ):
        assert api.error("GET", path, 404).endswith("not found"), path
    assert api.error("PUT", "/v1/campaigns/999999", 404, json=WELCOME) == "campaign not found"
    assert api.error("POST", "/v1/campaigns/999999/start", 404) == "campaign not found"


def test_workspaces_are_kept_apart(api, other_api) -> None:
    made = create(api)
    cid, action_id = made["id"], made["actions"][0]["id"]
    assert other_api("GET", "/v1/campaigns") == {"campaigns": []}
    for method, path in (
        ("GET", f"/v1/campaigns/{cid}"),
        ("PUT", f"/v1/campaigns/{cid}"),
        ("POST", f"/v1/campaigns/{cid}/start"),
        ("GET", f"/v1/campaigns/{cid}/actions"),
        ("GET", f"/v1/campaigns/{cid}/actions/{action_id}"),
        ("PUT", f"/v1/campaigns/{cid}/actions/{action_id}"),
        ("PUT", f"/v1/campaigns/{cid}/actions/{action_id}/language/fr"),
    ):
        other_api.error(method, path, 404, json=WELCOME if method == "PUT" else None)
    assert api("GET", f"/v1/campaigns/{cid}")["campaign"] == made


BROADCAST = {
    "name": "Outage notice",
    "audience": PRO,
    "workflow": [{"email": {"subject": "We are back", "body": "Sorry"}}, {"delay": 60}],
}


def test_broadcasts(api) -> None:
    made = api("POST", "/v1/broadcasts", json={"broadcast": BROADCAST})["broadcast"]
    assert made["type"] == "triggered_broadcast" and made["state"] == "draft"
    assert made["definition"] == {"audience": PRO}
    assert [t["type"] for t in made["msg_template_ids"]] == ["email"]
    assert "trigger_segment_ids" not in made
    bid = made["id"]
    assert api("GET", "/v1/broadcasts") == {"broadcasts": [made]}
    assert api("GET", f"/v1/broadcasts/{bid}") == {"broadcast": made}
    assert api.error("GET", f"/v1/campaigns/{bid}", 404) == "campaign not found"
    assert api("GET", "/v1/campaigns") == {"campaigns": []}
    again = api("PUT", f"/v1/broadcasts/{bid}", json=made)["broadcast"]
    assert again["actions"] == made["actions"] and again["workflow"] == made["workflow"]
    actions = api("GET", f"/v1/broadcasts/{bid}/actions")["actions"]
    email = actions[0]
    assert email["broadcast_id"] == bid and "campaign_id" not in email
    path = f"/v1/broadcasts/{bid}/actions/{email['id']}"
    assert api("PUT", path, json={"body": "Sorry!"})["action"]["body"] == "Sorry!"
    assert api("PUT", path + "/language/es", json={"subject": "Hola"})["action"]["subject"] == (
        "Hola"
    )
    assert api("GET", path + "/language/es")["action"]["body"] == "Sorry!"
    message = api.error("POST", "/v1/broadcasts", json={**BROADCAST, "trigger": WELCOME["trigger"]})
    assert message.startswith("broadcast: a broadcast is triggered through the API")
    assert api.error("PUT", f"/v1/broadcasts/{bid}", json={"name": "x", "kind": "campaign"}) == (
        "broadcast.kind: this route takes a broadcast"
    )


def test_segment_used_by(api, other_api) -> None:
    segment = api("POST", "/v1/segments", json={"segment": {"name": "VIPs"}})["segment"]
    sid = segment["id"]
    named = {"segment": {"id": sid}}
    assert api("GET", f"/v1/segments/{sid}/used_by") == {
        "used_by": {
            "campaigns": [],
            "broadcasts": [],
            "sent_newsletters": [],
            "draft_newsletters": [],
        }
    }
    by_trigger = create(api, {"name": "T", "trigger": {"segment": {"id": sid, "on": "exit"}}})
    by_exit = create(api, {"name": "E", "trigger": WELCOME["trigger"], "exit_when": named})
    in_workflow = create(
        api,
        {"name": "W", "trigger": WELCOME["trigger"], "workflow": [{"branch": {"if": named}}]},
    )
    create(api, {"name": "Other", "trigger": WELCOME["trigger"], "filters": PRO})
    broadcast = api("POST", "/v1/broadcasts", json={"name": "B", "audience": named})["broadcast"]
    used = api("GET", f"/v1/segments/{sid}/used_by")["used_by"]
    assert used["campaigns"] == [by_trigger["id"], by_exit["id"], in_workflow["id"]]
    assert used["broadcasts"] == [broadcast["id"]]
    api(
        "PUT",
        f"/v1/campaigns/{in_workflow['id']}",
        json={"name": "W", "trigger": WELCOME["trigger"]},
    )
    assert api("GET", f"/v1/segments/{sid}/used_by")["used_by"]["campaigns"] == [
        by_trigger["id"],
        by_exit["id"],
    ]
    assert other_api.error("GET", f"/v1/segments/{sid}/used_by", 404) == "segment not found"


def test_nested_paths_and_every_channel_round_trip(api) -> None:
    document = {
        "name": "Nested",
        "trigger": {"segment": {"id": 5, "on": "exit"}},
        "frequency": "every_time",
        "workflow": [
            {
                "key": "outer",
                "branch": {
                    "if": PRO,
                    "then": [
                        {"in_app": {"title": "t", "body": "b"}},
                        {
                            "split": {
                                "paths": [
                                    {"if": PRO, "steps": [{"inbox": {"title": "x"}}, "exit"]},
                                    {"if": PRO, "steps": []},
                                ],
                                "else": [{"whatsapp": {"body": "w"}, "sending_state": "off"}],
                            }
                        },
                        {"wait_until": {"condition": PRO}},
                    ],
                },
            },
            {"key": "last", "name": "Last one", "push": {"title": "p"}},
        ],
    }
    made = create(api, document)
    assert [a["type"] for a in made["actions"]] == [
        "branch", "in_app", "split", "inbox", "exit", "whatsapp", "wait_until", "push"
    ]  # fmt: skip
    outer = made["workflow"][0]["branch"]
    assert outer["else"] == [] and [list(s)[-1] for s in outer["then"]] == [
        "in_app", "split", "wait_until"
    ]  # fmt: skip
    split = outer["then"][1]["split"]
    assert [p["steps"] for p in split["paths"]][1] == []
    assert split["else"][0]["key"] == "0.then.1.else.0"
    assert made["workflow"][1]["key"] == "last" and made["workflow"][1]["name"] == "Last one"
    assert made["definition"]["frequency"] == "every_time"
    again = api("PUT", f"/v1/campaigns/{made['id']}", json=made)["campaign"]
    assert (again["workflow"], again["actions"]) == (made["workflow"], made["actions"])
    inbox = made["actions"][3]["id"]
    parent = api("GET", f"/v1/campaigns/{made['id']}/actions/{inbox}")["action"]
    assert parent["parent_action_id"] == made["actions"][2]["id"]
