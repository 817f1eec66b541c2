"""Build the RFC 5322 message for an `Email` payload.

One function, `build`, used by the SMTP adapter and by the capture adapter,
so what is captured is byte for byte what SMTP would have sent. The shape:

    multipart/mixed                       (only when there are attachments)
      multipart/alternative
        text/plain                        (given, or derived from the HTML)
        text/x-amp-html                   (when `amp` is given)
        text/html
      <attachments>

`Message-ID` is the payload's `message_id`, fixed per delivery, so a re-send
after a crash carries the same one and receivers can tell. Bcc recipients are
never a header: they exist only in the SMTP envelope (`envelope_recipients`).
Custom headers may add or replace any header except the structural ones
(`STRUCTURAL`), which `build` refuses with `ValueError`, as it does a header
name or value that could smuggle a line break.

The common shape (no attachments, no AMP, every header ASCII) is written
directly (`_plain_build`): both parts quoted-printable UTF-8, long header
lines folded at spaces. The `email` package's general path parses every
header it is given back into a tree and folds it again, which cost ~1 ms a
message, most of the delivery side's CPU. A unit test holds the two paths to
the same parsed message.
"""

from __future__ import annotations

import base64
import binascii
import functools
import mimetypes
import re
import secrets
from datetime import datetime
from email import policy
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime, formatdate

from tidings.providers import addresses
from tidings.providers.base import Attachment, Email
from tidings.providers.text import html_to_text

STRUCTURAL = frozenset(
    {"from", "to", "cc", "bcc", "message-id", "date", "mime-version", "sender", "return-path"}
)
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")  # RFC 5322 ftext: printable ASCII except ':'


def build(
    delivery_id: str, email: Email, *, domain: str | None = None, date: datetime | None = None
) -> bytes:
    """The message's bytes, CRLF line endings, ready for SMTP DATA.

    `domain` names the Message-ID's right side when the payload carries none
    (`<delivery_id@domain>`, so still fixed per delivery). `date` is for
    tests; the Date header is otherwise the time of building.
    """
    check_headers(email.headers)
    if _plain(email):
        return _plain_build(delivery_id, email, domain, date)
    return _general_build(delivery_id, email, domain, date)


def _general_build(
    delivery_id: str, email: Email, domain: str | None, date: datetime | None
) -> bytes:
    """Any message, through the `email` package."""
    msg = EmailMessage(policy=_policy(email))
    _set_addresses(msg, email)
    msg["Subject"] = email.subject
    msg["Date"] = format_datetime(date) if date else formatdate(usegmt=True)
    msg["Message-ID"] = email.message_id or f"<{delivery_id}@{domain or _domain_of(email)}>"
    for name, value in unsubscribe_headers(email):
        msg[name] = value
    for name, value in email.headers.items():
        del msg[name]
        msg[name] = value
    _set_body(msg, email)
    for attachment in email.attachments:
        _attach(msg, attachment)
    return msg.as_bytes()


