"""Hostile or odd input on the messaging routes: a 4xx or a harmless result, never a
500, an injected header or a stalled process."""

from __future__ import annotations

import email
import email.policy

import pytest

from tests.api.test_send import captured, inline
from tidings.providers.text import html_to_text
from tidings.reporting import links as tracking


def test_a_line_break_in_a_rendered_subject_cannot_add_a_header(api):
    body = inline(message_data={"name": "Ann\nBcc: victim@evil.example\nX-Injected: yes"})
    sent = api.app("POST", "/v1/send/email", json=body)
    assert sent.status_code == 200, sent.text
    mime = captured(api, sent.json()["delivery_id"])["message"]["mime"]
    message = email.message_from_string(mime, policy=email.policy.SMTP)
    assert message["Subject"] == "Hi Ann Bcc: victim@evil.example X-Injected: yes"
    assert message["Bcc"] is None and message["X-Injected"] is None


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"from": "shop@example.net\nBcc: x@evil.example"}, "from"),
        ({"reply_to": "a@example.net\r\nX-A: b"}, "reply_to"),
        ({"to": "u1@example.com\nBcc: x@evil.example"}, "to"),
        ({"headers": {"X-Note": "a\r\nBcc: x@evil.example"}}, "headers"),
        ({"attachments": {"a\r\nb.txt": "aGk="}}, "attachments"),
    ],
)
def test_line_breaks_in_header_fields_are_400s(api, extra, field):
    answer = api.app("POST", "/v1/send/email", json=inline(**extra))
    assert answer.status_code == 400, answer.text
    assert "line break" in answer.json()["meta"]["error"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/t/o/1.abc.%C3%A9", 404),
        ("POST", "/t/u/%C2%B2.abc.def", 404),
        ("GET", "/v1/reporting_webhooks/%C2%B2", 404),
        ("DELETE", "/v1/reporting_webhooks/99999999999", 404),
        ("GET", "/v1/transactional/%C2%B2/metrics", 404),
        ("GET", "/v1/transactional/1/metrics?steps=%C2%B2", 400),
        ("GET", "/v1/messages?start_ts=%C2%B2", 400),
        ("GET", "/v1/messages?start_ts=9999999999999999999", 400),
        ("PUT", "/v1/transactional/1/content/99999999999", 404),
    ],
)
def test_odd_numbers_in_paths_and_queries_are_4xx(api, method, path, status):
    answer = api.app(method, path, json={} if method == "PUT" else None)
    assert answer.status_code in (status, 404), answer.text  # unknown resource first is fine
    assert answer.status_code < 500


def test_a_template_id_beyond_any_column_is_a_400(api):
    answer = api.app(
        "POST", "/v1/send/email", json=inline(transactional_message_id=2**70, subject=None)
    )
    assert answer.status_code == 400, answer.text


def test_unclosed_tags_take_one_pass():
    """`<a <a <a ...` without a `>` was quadratic in the link rewriter and the text part
    (minutes for a body a template loop can make); now both are linear. No timing is
    asserted: a regression shows as a test that takes minutes."""
    hostile = "<p>x</p>" + "<a " * 50_000
    assert tracking._LINK.search(hostile) is None
    assert html_to_text(hostile).startswith("x")
    normal = '<p><a class="b" href="https://example.com/x?a=1">go</a></p>'
    assert tracking._LINK.search(normal).group(3) == "https://example.com/x?a=1"
