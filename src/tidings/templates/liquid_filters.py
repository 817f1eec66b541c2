"""The filters Tidings adds to python-liquid's standard Shopify set, and the guards.

Customer.io's own filters that templates rely on:

- `date` / `format_date`: a unix timestamp (seconds, number or numeric string),
  an ISO 8601 string, `"now"` or `"today"`, formatted with strftime; an optional
  second argument is an IANA time zone (`{{ x | date: "%H:%M", "Europe/Paris" }}`),
  UTC otherwise. `"%s"` gives the unix timestamp.
- `currency` / `money` and `format_number`: locale-aware (`"en-us"` by default, as
  Customer.io), the currency taken from the locale's country unless a code is given.
- `titlecase`, `md5`, `sha1`, `sha256`, `hmac_sha1`, `hmac_sha256`, `json`.

Every filter runs inside `guarded`, which enforces the render's deadline and
refuses sequences, strings and numbers beyond the limits before and after the
call, so no chain of filters can build an unbounded value (and no single call
of a math filter can take long: its operands have at most `MAX_NUMBER_DIGITS`).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Sized
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from babel import Locale, UnknownLocaleError, numbers
from liquid.builtin.filters.array import join as _join
from liquid.builtin.filters.string import replace as _replace
from liquid.exceptions import FilterArgumentError, ResourceLimitError
from liquid.undefined import is_undefined

from tidings.clock import current as current_clock

MAX_OUTPUT_CHARS = 1_000_000  # per field, and for any value a filter returns
MAX_ITEMS = 100_000  # sequences a filter takes or returns
MAX_NUMBER_DIGITS = 300  # integer digits of a number a filter takes or returns
_MAX_NUMBER = 10**MAX_NUMBER_DIGITS
RENDER_SECONDS = 2.0  # per call of render_fields

Filter = Callable[..., Any]


class RenderTooSlow(ResourceLimitError):
    """The render went past its deadline."""


class _Clock(threading.local):
    deadline: float = float("inf")
    now: float | None = None  # the send's time, for "now" in date filters


clock = _Clock()


def check_deadline() -> None:
    if time.monotonic() > clock.deadline:
        raise RenderTooSlow(f"template took longer than {RENDER_SECONDS:g}s to render", token=None)


def guarded(func: Filter) -> Filter:
    """`func` with the deadline and the size limits checked around it."""

    @functools.wraps(func)
    def run(left: Any, *args: Any, **kwargs: Any) -> Any:
        check_deadline()
        _check_size(left)
        for arg in args:
            _check_size(arg)
        result = func(left, *args, **kwargs)
        _check_size(result)
        return result

    return run


def _check_size(value: Any) -> None:
    if isinstance(value, str):
        if len(value) > MAX_OUTPUT_CHARS:
            raise ResourceLimitError(
                f"a value is longer than {MAX_OUTPUT_CHARS} characters", token=None
            )
    elif isinstance(value, Sized) and not isinstance(value, dict) and len(value) > MAX_ITEMS:
        raise ResourceLimitError(f"a sequence has more than {MAX_ITEMS} items", token=None)
    elif isinstance(value, int | Decimal) and not -_MAX_NUMBER < value < _MAX_NUMBER:
        # Python's integers grow without bound: `x | times: x` twenty times over
        # would take seconds inside one filter call, out of the deadline's reach.
        raise ResourceLimitError(f"a number has more than {MAX_NUMBER_DIGITS} digits", token=None)


def replace(val: Any, seq: Any = "", sub: Any = "") -> str:
    """Standard `replace`, refused up front when the result would be too long."""
    text, old, new = str(val), str(seq), str(sub)
    count = text.count(old) if old else len(text) + 1
    if len(text) + count * (len(new) - len(old)) > MAX_OUTPUT_CHARS:
        raise ResourceLimitError(
            f"replace would produce more than {MAX_OUTPUT_CHARS} characters", token=None
        )
    return str(_replace(val, seq, sub))


def join(left: Any, separator: Any = " ", *, environment: Any) -> str:
    """Standard `join`, refused as soon as the result would be too long."""
    if isinstance(left, list | tuple | range):
        size = max(len(left) - 1, 0) * len(str(separator))
        for item in left:
            size += len(str(item)) if not isinstance(item, str) else len(item)
            if size > MAX_OUTPUT_CHARS:
                raise ResourceLimitError(
                    f"join would produce more than {MAX_OUTPUT_CHARS} characters", token=None
                )
    return str(_join(left, separator, environment=environment))


join.with_environment = True  # type: ignore[attr-defined]


def date(value: Any, fmt: Any = None, zone: Any = None) -> str:
    """Customer.io's `date`: timestamps, ISO strings and "now", in a time zone."""
    if is_undefined(value) or value is None or value == "":
        return ""
    moment = to_datetime(value)
    if moment is None:
        return str(value)
    moment = moment.astimezone(_zone(zone))
    if fmt is None or is_undefined(fmt):
        return moment.isoformat()
    pattern = str(fmt).replace("%s", str(int(moment.timestamp())))
    return moment.strftime(pattern)


