"""What a campaign report asks for (pure): its window, channel and uniqueness.

Delivery-metric windows (`parse_window`, BEHAVIOUR.md 5.6), the periods of
`reporting.series`:
- version 1 (the default): `period` and `steps` as transactional metrics
  (`reporting/transactional_metrics.py`), cut in UTC, ending with the
  current period;
- `version=2`: `res` (hours, days, weeks, months or hourly, daily, weekly,
  monthly; days by default), `start` and `end` (unix seconds; `end` defaults
  to now, `start` to as many periods before it as version 1's default) and
  `tz` (an IANA zone, UTC by default): the periods of `tz` from the one
  holding `start` to the one holding `end`, at most `MAX_PERIODS`.
Each version's parameters given to the other are a 400 naming them.

Link metrics take version 1's form only; journey metrics need `start`, `end`
and `resolution` (or `res`), cut in UTC. Every refusal is a 400 naming the
parameter. The `*_QUERY` tuples are what each route declares: the
parameters customerio-node 5.2 sends.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

from tidings.campaigns import local_time
from tidings.errors import bad_request
from tidings.numbers import is_digits
from tidings.reporting import messages, series
from tidings.reporting.series import Periods
from tidings.reporting.transactional_metrics import WINDOW_QUERY
from tidings.reporting.transactional_metrics import parse_window as parse_v1

RESOLUTIONS = {
    **{unit: unit for unit in series.UNITS},
    "hourly": "hours",
    "daily": "days",
    "weekly": "weeks",
    "monthly": "months",
}
DEFAULT_STEPS = {"hours": 24, "days": 45, "weeks": 12, "months": 12}
MAX_PERIODS = 2000
TYPES = ("email", "webhook", "twilio", "whatsapp", "slack", "push", "in_app")
V2_QUERY = ("version", "res", "tz", "start", "end")
# What each report's route declares (the parameters customerio-node sends).
ACTION_QUERY = (*V2_QUERY, *WINDOW_QUERY)
METRICS_QUERY = (*ACTION_QUERY, "type")
LINKS_QUERY = (*WINDOW_QUERY, "unique")
JOURNEY_QUERY = ("start", "end", "res", "resolution")
MESSAGES_QUERY = (
    "start",
    "limit",
    "type",
    "metric",
    "drafts",
    "start_ts",
    "end_ts",
    "get_tracked_responses",  # accepted: Tidings records no tracked responses
)


def parse_window(query: dict[str, str], now: int) -> Periods:
    """The periods a delivery-metrics request asks for (version 1 or 2)."""
    version = query.get("version", "")
    if version not in ("", "1", "2"):
        raise bad_request("version must be 1 or 2", "version")
    if version != "2":
        _refuse(query, V2_QUERY[1:], "needs version=2")
        period, steps = parse_v1(query)
        return series.last(period, steps, now, open_end=True)
    _refuse(query, WINDOW_QUERY, "is a version 1 parameter (use res, start and end)")
    unit = _resolution(query, "res", default="days")
    zone = local_time.zone(query.get("tz") or "UTC")
    if zone.key != (query.get("tz") or "UTC"):
        raise bad_request("tz must be an IANA time zone name, such as America/New_York", "tz")
    end = _time(query, "end", now)
    back = -DEFAULT_STEPS[unit] + 1
    start = _time(query, "start", series.shift(unit, series.start_of(unit, end, zone), back, zone))
    return _between(unit, start, end, zone)


def parse_link_window(query: dict[str, str], now: int) -> Periods:
    """Link metrics take version 1's `period` and `steps` only."""
    period, steps = parse_v1(query)
    return series.last(period, steps, now, open_end=True)


def parse_journey_window(query: dict[str, str]) -> Periods:
    """`start`, `end` and `resolution` (or `res`), all required; periods cut in UTC."""
    for name in ("start", "end"):
        if not query.get(name):
            raise bad_request(f"{name} is required (unix seconds)", name)
    name = "resolution" if query.get("resolution") else "res"
    if not query.get(name):
        raise bad_request("resolution is required (hours, days, weeks or months)", "resolution")
    unit = _resolution(query, name, default="")
    return _between(unit, _time(query, "start", 0), _time(query, "end", 0), UTC)


def parse_unique(query: dict[str, str]) -> bool:
    value = query.get("unique", "false")
    if value not in ("true", "false"):
        raise bad_request("unique must be true or false", "unique")
    return value == "true"


def parse_type(query: dict[str, str]) -> tuple[str, ...] | None:
    """The channels of `type`, or None for every channel."""
    kind = query.get("type", "")
    if not kind:
        return None
    if kind not in TYPES:
        raise bad_request(f"type must be one of: {', '.join(TYPES)}", "type")
    return messages.CHANNELS_OF_TYPE.get(kind, (kind,))


def _refuse(query: dict[str, str], names: Sequence[str], why: str) -> None:
    for name in names:
        if query.get(name):
            raise bad_request(f"{name} {why}", name)


def _resolution(query: dict[str, str], name: str, default: str) -> str:
    unit = RESOLUTIONS.get(query.get(name) or default)
    if unit is None:
        raise bad_request(f"{name} must be one of: {', '.join(RESOLUTIONS)}", name)
    return unit


def _time(query: dict[str, str], name: str, default: int) -> int:
    raw = query.get(name, "")
    if raw == "":
        return default
    if not is_digits(raw) or len(raw) > 12:
        raise bad_request(f"{name} must be a unix timestamp in seconds", name)
    return int(raw)


def _between(unit: str, start: int, end: int, zone: Any) -> Periods:
    if start > end:
        raise bad_request("start must not be after end", "start")
    found = series.between(unit, start, end, zone, MAX_PERIODS)
    if found is None:
        raise bad_request(f"end is more than {MAX_PERIODS} {unit} after start", "end")
    return found
