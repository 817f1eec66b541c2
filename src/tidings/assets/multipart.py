"""`multipart/form-data` bodies (an asset upload), parsed with the standard library."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP

from tidings.errors import ApiError


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


def parse(content_type: str | None, body: bytes) -> dict[str, Part]:
    """The form's parts by field name (the first of a repeated name); a body that
    is not multipart/form-data is a 400."""
    if not content_type or not content_type.lower().startswith("multipart/form-data"):
        raise ApiError(400, "the upload must be sent as multipart/form-data", field="file")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart() or message.defects:
        raise ApiError(400, "malformed multipart/form-data body", field="file")
    parts: dict[str, Part] = {}
    for part in message.iter_parts():
        assert isinstance(part, Message)
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or name in parts:
            continue
        data = part.get_payload(decode=True)
        parts[name] = Part(
            name=name,
            filename=part.get_filename(),
            content_type=part.get("content-type"),
            data=data if isinstance(data, bytes) else b"",
        )
    return parts
