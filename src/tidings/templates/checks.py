"""Checks of message resources when they are declared (App API, `tidings apply`), so
that a mistake shows then, with its line, and not at the first send.

- Liquid: every field, snippet and layout must parse (`render.syntax_error`);
  what depends on the data (a filter's argument, a division by zero) can only
  show when a send renders it.
- Senders: an email content's `from`, when it holds no Liquid, must be one of
  the workspace's sender identities (any address while it has none), as a
  send checks it. A `from` made by Liquid is checked when a send renders it.
"""

from __future__ import annotations

from collections.abc import Collection

from tidings.errors import ApiError, bad_request
from tidings.providers import addresses
from tidings.templates import render


def liquid(source: str, field: str) -> None:
    """A 400 naming `field` and the line when `source` is not valid Liquid."""
    error = render.syntax_error(source)
    if error is not None:
        raise bad_request(f"{field}, {error}", field)


def literal_sender(fields: dict[str, str]) -> str | None:
    """The address of a content's `from` (lower-cased) when it holds no Liquid, else None."""
    value = fields.get("from")
    if not value or "{{" in value or "{%" in value:
        return None
    _, address = addresses.parse(value)
    return address.lower() if "@" in address else None


def sender(fields: dict[str, str], identities: Collection[str], field: str = "from") -> None:
    """A 400 when the content's literal `from` is not among `identities` (lower-cased
    addresses; none configured allows any)."""
    address = literal_sender(fields)
    if address is not None and identities and address not in identities:
        raise unknown_sender(address, field)


def unknown_sender(address: str, field: str = "from") -> ApiError:
    return bad_request(f"{field}: {address} is not a sender identity of this workspace", field)