def unsubscribe_headers(email: Email) -> list[tuple[str, str]]:
    """List-Unsubscribe, with one-click unsubscribe (RFC 8058), when the message has a URL."""
    if not email.unsubscribe_url:
        return []
    return [
        ("List-Unsubscribe", f"<{email.unsubscribe_url}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    ]


def check_headers(headers: dict[str, str]) -> None:
    """Refuse custom headers that are structural or malformed (`ValueError`).

    Exposed so the send API can answer a 400 before a delivery exists.
    """
    for name, value in headers.items():
        if not _HEADER_NAME.match(name):
            raise ValueError(f"invalid header name {name!r}")
        lowered = name.lower()
        if lowered in STRUCTURAL or lowered.startswith("content-"):
            raise ValueError(f"header {name!r} cannot be set by a message")
        if "\r" in value or "\n" in value:
            raise ValueError(f"header {name!r} contains a line break")


def envelope_recipients(email: Email) -> list[str]:
    """Every address the message goes to (To, Cc and Bcc), in order, without duplicates."""
    seen: dict[str, None] = {}
    for _, address in addresses.parse_list([*email.to, *email.cc, *email.bcc]):
        if address:
            seen.setdefault(_envelope(address), None)
    return list(seen)


def envelope_sender(email: Email) -> str:
    return _envelope(addresses.parse(email.from_)[1])


def _envelope(address: str) -> str:
    local, at, host = address.rpartition("@")
    return f"{local}{at}{_idna(host)}" if at else address


def needs_smtputf8(email: Email) -> bool:
    """Whether an address has a non-ASCII local part (IDNA covers domains, nothing covers these)."""
    addresses = [envelope_sender(email), *envelope_recipients(email)]
    return any(not address.rpartition("@")[0].isascii() for address in addresses)


class _Registry(HeaderRegistry):
    """The standard header classes, each made once.

    `HeaderRegistry` builds a new class with `type()` for every header it
    parses; that was a third of the time of building a message. The classes
    are the same every time, so the output is byte for byte the standard one.
    """

    @functools.lru_cache(maxsize=256)  # noqa: B019  # one registry per process, never freed
    def __getitem__(self, name: str) -> type[BaseHeader]:
        return super().__getitem__(name)


_REGISTRY = _Registry()
_POLICIES = {
    False: policy.SMTP.clone(header_factory=_REGISTRY),
    True: policy.SMTPUTF8.clone(header_factory=_REGISTRY),
}


def _policy(email: Email) -> policy.Policy:
    return _POLICIES[needs_smtputf8(email)]


def _set_addresses(msg: EmailMessage, email: Email) -> None:
    msg["From"] = _addresses([email.from_])
    if email.to:
        msg["To"] = _addresses(email.to)
    if email.cc:
        msg["Cc"] = _addresses(email.cc)
    if email.reply_to:
        msg["Reply-To"] = _addresses([email.reply_to])


def _addresses(values: list[str]) -> list[Address]:
    """Parse "Name <local@domain>" values; a non-ASCII domain is IDNA-encoded."""
    result = []
    for name, address in addresses.parse_list(values):
        local, at, host = address.rpartition("@")
        if not at or not local or not host:
            raise ValueError(f"invalid address {address!r}")
        result.append(Address(display_name=name, username=local, domain=_idna(host)))
    return result


def _idna(host: str) -> str:
    return host if host.isascii() else host.encode("idna").decode("ascii")


def _domain_of(email: Email) -> str:
    return _idna(envelope_sender(email).rpartition("@")[2] or "localhost")


def bodies(email: Email) -> tuple[str, str | None]:
    """The text part (given, or derived from the HTML) and the HTML with its preheader."""
    html = _with_preheader(email.html, email.preheader) if email.html is not None else None
    text = email.text if email.text is not None else html_to_text(html or "")
    return text, html


def _set_body(msg: EmailMessage, email: Email) -> None:
    text, html = bodies(email)
    msg.set_content(text)
    if email.amp is not None:
        msg.add_alternative(email.amp, subtype="x-amp-html")
    if html is not None:
        msg.add_alternative(html, subtype="html")


def _with_preheader(html: str, preheader: str | None) -> str:
    """Put the preheader first in the body, hidden, where mail clients read their preview."""
    if not preheader:
        return html
    hidden = (
        '<div style="display:none;max-height:0;overflow:hidden;mso-hide:all">'
        f"{_escape(preheader)}</div>"
    )
    match = re.search(r"<body[^>]*>", html, re.IGNORECASE)
    at = match.end() if match else 0
    return html[:at] + hidden + html[at:]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attach(msg: EmailMessage, attachment: Attachment) -> None:
    try:
        data = base64.b64decode(attachment.content_b64, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"attachment {attachment.filename!r} is not valid base64") from exc
    maintype, subtype = content_type_of(attachment).split("/", 1)
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=attachment.filename)


def content_type_of(attachment: Attachment) -> str:
    """The attachment's type: the one given, unless generic, else guessed from the filename."""
    given = attachment.content_type.split(";")[0].strip().lower()
    if given and given != "application/octet-stream" and "/" in given:
        return given
    guessed, _ = mimetypes.guess_type(attachment.filename, strict=False)
    return guessed or "application/octet-stream"


# --- the common shape, written directly ----------------------------------------------

_MAX_PLAIN_HEADER = 900  # longer values (unfoldable words) take the general path
_FOLD_AT = 78


def _plain(email: Email) -> bool:
    """No attachments or AMP, and nothing in a header that needs encoding."""
    if email.attachments or email.amp is not None:
        return False
    texts = [email.from_, *email.to, *email.cc, email.reply_to or "", email.subject]
    texts += [email.unsubscribe_url or "", *(f"{k}: {v}" for k, v in email.headers.items())]
    return all(
        t.isascii()
        and len(t) <= _MAX_PLAIN_HEADER
        and "=?" not in t
        and "\r" not in t
        and "\n" not in t
        for t in texts
    ) and not needs_smtputf8(email)


def _plain_build(
    delivery_id: str, email: Email, domain: str | None, date: datetime | None
) -> bytes:
    headers = [("From", _address_list([email.from_]))]
    for name, values in (("To", email.to), ("Cc", email.cc)):
        if values:
            headers.append((name, _address_list(values)))
    if email.reply_to:
        headers.append(("Reply-To", _address_list([email.reply_to])))
    headers.append(("Subject", email.subject))
    headers.append(("Date", format_datetime(date) if date else formatdate(usegmt=True)))
    headers.append(
        ("Message-ID", email.message_id or f"<{delivery_id}@{domain or _domain_of(email)}>")
    )
    headers += unsubscribe_headers(email)
    for name, value in email.headers.items():
        headers = [h for h in headers if h[0].lower() != name.lower()]
        headers.append((name, value))
    headers.append(("MIME-Version", "1.0"))
    text, html = bodies(email)
    if html is None:
        return _head(headers) + _part("plain", text)
    boundary = "=_" + secrets.token_hex(16)  # '=' is always escaped in quoted-printable
    headers.append(("Content-Type", f'multipart/alternative; boundary="{boundary}"'))
    mark = f"\r\n--{boundary}\r\n".encode()  # the CRLF before a boundary is the boundary's
    parts = (_head(headers), b"\r\n", mark[2:], _part("plain", text), mark, _part("html", html))
    return b"".join(parts) + f"\r\n--{boundary}--\r\n".encode()


def _address_list(values: list[str]) -> str:
    return ", ".join(str(address) for address in _addresses(values))


def _head(headers: list[tuple[str, str]]) -> bytes:
    return "".join(_fold(f"{name}: {value}") for name, value in headers).encode("ascii")


def _fold(line: str) -> str:
    """One header line, folded at spaces to lines of at most 78 characters where it can."""
    if len(line) <= _FOLD_AT:
        return line + "\r\n"
    name, _, value = line.partition(": ")
    words = value.split(" ")
    lines, current = [], f"{name}: {words[0]}"  # never fold right after the name
    for word in words[1:]:
        if word and len(current) + 1 + len(word) > _FOLD_AT:  # no blank continuation line
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}"
    lines.append(current)
    return "\r\n ".join(lines) + "\r\n"


def _part(subtype: str, content: str) -> bytes:
    """A text part's headers and quoted-printable UTF-8 body (LF normalised, ends in one)."""
    body = content.replace("\r\n", "\n").replace("\r", "\n")
    if not body.endswith("\n"):
        body += "\n"
    encoded = binascii.b2a_qp(body.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    ).encode() + encoded
