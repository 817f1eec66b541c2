"""Fake HTTP email APIs (SES v2, SendGrid v3, Postmark, Mailgun), each checking a request
the way its provider does (credentials, signature, body shape) and answering in its shapes,
plus the webhook posts each provider would make, signed as it documents.

    with FakeSendgrid.running(api_key="SG.k") as fake:
        config = {"api_key": "SG.k", "base_url": fake.base_url}
        fake.messages           # the accepted messages (parsed), in order
        fake.fail_next(1, 503)  # the next request answers 503 in the provider's shape
        fake.webhook([...])     # (body, headers) of a signed event post

A recipient without an `@` is refused as each provider refuses a bad address.
Signatures are computed here from the providers' documentation, apart from the code
under test (SES's SigV4 check uses `tidings.aws_sigv4`, itself tested against AWS's
published examples).
"""

from __future__ import annotations

import base64
import datetime
import email
import email.policy
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from tests.fakes.asgi import Reply, Request, serve
from tidings.aws_sigv4 import Credentials, Scope, sign

_ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[a-z]{2,}", re.IGNORECASE)


@dataclass
class FakeEsp:
    """What the four fakes share: requests seen, accepted messages, scripted failures."""

    base_url: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    _failures: list[int] = field(default_factory=list)

    @classmethod
    @contextmanager
    def running(cls, **settings: Any) -> Iterator[Any]:
        fake = cls(**settings)
        with serve(fake.handle) as url:
            fake.base_url = url
            yield fake

    def fail_next(self, count: int, status: int) -> None:
        self._failures.extend([status] * count)

    @property
    def connections(self) -> int:
        return len({r.client for r in self.requests})

    async def handle(self, request: Request) -> Reply:
        self.requests.append(request)
        refused = self.refuse(request)
        if refused is not None:
            return refused
        if self._failures:
            return self.error(self._failures.pop(0), "scripted failure")
        return self.accept(request)

    def refuse(self, request: Request) -> Reply | None:
        raise NotImplementedError

    def accept(self, request: Request) -> Reply:
        raise NotImplementedError

    def error(self, status: int, message: str) -> Reply:
        raise NotImplementedError


def _bad_addresses(values: list[str]) -> list[str]:
    return [v for v in values if not _ADDRESS.search(v)]


# --- Amazon SES v2 and SNS ---------------------------------------------------------


@dataclass
class FakeSes(FakeEsp):
    access_key_id: str = "AKIDFAKE"
    secret_access_key: str = "secret"
    region: str = "eu-west-1"

    def refuse(self, request: Request) -> Reply | None:
        if (request.method, request.path) != ("POST", "/v2/email/outbound-emails"):
            return self.error(404, "not found", "NotFoundException")
        if not self._signed(request):
            return self.error(
                403, "The request signature we calculated does not match", "SignatureDoesNotMatch"
            )
        return None

    def _signed(self, request: Request) -> bool:
        """Recompute the SigV4 signature over the headers the client says it signed."""
        header = request.headers.get("authorization", "")
        found = re.match(
            r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/ses/aws4_request, "
            r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$",
            header,
        )
        if not found or found[1] != self.access_key_id or found[3] != self.region:
            return False
        names = found[4].split(";")
        stamp = request.headers.get("x-amz-date", "")
        try:
            at = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
        except ValueError:
            return False
        if abs(time.time() - at.timestamp()) > 300 or "host" not in names:
            return False
        signed = {
            n: request.headers[n] for n in names if n in request.headers and n != "x-amz-date"
        }
        scope = Scope(Credentials(self.access_key_id, self.secret_access_key), self.region, "ses")
        url = f"http://{request.headers['host']}{request.path}"
        expected = sign(request.method, url, signed, request.body, scope, at)["Authorization"]
        return hmac.compare_digest(expected, header)

    def accept(self, request: Request) -> Reply:
        body = request.json()
        destination = body.get("Destination", {})
        everyone = [
            *destination.get("ToAddresses", []),
            *destination.get("CcAddresses", []),
            *destination.get("BccAddresses", []),
        ]
        if _bad_addresses(everyone):
            return self.error(
                400, f"Illegal address: {_bad_addresses(everyone)[0]}", "BadRequestException"
            )
        raw = base64.b64decode(body["Content"]["Raw"]["Data"])
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        message_id = f"0102{uuid.uuid4().hex}-000000"
        self.messages.append({**body, "raw": parsed, "message_id": message_id})
        return Reply(200, {"MessageId": message_id})

    def error(self, status: int, message: str, kind: str = "") -> Reply:
        kind = kind or {429: "TooManyRequestsException", 503: "ServiceUnavailable"}.get(
            status, "BadRequestException"
        )
        return Reply(status, {"message": message}, {"x-amzn-ErrorType": f"{kind}:"})


