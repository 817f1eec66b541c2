"""The HTTP email providers' webhook payloads read into events (pure), and the signatures
each provider documents: SNS (RSA over AWS's field order), SendGrid (ECDSA), Mailgun (HMAC)."""

from __future__ import annotations

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tests.fakes.esp import FakeMailgun, FakeSendgrid, SnsSigner, postmark_event, ses_event
from tidings.providers import mailgun, postmark, sendgrid, ses, sns
from tidings.providers.email_api import Event

D = "dlv-1"
A = "ann@example.org"


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (ses_event("Bounce", D, A), ["bounced"]),
        (ses_event("Bounce", D, A, bounce_type="Transient"), []),
        (ses_event("Complaint", D, A), ["spammed"]),
        (ses_event("Delivery", D, A), ["delivered"]),
        ({**ses_event("Bounce", D, A), "mail": {"messageId": "m"}}, []),  # no delivery named
    ],
)
def test_ses_events(event, expected):
    assert [e.metric for e in ses.events(event)] == expected


def test_ses_finds_the_delivery_in_the_original_headers_too():
    event = ses_event("Complaint", D, A)
    event["notificationType"] = event.pop("eventType")
    event["mail"] = {"messageId": "m", "headers": [{"name": "X-Tidings-Delivery-Id", "value": D}]}
    assert ses.events(event) == [Event(D, "spammed", A, None, "m")]


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"event": "bounce", "type": "bounce"}, "bounced"),
        ({"event": "bounce", "type": "blocked"}, None),
        ({"event": "spamreport"}, "spammed"),
        ({"event": "delivered"}, "delivered"),
        ({"event": "dropped", "reason": "Bounced Address"}, "bounced"),
        ({"event": "dropped", "reason": "Spam Reporting Address"}, "spammed"),
        ({"event": "dropped", "reason": "Unsubscribed Address"}, "dropped"),
        ({"event": "open"}, None),
    ],
)
def test_sendgrid_events(item, expected):
    found = sendgrid.events([{**item, "email": A, "tidings_delivery_id": D}, {**item, "email": A}])
    assert [e.metric for e in found] == ([expected] if expected else [])


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (postmark_event("Bounce", D, A), ["bounced"]),
        (postmark_event("Bounce", D, A, kind="SoftBounce"), []),
        (postmark_event("SpamComplaint", D, A, kind="SpamComplaint"), ["spammed"]),
        (postmark_event("Delivery", D, A), ["delivered"]),
        ({**postmark_event("Bounce", D, A), "Metadata": {}}, []),
    ],
)
def test_postmark_events(event, expected):
    assert [e.metric for e in postmark.events(event)] == expected


def test_mailgun_events_and_signatures():
    fake = FakeMailgun()
    now = int(time.time())
    failed = fake.webhook("failed", D, A, timestamp=now)
    assert [e.metric for e in mailgun.events(failed)] == ["bounced"]
    temporary = fake.webhook("failed", D, A, severity="temporary", timestamp=now)
    assert mailgun.events(temporary) == []
    assert [e.metric for e in mailgun.events(fake.webhook("complained", D, A))] == ["spammed"]
    key = fake.signing_key
    assert mailgun.signed_by(key, failed["signature"], now, 900)
    assert not mailgun.signed_by("other", failed["signature"], now, 900)
    assert not mailgun.signed_by(key, failed["signature"], now + 901, 900)
    assert not mailgun.signed_by(key, {**failed["signature"], "timestamp": "x"}, now, 900)


def test_mailgun_tokens_bind_a_body():
    tokens = mailgun.Tokens(limit=2)
    assert tokens.same_body("t1", b"a", 100, 900)
    assert tokens.same_body("t1", b"a", 100, 900)
    assert not tokens.same_body("t1", b"b", 100, 900)
    assert tokens.same_body("t2", b"x", 100, 900) and tokens.same_body("t3", b"y", 100, 900)


def test_sendgrid_signatures():
    fake = FakeSendgrid()
    body, headers = fake.webhook([{"event": "delivered"}], timestamp="1700000000")
    signature = headers["X-Twilio-Email-Event-Webhook-Signature"]
    assert sendgrid.signed_by(fake.public_key, "1700000000", body, signature)
    assert not sendgrid.signed_by(fake.public_key, "1700000001", body, signature)
    assert not sendgrid.signed_by(fake.public_key, "1700000000", body + b" ", signature)
    assert not sendgrid.signed_by(fake.public_key, "1700000000", body, "not base64!")
    other = ec.generate_private_key(ec.SECP256R1())
    forged = base64.b64encode(other.sign(b"1700000000" + body, ec.ECDSA(hashes.SHA256())))
    assert not sendgrid.signed_by(fake.public_key, "1700000000", body, forged.decode())


def test_sns_signature_versions_and_the_fields_signed():
    signer = SnsSigner()
    pem = signer.certificate_pem.encode()
    url = "https://sns.eu-west-1.amazonaws.com/c.pem"
    for version in ("1", "2"):
        message = signer.message("Notification", {"Message": "{}", "Subject": "s"}, url, version)
        assert sns.verify(message, pem)
        assert not sns.verify({**message, "Subject": "t"}, pem)
        assert not sns.verify({**message, "SignatureVersion": "3"}, pem)
    confirm = signer.message(
        "SubscriptionConfirmation", {"Message": "m", "Token": "t", "SubscribeURL": url}, url
    )
    assert sns.verify(confirm, pem)
    assert not sns.verify({**confirm, "SubscribeURL": "https://elsewhere.example/"}, pem)
    assert not sns.verify({**confirm, "Type": "Other"}, pem)
    assert not sns.verify(confirm, SnsSigner().certificate_pem.encode())
    assert sns.string_to_sign(json.loads(json.dumps(confirm))).startswith(
        b"Message\nm\nMessageId\n"
    )


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem", True),
        ("http://sns.us-east-1.amazonaws.com/cert.pem", False),
        ("https://sns.us-east-1.amazonaws.com.evil.example/cert.pem", False),
        ("https://amazonaws.com.evil.example/x", False),
        ("https://evil.example/sns.amazonaws.com", False),
        ("https://user@evil.example/", False),
        ("not a url", False),
    ],
)
def test_sns_hosts(url, allowed):
    assert sns.allowed(url, ["*.amazonaws.com"]) is allowed