def to_datetime(value: Any) -> datetime | None:
    """A timezone-aware datetime for what templates hold as a time, or None."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        return _from_timestamp(float(value))
    text = str(value).strip()
    if text in ("now", "today"):
        return _from_timestamp(clock.now if clock.now is not None else current_clock().now())
    try:
        return _from_timestamp(float(text))
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _from_timestamp(seconds: float) -> datetime | None:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _zone(zone: Any) -> ZoneInfo:
    if zone is None or is_undefined(zone) or zone == "":
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(str(zone))
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise FilterArgumentError(f"unknown time zone {str(zone)!r}", token=None) from err


def currency(value: Any, locale: Any = "en-us", code: Any = None) -> str:
    """`{{ 10 | currency }}` is `$10.00`; `{{ 10 | currency: "de-de" }}` is `10,00 €`."""
    amount = _decimal(value, "currency")
    where = _locale(locale)
    if code is None or is_undefined(code):
        found = numbers.get_territory_currencies(where.territory or "US")
        code = found[0] if found else "USD"
    if not numbers.is_currency(str(code).upper()):
        raise FilterArgumentError(f"unknown currency {str(code)!r}", token=None)
    return str(numbers.format_currency(amount, str(code).upper(), locale=where))


def format_number(value: Any, locale: Any = "en-us", precision: Any = None) -> str:
    """`{{ 1234.5 | format_number }}` is `1,234.5`; a precision fixes the decimals."""
    amount = _decimal(value, "format_number")
    where = _locale(locale)
    if precision is None or is_undefined(precision):
        return str(numbers.format_decimal(amount, locale=where))
    digits = max(0, min(int(precision), 20))
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return str(numbers.format_decimal(amount, format=pattern, locale=where))


def _decimal(value: Any, name: str) -> Decimal:
    if is_undefined(value) or value is None or value == "" or isinstance(value, bool):
        return Decimal(0)
    try:
        return Decimal(str(value))
    except InvalidOperation as err:
        raise FilterArgumentError(f"{name} expected a number, got {value!r}", token=None) from err


def _locale(tag: Any) -> Locale:
    text = "en-us" if tag is None or is_undefined(tag) else str(tag)
    try:
        return Locale.parse(text.replace("-", "_"))
    except (UnknownLocaleError, ValueError) as err:
        raise FilterArgumentError(f"unknown locale {text!r}", token=None) from err


def titlecase(value: Any) -> str:
    """Every word capitalised, the rest of each word left as it is."""
    return " ".join(word[:1].upper() + word[1:] for word in str(value).split(" "))


def _digest(name: str) -> Filter:
    def digest(value: Any) -> str:
        return hashlib.new(name, _text(value).encode()).hexdigest()

    digest.__name__ = name
    return digest


def _hmac(name: str) -> Filter:
    def sign(value: Any, key: Any = "") -> str:
        return hmac.new(_text(key).encode(), _text(value).encode(), name).hexdigest()

    sign.__name__ = f"hmac_{name}"
    return sign


def _text(value: Any) -> str:
    return "" if is_undefined(value) or value is None else str(value)


def to_json(value: Any) -> str:
    if is_undefined(value):
        value = None
    return msgspec.json.encode(value, enc_hook=str).decode()


CUSTOM: dict[str, Filter] = {
    "replace": replace,
    "join": join,
    "date": date,
    "format_date": date,
    "currency": currency,
    "money": currency,
    "format_number": format_number,
    "titlecase": titlecase,
    "md5": _digest("md5"),
    "sha1": _digest("sha1"),
    "sha256": _digest("sha256"),
    "hmac_sha1": _hmac("sha1"),
    "hmac_sha256": _hmac("sha256"),
    "json": to_json,
}
