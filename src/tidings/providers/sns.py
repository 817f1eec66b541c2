"""Amazon SNS messages over HTTP: their signature, and where a certificate may come from.

SNS posts JSON whose `Type` is `Notification`, `SubscriptionConfirmation` or
`UnsubscribeConfirmation`, signed with the private key of the certificate at
`SigningCertURL`: `SignatureVersion` 1 is RSA PKCS#1 v1.5 with SHA-1, 2 with
SHA-256, over the message's fields as `name\\nvalue\\n` lines in AWS's
order (`SIGNED_FIELDS`; an absent `Subject` is left out).

A certificate URL, and a subscription's `SubscribeURL`, are used only when
https and their host matches one of the configured patterns (`allowed`),
so a forged message cannot make this server fetch an arbitrary URL.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
from typing import Any
from urllib.parse import urlsplit

SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
SIGNED_FIELDS["UnsubscribeConfirmation"] = SIGNED_FIELDS["SubscriptionConfirmation"]


def string_to_sign(message: dict[str, Any]) -> bytes:
    """The bytes SNS signs for this message; ValueError for a type or field it cannot be."""
    fields = SIGNED_FIELDS.get(message.get("Type", ""))
    if fields is None:
        raise ValueError(f"unknown SNS message type {message.get('Type')!r}")
    lines = []
    for name in fields:
        value = message.get(name)
        if value is None and name == "Subject":
            continue
        if not isinstance(value, str):
            raise ValueError(f"the SNS message has no {name}")
        lines.append(f"{name}\n{value}\n")
    return "".join(lines).encode()


def verify(message: dict[str, Any], certificate_pem: bytes) -> bool:
    """Whether the message's `Signature` is the certificate key's signature of it.
    cryptography is imported here, not when the server starts."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    hashes_by_version = {"1": hashes.SHA1, "2": hashes.SHA256}
    algorithm = hashes_by_version.get(str(message.get("SignatureVersion", "")))
    try:
        signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
        data = string_to_sign(message)
        key = x509.load_pem_x509_certificate(certificate_pem).public_key()
    except (ValueError, binascii.Error):
        return False
    if algorithm is None or not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(signature, data, padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        return False
    return True


def allowed(url: str, host_patterns: list[str]) -> bool:
    """Whether `url` is https on a host matching one of the patterns (`*.amazonaws.com`)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return False
    if parts.scheme != "https" or not host:
        return False
    return any(fnmatch.fnmatchcase(host, pattern.lower()) for pattern in host_patterns)
