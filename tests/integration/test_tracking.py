"""Tracked links: signed tokens, the rewritten HTML, opens, clicks and unsubscribes."""

import re

import pytest

from tests.factories import add_delivery, recorded_metrics
from tidings.errors import ApiError
from tidings.people import read, service
from tidings.people.identifiers import classify
from tidings.reporting import links as tracking

NOW = 1_700_000_000
BASE = "https://t.example.com"

HTML = """<html><body>
<a href="https://shop.example.com/a?x=1&amp;y=2">A</a>
<a class="b" href='http://b.example.com/'>B</a>
<a href="mailto:hi@example.com">mail</a> <a href="tel:+123">tel</a> <a href="#top">top</a>
<a href="{unsub}">unsubscribe</a>
<area shape="rect" href="https://c.example.com/c">
</body></html>"""


def prepare(tx, ws, delivery_id="d1", html=HTML, tracked=True):
    unsub = tx(tracking.unsubscribe_url, ws, delivery_id, BASE, NOW)
    return tx(
        tracking.prepare_email, ws, delivery_id, html.replace("{unsub}", unsub), BASE, tracked
    )


def tokens(html: str, kind: str) -> list[str]:
    return re.findall(rf"{BASE}/t/{kind}/([A-Za-z0-9_.-]+)", html)


def test_tracked_html_rewrites_web_links_only_and_appends_the_pixel(tx, query, workspace):
    ws = workspace.workspace_id
    html, unsub = prepare(tx, ws)
    assert unsub.startswith(BASE + "/t/u/")
    assert "shop.example.com" not in html and "b.example.com" not in html
    for kept in ('href="mailto:hi@example.com"', 'href="tel:+123"', 'href="#top"', unsub):
        assert kept in html
    clicks = tokens(html, "c")
    assert len(clicks) == 3
    urls = [query(tracking.verify, t, "c") for t in clicks]
    assert [(u.link_id, u.url) for u in urls] == [
        (1, "https://shop.example.com/a?x=1&y=2"),
        (2, "http://b.example.com/"),
        (3, "https://c.example.com/c"),
    ]
    assert html.index("/t/o/") < html.index("</body>")


def test_untracked_html_is_unchanged_but_the_unsubscribe_url_is_given(tx, workspace):
    html, unsub = tx(tracking.prepare_email, workspace.workspace_id, "d1", HTML, BASE, False)
    assert html == HTML and unsub.startswith(BASE + "/t/u/")
    assert tx(tracking.prepare_email, workspace.workspace_id, "d1", None, BASE, True)[0] is None


def test_the_pixel_goes_at_the_end_without_a_body_tag(tx, workspace):
    html, _ = tx(tracking.prepare_email, workspace.workspace_id, "d1", "<p>hi</p>", BASE, True)
    assert html.startswith("<p>hi</p><img src=") and len(tokens(html, "o")) == 1


def test_tokens_are_bound_to_kind_workspace_and_signature(tx, query, workspace, other_workspace):
    ws = workspace.workspace_id
    html, unsub = prepare(tx, ws)
    click, opened = tokens(html, "c")[0], tokens(html, "o")[0]
    tx(tracking.secret, other_workspace.workspace_id, NOW)
    forged = [
        opened[:-1] + ("A" if opened[-1] != "A" else "B"),
        str(other_workspace.workspace_id) + opened[opened.index(".") :],
        "x.y.z",
        "",
        "1.2",
    ]
    for token in forged:
        with pytest.raises(ApiError) as caught:
            query(tracking.verify, token, "o")
        assert caught.value.status == 404
    with pytest.raises(ApiError):
        query(tracking.verify, click, "o")
    with pytest.raises(ApiError):
        query(tracking.verify, unsub.rsplit("/", 1)[1], "c")
    # The URL cannot be swapped: the claims are signed.
    head, claims, sig = click.split(".")
    other_claims = tracking._b64(b'["c","d1",1,"https://evil.example.com"]')
    with pytest.raises(ApiError):
        query(tracking.verify, f"{head}.{other_claims}.{sig}", "c")


def test_open_click_and_unsubscribe_are_recorded(tx, query, workspace):
    ws = workspace.workspace_id
    body = service.parse_identify({"email": "p@example.com"}, NOW)
    person = tx(service.identify, ws, classify("p1"), body, NOW)
    tx(add_delivery, ws, "d1", person.pk)
    html, unsub = prepare(tx, ws)
    assert tx(tracking.record_click, tokens(html, "c")[1], NOW + 1) == "http://b.example.com/"
    tx(tracking.record_open, tokens(html, "o")[0], NOW + 2)
    tx(tracking.unsubscribe, unsub.rsplit("/", 1)[1], NOW + 3)
    assert [(m, t, d) for _, m, t, d in query(recorded_metrics, ws)] == [
        ("opened", NOW + 1, {"synthetic": True}),
        ("clicked", NOW + 1, {"href": "http://b.example.com/", "link_id": 2}),
        ("opened", NOW + 2, {}),
        ("unsubscribed", NOW + 3, {}),
    ]
    assert query(read.attributes_of, ws, "p1", "id")["customer"]["unsubscribed"] is True
