"""The pages an email links to, over HTTP: view in browser, and the unsubscribe page
(GET only shows it; POST unsubscribes)."""

from __future__ import annotations

import re
from typing import Any

from tests.support import eventually


def send(api, body: str, person: str = "pages", **extra: Any) -> tuple[str, dict[str, Any]]:
    """(delivery id, the captured message) of an email to `person`."""
    sent = api.app(
        "POST",
        "/v1/send/email",
        json={
            "identifiers": {"id": person},
            "to": f"{person}@example.com",
            "from": "shop@example.net",
            "subject": "Your order",
            "body": body,
            **extra,
        },
    )
    assert sent.status_code == 200, sent.text
    delivery_id = sent.json()["delivery_id"]

    def captured() -> dict[str, Any]:
        found = api.app("GET", "/v1/outbox", params={"delivery_id": delivery_id}).json()
        assert found["messages"], found
        return found["messages"][0]["message"]

    return delivery_id, eventually(captured, timeout=15)


def test_view_in_browser_shows_the_email_as_sent(api):
    body = (
        '<p><a href="{{ view_in_browser_url }}">View online</a>'
        " {% view_in_browser_url %} Hello {{ trigger.name }}</p>"
    )
    _, message = send(api, body, message_data={"name": "Ann"}, tracked=False)
    links = re.findall(r"https://[^\s\"<]+/t/v/[\w.-]+", message["html"])
    assert len(links) == 2 and links[0] == links[1]
    page = api.http.get(links[0])
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.text == message["html"]
    assert "Hello Ann" in page.text
    assert "sandbox" in page.headers["content-security-policy"]

    forged = links[0][:-4] + ("AAAA" if not links[0].endswith("AAAA") else "BBBB")
    assert api.http.get(forged).status_code == 404
    unsubscribe_token = message["unsubscribe_url"].rsplit("/", 1)[1]
    assert api.http.get(links[0].rsplit("/", 1)[0] + "/" + unsubscribe_token).status_code == 404


def test_view_in_browser_of_a_message_not_kept_is_a_404(api):
    delivery_id, message = send(
        api, "<p>{{ view_in_browser_url }}</p>", disable_message_retention=True, tracked=False
    )
    link = re.search(r"https://[^\s\"<]+/t/v/[\w.-]+", message["html"]).group(0)

    def sent() -> bool:  # the payload is dropped with the state, in one transaction
        return "sent" in api.app("GET", f"/v1/messages/{delivery_id}").json()["message"]["metrics"]

    eventually(sent, timeout=15)
    gone = api.http.get(link)
    assert gone.status_code == 404 and "no longer available" in gone.text


def test_the_unsubscribe_page_get_leaves_the_person_subscribed(api):
    _, message = send(api, "<p>Hi</p>")
    page = api.http.get(message["unsubscribe_url"])
    assert page.status_code == 200
    assert '<form method="post">' in page.text and "Unsubscribe" in page.text
    assert api.http.get(message["unsubscribe_url"]).status_code == 200  # twice, to be sure
    customer = api.attributes("pages").json()["customer"]
    assert customer["attributes"].get("unsubscribed") in (None, "false", False)

    done = api.http.post(message["unsubscribe_url"], content=b"List-Unsubscribe=One-Click")
    assert done.status_code == 200 and "You are unsubscribed." in done.text
    assert api.attributes("pages").json()["customer"]["unsubscribed"] is True
