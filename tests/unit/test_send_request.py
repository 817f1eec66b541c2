"""Parsing transactional send bodies (BEHAVIOUR.md 5.1): what each official client sends."""

from __future__ import annotations

import base64
import contextlib
from typing import Any

import customerio.api as customerio_api
import pytest

from tidings.errors import ApiError
from tidings.people.identifiers import Identifier
from tidings.sending import request as send_request
from tidings.sending.compose import recipient_list
from tidings.sending.request import parse, unknown_fields

NOW = 1_800_000_000


def email(**extra: Any) -> dict[str, Any]:
    return {"identifiers": {"id": "u1"}, "to": "a@b.co", "transactional_message_id": 1, **extra}


@pytest.mark.parametrize(
    ("ref", "parsed"),
    [(3, 3), ("3", 3), ("Welcome", "Welcome"), (" welcome ", "welcome"), ("٣", "٣")],
)
def test_templates_are_ids_numeric_strings_or_trigger_names(ref, parsed):
    assert parse("email", email(transactional_message_id=ref), NOW).template == parsed


@pytest.mark.parametrize(
    ("identifiers", "parsed"),
    [
        ({"id": 7}, Identifier("id", "7")),
        ({"email": "A@b.co"}, Identifier("email", "A@b.co")),
        ({"cio_id": "cio_abc"}, Identifier("cio_id", "abc")),
    ],
)
def test_identifiers_are_exactly_one_and_numbers_are_accepted(identifiers, parsed):
    assert parse("email", email(identifiers=identifiers), NOW).identifier == parsed


@pytest.mark.parametrize(
    ("headers", "parsed"),
    [
        ({}, {}),
        ("", {}),
        (None, {}),
        ({"X-A": "1", "X-N": 2}, {"X-A": "1", "X-N": "2"}),
        ('[{"name": "X-A", "value": "1"}]', {"X-A": "1"}),
        ([{"name": "X-A", "value": "1"}], {"X-A": "1"}),
    ],
)
def test_headers_as_object_json_string_list_or_empty(headers, parsed):
    assert parse("email", email(headers=headers), NOW).headers == parsed


def test_attachments_keep_their_base64_and_guess_a_type():
    content = base64.b64encode(b"%PDF").decode()
    [attachment] = parse("email", email(attachments={"a.pdf": content}), NOW).attachments
    assert (attachment.filename, attachment.content_type, attachment.content_b64) == (
        "a.pdf",
        "application/pdf",
        content,
    )
    assert parse("email", email(attachments={}), NOW).attachments == ()


def test_send_at_in_the_past_is_now_and_up_to_90_days_ahead_is_kept():
    assert parse("email", email(send_at=NOW - 5), NOW).send_at is None
    assert parse("email", email(send_at=NOW + 90 * 86400), NOW).send_at == NOW + 90 * 86400
    assert parse("email", email(send_at=float(NOW + 10)), NOW).send_at == NOW + 10


def test_defaults_come_from_the_template_unless_given():
    request = parse("email", email(), NOW)
    assert (request.send_to_unsubscribed, request.tracked, request.retain) == (None, None, True)
    request = parse(
        "email",
        email(send_to_unsubscribed=False, tracked=False, disable_message_retention=True),
        NOW,
    )
    assert (request.send_to_unsubscribed, request.tracked, request.retain) == (False, False, False)


def test_push_fields():
    body = {
        "identifiers": {"id": "u1"},
        "transactional_message_id": 2,
        "custom_device": {"token": "t", "platform": "ios", "last_used": "5"},
        "custom_data": {"a": 1, "b": "x", "c": {"d": True}},
    }
    push = parse("push", body, NOW).push
    assert push is not None and push.to == "all"
    assert push.custom_device is not None and push.custom_device.last_used == 5
    assert push.custom_data == {"a": "1", "b": "x", "c": '{"d":true}'}


def test_channels_take_only_their_own_fields():
    body = email(subject="s", title="t", headers={"X-A": "1"})
    assert parse("sms", {**body, "to": "+1555"}, NOW).fields == {}
    assert parse("sms", {**body, "to": "+1555"}, NOW).headers == {}
    assert parse("inbox_message", body, NOW).channel == "inbox"


