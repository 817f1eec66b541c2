"""Turning a `providers.config` dict into an adapter's typed settings."""

from __future__ import annotations

import ssl
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")


def parse(kind: str, config: dict[str, Any], shape: type[T]) -> T:
    """`config` as `shape` (a msgspec Struct), or `ValueError` naming the provider and the field."""
    try:
        return msgspec.convert(config, shape)
    except msgspec.ValidationError as exc:
        raise ValueError(f"{kind} provider config: {exc}") from None


def tls_context(verify: bool | str) -> ssl.SSLContext:
    """A client TLS context: system CAs, none (`False`), or the CA file at `verify`."""
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if verify is True:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=verify)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot read the CA file {verify!r}: {exc}") from None