class SnsSigner:
    """A signing key and self-signed certificate standing in for SNS's."""

    def __init__(self, topic_arn: str = "arn:aws:sns:eu-west-1:123456789012:ses-events") -> None:
        self.topic_arn = topic_arn
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = datetime.datetime.now(datetime.UTC)
        self.certificate_pem = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(self.key, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM)
            .decode()
        )

    def message(
        self, kind: str, fields: dict[str, str], cert_url: str, version: str = "2"
    ) -> dict[str, str]:
        """An SNS message of type `kind`, signed as SNS documents (SignatureVersion 1 or 2)."""
        message = {
            "Type": kind,
            "MessageId": str(uuid.uuid4()),
            "TopicArn": self.topic_arn,
            "Timestamp": "2026-12-07T20:00:00.000Z",
            "SignatureVersion": version,
            "SigningCertURL": cert_url,
            **fields,
        }
        order = [
            "Message",
            "MessageId",
            "Subject",
            "SubscribeURL",
            "Timestamp",
            "Token",
            "TopicArn",
            "Type",
        ]
        if kind == "Notification":
            order = [n for n in order if n not in ("SubscribeURL", "Token")]
        text = "".join(f"{n}\n{message[n]}\n" for n in order if n in message)
        digest = hashes.SHA256() if version == "2" else hashes.SHA1()
        signature = self.key.sign(text.encode(), padding.PKCS1v15(), digest)
        message["Signature"] = base64.b64encode(signature).decode()
        return message

    def notification(self, ses_event: dict[str, Any], cert_url: str) -> dict[str, str]:
        return self.message("Notification", {"Message": json.dumps(ses_event)}, cert_url)


def ses_event(
    kind: str, delivery_id: str, recipient: str, *, bounce_type: str = "Permanent"
) -> dict[str, Any]:
    """An SES event as a configuration set publishes it (the delivery in `mail.tags`)."""
    mail = {
        "messageId": "0102abc-000000",
        "destination": [recipient],
        "tags": {"tidings_delivery_id": [delivery_id], "ses:configuration-set": ["cs"]},
    }
    event: dict[str, Any] = {"eventType": kind, "mail": mail}
    if kind == "Bounce":
        event["bounce"] = {
            "bounceType": bounce_type,
            "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": recipient}],
        }
    elif kind == "Complaint":
        event["complaint"] = {"complainedRecipients": [{"emailAddress": recipient}]}
    elif kind == "Delivery":
        event["delivery"] = {"recipients": [recipient]}
    return event


# --- SendGrid v3 ----------------------------------------------------------------------