@pytest.mark.parametrize(
    ("route", "body", "error"),
    [
        ("email", {"to": "a@b.co", "transactional_message_id": 1}, "identifiers is required"),
        ("email", email(identifiers={}), "exactly one of"),
        ("email", email(identifiers={"id": True}), "must be a string value"),
        ("email", email(transactional_message_id=""), "cannot be empty"),
        ("email", email(transactional_message_id=[1]), "an id or a trigger name"),
        ("email", email(to=None), "to is required"),
        ("email", email(to=["a@b.co"]), "to must be a string"),
        ("email", email(transactional_message_id=None, subject="s"), "or from, subject and body"),
        ("push", {"identifiers": {"id": "u1"}}, "transactional_message_id is required"),
        ("email", email(message_data=[1]), "message_data must be an object"),
        ("email", email(send_at="tomorrow"), "send_at must be a unix timestamp"),
        ("email", email(send_at=NOW + 90 * 86400 + 1), "90 days"),
        ("email", email(language="x" * 17), "language"),
        ("email", email(tracked=1), "tracked must be a boolean"),
        ("email", email(headers="not json"), "headers must be"),
        ("email", email(headers={"Message-ID": "<x@y>"}), "cannot be set"),
        ("email", email(headers={"Bad Name": "x"}), "invalid header name"),
        ("email", email(attachments=[]), "attachments must be an object"),
        ("email", email(attachments={"a": "###"}), "not valid base64"),
        ("push", {**email(), "to": 5}, "to must be all"),
        ("push", {**email(), "custom_device": {"token": "t"}}, "platform"),
    ],
)
def test_refusals(route, body, error):
    with pytest.raises(ApiError) as refused:
        parse(route, body, NOW)
    assert refused.value.status == 400
    assert error in refused.value.message


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("a@b.co", ["a@b.co"]),
        ("Sarah <sarah@example.io>, b@c.io", ["Sarah <sarah@example.io>", "b@c.io"]),
        ('"Doe, Jane" <jane@x.io>', ['"Doe, Jane" <jane@x.io>']),
        ("", []),
        (" , ", []),
    ],
)
def test_recipient_lists_keep_display_names(text, found):
    assert recipient_list({"to": text}, "to") == found


@pytest.mark.parametrize(
    ("route", "body", "unknown"),
    [
        ("email", email(mesage_data={"a": 1}), ["mesage_data"]),
        ("email", email(disable_css_preproceessing=True, fake_bcc=True), []),
        ("push", {**email(), "title": "t", "custom_device": {}, "subject": "s"}, ["subject"]),
        ("sms", {**email(), "sendat": 1, "from": "+1", "cc": "c@d.co"}, ["cc", "sendat"]),
        ("in_app", {"identifiers": {"id": "u"}, "to": "x", "tracked": True}, ["to"]),
    ],
)
def test_unknown_fields_are_named(route, body, unknown):
    assert unknown_fields(route, body) == sorted(unknown)


@pytest.mark.parametrize(
    ("route", "field_map"),
    [
        ("email", "EMAIL_FIELD_MAP"),
        ("push", "PUSH_FIELD_MAP"),
        ("sms", "SMS_FIELD_MAP"),
        ("whatsapp", "WHATSAPP_FIELD_MAP"),
        ("inbox_message", "INBOX_FIELD_MAP"),
        ("in_app", "IN_APP_FIELD_MAP"),
    ],
)
def test_every_field_the_python_client_sends_is_known(route, field_map):
    sent = getattr(customerio_api, field_map).values()
    assert unknown_fields(route, dict.fromkeys(sent)) == []


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("not an email", "an address needs an @"),
        ("ok@x.io, bad", "an address needs an @"),
        ("Ann <a n@x.io>", "an address cannot contain spaces"),
    ],
)
def test_an_invalid_recipient_is_quoted_whole_with_the_reason(text, why):
    with pytest.raises(ApiError) as refused:
        recipient_list({"to": text}, "to")
    assert refused.value.message.startswith(f'to holds an invalid email address: "{text}" ({why};')


class Recording(dict):  # type: ignore[type-arg]
    """A body that records every top-level key it is asked for."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.asked: set[str] = set()

    def get(self, key: Any, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: Any) -> Any:
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return super().__contains__(key)


@pytest.mark.parametrize("route", sorted(send_request.CHANNELS))
def test_the_known_fields_are_exactly_what_parse_reads(route):
    """`unknown_fields` keeps its own list: it must name no field `parse` reads, and
    call known only what it reads (or the CSS flag Customer.io's clients send)."""
    body = Recording(identifiers={"id": "u1"}, transactional_message_id=1, to="a@b.c")
    with contextlib.suppress(ApiError):  # a required field missing: all were read before
        parse(route, body, 0)
    known = send_request.KNOWN_FIELDS[send_request.CHANNELS[route]]
    assert body.asked <= known
    ignored = {"disable_css_preprocessing", "disable_css_preproceessing"}
    assert known - body.asked <= ignored
