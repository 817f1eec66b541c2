"""End to end: a tracked transactional email is sent (capture adapter), its pixel
and a link are followed, the recipient unsubscribes in one click, and a reporting
webhook receives every event, signed as the reference describes."""

import re

from tests.api.test_tracking_pages import send
from tests.support import eventually
from tests.webhook_receiver import receive, verify

EVENTS = ["email_sent", "email_opened", "email_clicked", "email_unsubscribed"]


def test_send_open_click_unsubscribe_reach_the_webhook(api):
    assert api.track("PUT", "/api/v1/customers/e2e", json={"email": "e2e@example.com"}).is_success
    with receive() as hook:
        made = api.app(
            "POST", "/v1/reporting_webhooks", json={"endpoint": hook.url, "events": EVENTS}
        ).json()
        body = '<p><a href="https://shop.example.com/o/1?a=1&amp;b=2">Order</a></p>'
        delivery_id, message = send(api, body, "e2e", tracked=True)
        # The outbox holds a message as soon as it is captured, as a provider would
        # accept it, a moment before the worker records it sent: open it after that.
        eventually(lambda: len(hook.accepted()) == 1, timeout=15)
        click = re.search(r'href="([^"]*/t/c/[^"]+)"', message["html"]).group(1)
        pixel = re.search(r'src="([^"]*/t/o/[^"]+)"', message["html"]).group(1)
        assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in message["mime"]
        unsubscribe = message["unsubscribe_url"]

        assert api.http.get(pixel).status_code == 200
        followed = api.http.get(click)
        assert followed.status_code == 302
        assert followed.headers["location"] == "https://shop.example.com/o/1?a=1&b=2"
        assert api.http.post(unsubscribe, content=b"List-Unsubscribe=One-Click").status_code == 200

        eventually(lambda: len(hook.accepted()) == 4, timeout=15)
        posts = hook.accepted()
        assert all(verify(post, made["signing_key"]) for post in posts)
        metrics = [post.json()["metric"] for post in posts]
        assert metrics == ["sent", "opened", "clicked", "unsubscribed"]
        clicked = posts[2].json()["data"]
        assert clicked["href"] == "https://shop.example.com/o/1?a=1&b=2" and clicked["link_id"] == 1
        assert {p.json()["data"]["delivery_id"] for p in posts} == {delivery_id}
        assert posts[0].json()["data"]["identifiers"]["id"] == "e2e"

    shown = api.app("GET", f"/v1/messages/{delivery_id}").json()["message"]
    assert {"sent", "opened", "clicked", "unsubscribed"} <= set(shown["metrics"])
    assert api.attributes("e2e").json()["customer"]["unsubscribed"] is True
