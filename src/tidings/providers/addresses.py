"""Email address parsing, memoised.

`email.utils.parseaddr` and `getaddresses` are pure functions of their
input, and slow (a character-by-character parser in Python). One send
parses the same few values several times over (the sender check, the
payload, the MIME headers, the SMTP envelope, the suppression check), and a
workspace sends from the same few senders, so their results are kept in a
bounded LRU cache keyed by the exact input.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from email.utils import getaddresses, parseaddr

_CACHED = 4096


@functools.lru_cache(maxsize=_CACHED)
def parse(value: str) -> tuple[str, str]:
    """`parseaddr`: (display name, address), ("", "") when there is none."""
    name, address = parseaddr(value)
    return name, address


def parse_list(values: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """`getaddresses` of the values (which it parses as one comma-separated list)."""
    return _parse_list(tuple(values))


@functools.lru_cache(maxsize=_CACHED)
def _parse_list(values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return tuple((name, address) for name, address in getaddresses(values))