@dataclass
class FakeSendgrid(FakeEsp):
    api_key: str = "SG.fake"
    webhook_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    @property
    def public_key(self) -> str:
        der = self.webhook_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    def refuse(self, request: Request) -> Reply | None:
        if (request.method, request.path) != ("POST", "/v3/mail/send"):
            return self.error(404, "not found")
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return self.error(401, "The provided authorization grant is invalid")
        return None

    def accept(self, request: Request) -> Reply:
        body = request.json()
        people = body["personalizations"][0]
        everyone = [p["email"] for f in ("to", "cc", "bcc") for p in people.get(f, [])]
        if _bad_addresses(everyone) or not body.get("content"):
            return self.error(400, "Does not contain a valid address.", "personalizations.0.to")
        if body["content"][0]["type"] != "text/plain":
            return self.error(400, "text/plain must come first", "content")
        message_id = uuid.uuid4().hex[:22]
        self.messages.append({**body, "message_id": message_id})
        return Reply(202, b"", {"X-Message-Id": message_id})

    def error(self, status: int, message: str, field_name: str | None = None) -> Reply:
        return Reply(status, {"errors": [{"message": message, "field": field_name, "help": None}]})

    def webhook(
        self, events: list[dict[str, Any]], timestamp: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """(body, headers) of a signed Event Webhook post."""
        body = json.dumps(events).encode()
        stamp = timestamp or str(int(time.time()))
        signature = self.webhook_key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        headers = {
            "Content-Type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        }
        return body, headers


# --- Postmark -----------------------------------------------------------------------


@dataclass
class FakePostmark(FakeEsp):
    server_token: str = "pm-token"

    def refuse(self, request: Request) -> Reply | None:
        if (request.method, request.path) != ("POST", "/email"):
            return Reply(404, b"")
        if request.headers.get("x-postmark-server-token") != self.server_token:
            return self.error(401, "Request does not contain a valid Server token.", 10)
        return None

    def accept(self, request: Request) -> Reply:
        body = request.json()
        everyone = [
            a.strip() for f in ("To", "Cc", "Bcc") for a in body.get(f, "").split(",") if a.strip()
        ]
        if _bad_addresses(everyone):
            return self.error(422, f"Invalid 'To' address: '{_bad_addresses(everyone)[0]}'.", 300)
        if any("inactive" in a for a in everyone):
            return self.error(
                422, "You tried to send to recipient(s) that have been marked as inactive.", 406
            )
        message_id = str(uuid.uuid4())
        self.messages.append({**body, "message_id": message_id})
        return Reply(
            200, {"To": body["To"], "ErrorCode": 0, "Message": "OK", "MessageID": message_id}
        )

    def error(self, status: int, message: str, code: int = 0) -> Reply:
        return Reply(status, {"ErrorCode": code or status, "Message": message})


def postmark_event(
    record: str, delivery_id: str, recipient: str, kind: str = "HardBounce"
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "RecordType": record,
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Metadata": {"tidings_delivery_id": delivery_id},
        "MessageStream": "outbound",
    }
    if record == "Delivery":
        event["Recipient"] = recipient
    else:
        event.update(
            Email=recipient,
            Type=kind,
            TypeCode=1,
            Description="The server was unable to deliver your message",
        )
    return event


# --- Mailgun --------------------------------------------------------------------------


@dataclass
class FakeMailgun(FakeEsp):
    api_key: str = "key-fake"
    domain: str = "mg.example.com"
    signing_key: str = "mailgun-signing-key"

    def refuse(self, request: Request) -> Reply | None:
        if (request.method, request.path) != ("POST", f"/v3/{self.domain}/messages"):
            return self.error(404, "Domain not found")
        expected = "Basic " + base64.b64encode(f"api:{self.api_key}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return Reply(401, b"Forbidden", {"content-type": "text/plain"})
        return None

    def accept(self, request: Request) -> Reply:
        form, files = _multipart(request)
        everyone = [v for f in ("to", "cc", "bcc") for v in form.get(f, [])]
        if not form.get("to") or _bad_addresses(everyone):
            return self.error(
                400, "to parameter is not a valid address. please check documentation"
            )
        message_id = f"<{uuid.uuid4().hex}@{self.domain}>"
        self.messages.append({"form": form, "files": files, "message_id": message_id})
        return Reply(200, {"id": message_id, "message": "Queued. Thank you."})

    def error(self, status: int, message: str) -> Reply:
        return Reply(status, {"message": message})

    def webhook(
        self,
        event: str,
        delivery_id: str,
        recipient: str,
        *,
        severity: str = "permanent",
        timestamp: int | None = None,
        key: str | None = None,
    ) -> dict[str, Any]:
        stamp = str(timestamp if timestamp is not None else int(time.time()))
        token = uuid.uuid4().hex
        digest = hmac.new(
            (key or self.signing_key).encode(), (stamp + token).encode(), hashlib.sha256
        )
        data: dict[str, Any] = {
            "event": event,
            "recipient": recipient,
            "timestamp": float(stamp),
            "user-variables": {"tidings_delivery_id": delivery_id},
            "message": {"headers": {"message-id": f"abc@{self.domain}"}},
        }
        if event == "failed":
            data.update(
                severity=severity,
                reason="bounce",
                **{"delivery-status": {"code": 550, "message": "No such user"}},
            )
        return {
            "signature": {"timestamp": stamp, "token": token, "signature": digest.hexdigest()},
            "event-data": data,
        }


def _multipart(request: Request) -> tuple[dict[str, list[str]], list[tuple[str, str, bytes]]]:
    """A form body's fields and files (name, content type, bytes): multipart/form-data
    or, without files, application/x-www-form-urlencoded (Mailgun takes both)."""
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form: dict[str, list[str]] = {}
        for name, value in parse_qsl(request.body.decode(), keep_blank_values=True):
            form.setdefault(name, []).append(value)
        return form, []
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    parsed = email.message_from_bytes(head + request.body, policy=email.policy.HTTP)
    form = {}
    files = []
    for part in parsed.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        data = part.get_payload(decode=True) or b""
        if filename:
            files.append((filename, part.get_content_type(), data))
        else:
            form.setdefault(str(name), []).append(data.decode())
    return form, files
