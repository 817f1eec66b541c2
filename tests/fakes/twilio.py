"""A fake Twilio Messages API: Basic auth, form bodies, Twilio's error shapes.

    with FakeTwilio.running(account_sid="AC1", auth_token="t") as twilio:
        config = {"account_sid": "AC1", "auth_token": "t", "base_url": twilio.base_url, ...}
        twilio.messages       # the accepted form bodies, in order
        twilio.fail_next(2, 503)  or  twilio.fail_next(1, 400, code=21610)
        twilio.status_post(0, "delivered")   # (url, form, headers) of Twilio's status
                                             # callback for the first message, signed

A To that is not E.164 (after an optional `whatsapp:`) is refused with 21211,
as Twilio does. The signature is computed here as Twilio documents it, apart
from the code under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from tests.fakes.asgi import Reply, Request, serve

_E164 = re.compile(r"^(whatsapp:)?\+[1-9]\d{6,14}$")


@dataclass
class FakeTwilio:
    account_sid: str
    auth_token: str
    base_url: str = ""
    messages: list[dict[str, str]] = field(default_factory=list)
    sids: list[str] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    _failures: list[Reply] = field(default_factory=list)

    @classmethod
    @contextmanager
    def running(
        cls, account_sid: str = "ACfake", auth_token: str = "token"
    ) -> Iterator[FakeTwilio]:
        fake = cls(account_sid, auth_token)
        with serve(fake.handle) as url:
            fake.base_url = url
            yield fake

    def fail_next(self, count: int, status: int, *, code: int = 0, message: str = "") -> None:
        body = {
            "code": code or status,
            "message": message or f"scripted {status}",
            "status": status,
        }
        self._failures.extend(Reply(status, body) for _ in range(count))

    def status_post(
        self, index: int, status: str, error_code: str = ""
    ) -> tuple[str, dict[str, str], dict[str, str]]:
        """(URL, form, headers) of the status callback Twilio would post for message
        `index` (its `StatusCallback`), signed with the auth token."""
        message = self.messages[index]
        url = message["StatusCallback"]
        form = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "ErrorCode": error_code,
            "From": message.get("From", ""),
            "MessageSid": self.sids[index],
            "MessageStatus": status,
            "SmsSid": self.sids[index],
            "SmsStatus": status,
            "To": message["To"],
        }
        return url, form, {"X-Twilio-Signature": sign(self.auth_token, url, form)}

    @property
    def connections(self) -> int:
        return len({r.client for r in self.requests})

    async def handle(self, request: Request) -> Reply:
        self.requests.append(request)
        if request.path != f"/2010-04-01/Accounts/{self.account_sid}/Messages.json":
            return _error(404, 20404, "The requested resource was not found")
        if request.method != "POST":
            return _error(405, 20004, "Method not allowed")
        if not self._authorized(request.headers.get("authorization", "")):
            return _error(401, 20003, "Authenticate")
        if self._failures:
            return self._failures.pop(0)
        form = dict(parse_qsl(request.body.decode()))
        return self._create(form)

    def _authorized(self, header: str) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return header == f"Basic {expected}"

    def _create(self, form: dict[str, str]) -> Reply:
        to = form.get("To", "")
        if not _E164.match(to):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return _error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required")
        self.messages.append(form)
        sid = "SM" + uuid.uuid4().hex
        self.sids.append(sid)
        return Reply(201, {"sid": sid, "status": "queued", "to": to, "body": form.get("Body")})


def _error(status: int, code: int, message: str) -> Reply:
    info = f"https://www.twilio.com/docs/errors/{code}"
    return Reply(status, {"code": code, "message": message, "more_info": info, "status": status})


def sign(auth_token: str, url: str, form: dict[str, str]) -> str:
    """Twilio's request signature: HMAC-SHA1 of the URL and the sorted name-value pairs."""
    data = url + "".join(f"{name}{form[name]}" for name in sorted(form))
    return base64.b64encode(
        hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    ).decode()
