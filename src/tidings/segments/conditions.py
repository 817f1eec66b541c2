"""The condition language: JSON in, a small typed tree out (pure, no database).

One language chooses a set of people everywhere: customer search, segments,
export filters. Its core is Customer.io's audience filter (BEHAVIOUR.md 5.4);
everything else is an extension in the same shape. `docs/conditions.md` is the
user-facing description; in short:

    filter := {"and": [filter, ...]} | {"or": [filter, ...]} | {"not": filter}
            | {"segment": {"id": <int>}}
            | {"attribute": {"field": <name>, "operator": <op>, "value": ...}}
            | {"event": {"name"?, "type"?: event|page|screen, "where"?: [test],
                         "count"?: {"gte"?: n, "lte"?: n},
                         "within_last"?: <duration>, "between"?: [<date>, <date>]}}
            | {"page_view": {same as event, without type}}
            | {"device": {"platform"?: <string>}}
            | {"relationship": {"object_type_id": <string>, "object_id"?: <string>}}
    test := {"field": <data key>, "operator": <op>, "value": ...}

Operators: eq, not_eq, exists, contains, starts_with, in (value is a list),
gt, gte, lt, lte, before, after (value is a number, or a date: ISO 8601 or
unix seconds), within_last (a duration: seconds or {"days"|"hours"|"minutes"|
"seconds": n}).

Every object holds exactly one property. Anything else is an `ApiError(400)`
whose `field` is the dotted path of the offending part, starting at the path
the caller names (e.g. `filter.and[1].attribute.operator`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tidings.attributes import render
from tidings.errors import ApiError, bad_request
from tidings.numbers import DOUBLE_RANGE, fits_double

TEXT_OPERATORS = ("eq", "not_eq", "contains", "starts_with")
NUMBER_OPERATORS = ("gt", "gte", "lt", "lte", "before", "after")
OPERATORS = (*TEXT_OPERATORS, "exists", "in", *NUMBER_OPERATORS, "within_last")
EVENT_TYPES = ("event", "page", "screen")
MAX_DEPTH = 16
MAX_LIST = 1000
_UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
_MAX_SECONDS = 2**40


@dataclass(frozen=True)
class Scalar:
    """A value to compare with: the string Customer.io would show, and the number if it was one."""

    text: str
    number: float | None = None


@dataclass(frozen=True)
class Check:
    """One operator and its operand. `values` for text operators and `in`; `bound` for
    numeric/date operators (a number) and `within_last` (seconds)."""

    operator: str
    values: tuple[Scalar, ...] = ()
    bound: float = 0.0


@dataclass(frozen=True)
class Attribute:
    """A test on a person attribute, or (inside `event.where`) on a key of an event's data."""

    field: str
    test: Check


@dataclass(frozen=True)
class Event:
    """People who performed matching events between `count_min` and `count_max` times."""

    type: str
    name: str | None
    where: tuple[Attribute, ...]
    count_min: int = 1
    count_max: int | None = None
    within_last: int | None = None
    between: tuple[int, int] | None = None


@dataclass(frozen=True)
class Device:
    platform: str | None


@dataclass(frozen=True)
class Relationship:
    object_type_id: str
    object_id: str | None


@dataclass(frozen=True)
class InSegment:
    id: int


@dataclass(frozen=True)
class And:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    item: Condition


Condition = And | Or | Not | InSegment | Attribute | Event | Device | Relationship


def _bad(message: str, path: str) -> ApiError:
    """A 400 whose message starts with the path too: the App API body shows only the message."""
    return bad_request(f"{path}: {message}", path)


def parse(value: Any, path: str = "filter") -> Condition:
    """The condition tree of a JSON filter; a 400 naming `path...` for anything invalid."""
    return _node(value, path, 0)


def _node(value: Any, path: str, depth: int) -> Condition:
    if depth > MAX_DEPTH:
        raise _bad(f"conditions nest deeper than {MAX_DEPTH} levels", path)
    key, body = _single(value, path)
    where = f"{path}.{key}"
    if key in ("and", "or"):
        if not isinstance(body, list) or not body or len(body) > MAX_LIST:
            raise _bad(f"{key} must be a non-empty array of conditions", where)
        items = tuple(_node(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(body))
        return And(items) if key == "and" else Or(items)
    if key == "not":
        return Not(_node(body, where, depth + 1))
    parser = _LEAVES.get(key)
    if parser is None:
        raise _bad(f"unknown condition {key!r}", where)
    return parser(_object(body, where), where)


def _single(value: Any, path: str) -> tuple[str, Any]:
    if not isinstance(value, dict) or len(value) != 1:
        raise _bad("a condition must be an object with exactly one property", path)
    return next(iter(value.items()))


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad("must be an object", path)
    return value


def _known(body: dict[str, Any], path: str, allowed: tuple[str, ...]) -> None:
    for key in body:
        if key not in allowed:
            raise _bad(f"unknown property {key!r}", f"{path}.{key}")


def _string(body: dict[str, Any], key: str, path: str, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or value == "":
        raise _bad(f"{key} must be a non-empty string", f"{path}.{key}")
    return value


def _int(value: Any, path: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value < 2**31:
        raise _bad(f"must be an integer of at least {minimum}", path)
    return int(value)


def _segment(body: dict[str, Any], path: str) -> Condition:
    _known(body, path, ("id",))
    return InSegment(_int(body.get("id"), f"{path}.id", 1))


def _attribute(body: dict[str, Any], path: str) -> Attribute:
    _known(body, path, ("field", "operator", "value"))
    field = _string(body, "field", path)
    operator = body.get("operator")
    if operator not in OPERATORS:
        raise _bad(f"operator must be one of: {', '.join(OPERATORS)}", f"{path}.operator")
    assert field is not None
    return Attribute(field, _test(operator, body, path))


def _test(operator: str, body: dict[str, Any], path: str) -> Check:
    where = f"{path}.value"
    value = body.get("value")
    if operator == "exists":
        return Check(operator)
    if operator in TEXT_OPERATORS:
        return Check(operator, (_scalar(value, where),))
    if operator == "in":
        if not isinstance(value, list) or not value or len(value) > MAX_LIST:
            raise _bad(f"value must be a non-empty array of at most {MAX_LIST}", where)
        return Check(operator, tuple(_scalar(v, f"{where}[{i}]") for i, v in enumerate(value)))
    if operator == "within_last":
        return Check(operator, bound=_duration(value, where))
    return Check(operator, bound=_number_or_date(value, where))


def _scalar(value: Any, path: str) -> Scalar:
    if isinstance(value, bool):
        return Scalar("true" if value else "false")
    if isinstance(value, int | float):
        return Scalar(render(value)[0], _double(value, path))
    if isinstance(value, str):
        return Scalar(value)
    raise _bad("value must be a string, number or boolean", path)


def _number_or_date(value: Any, path: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _double(value, path)
    if isinstance(value, str):
        return float(_date(value, path))
    raise _bad("value must be a number or a date (ISO 8601 or unix seconds)", path)


def _double(value: int | float, path: str) -> float:
    """A JSON number as the double comparisons use; one a double cannot hold is a 400."""
    if not fits_double(value):
        raise _bad(f"value is out of range: {DOUBLE_RANGE}", path)
    return float(value)


def _date(value: Any, path: str) -> int:
    """Unix seconds from a number of seconds or an ISO 8601 date (UTC unless it says)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < _MAX_SECONDS:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 13:
        return int(value)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return int(moment.timestamp())
    raise _bad("must be a date: unix seconds or ISO 8601", path)


def _duration(value: Any, path: str) -> int:
    if isinstance(value, dict) and len(value) == 1:
        unit, amount = next(iter(value.items()))
        if unit in _UNITS:
            return _int(amount, f"{path}.{unit}", 1) * _UNITS[unit]
        raise _bad(f"unit must be one of: {', '.join(_UNITS)}", f"{path}.{unit}")
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < _MAX_SECONDS:
        return value
    raise _bad('must be seconds or {"days": n} (or hours, minutes, seconds)', path)


_EVENT_KEYS = ("name", "type", "where", "count", "within_last", "between")


def _event(body: dict[str, Any], path: str, type_: str | None = None) -> Event:
    _known(body, path, _EVENT_KEYS if type_ is None else _EVENT_KEYS[:1] + _EVENT_KEYS[2:])
    kind = type_ or body.get("type", "event")
    if kind not in EVENT_TYPES:
        raise _bad(f"type must be one of: {', '.join(EVENT_TYPES)}", f"{path}.type")
    low, high = _count(body.get("count"), f"{path}.count")
    window = body.get("within_last")
    return Event(
        type=kind,
        name=_string(body, "name", path, required=False),
        where=_where(body.get("where"), f"{path}.where"),
        count_min=low,
        count_max=high,
        within_last=None if window is None else _duration(window, f"{path}.within_last"),
        between=_between(body.get("between"), f"{path}.between"),
    )


def _page_view(body: dict[str, Any], path: str) -> Event:
    return _event(body, path, "page")


def _where(value: Any, path: str) -> tuple[Attribute, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_LIST:
        raise _bad("where must be an array of tests", path)
    tests = tuple(
        _attribute(_object(t, f"{path}[{i}]"), f"{path}[{i}]") for i, t in enumerate(value)
    )
    for i, test in enumerate(tests):
        if '"' in test.field or "\\" in test.field:
            raise _bad("a data key cannot contain quotes or backslashes", f"{path}[{i}].field")
    return tests


def _count(value: Any, path: str) -> tuple[int, int | None]:
    if value is None:
        return 1, None
    body = _object(value, path)
    _known(body, path, ("gte", "lte"))
    if not body:
        raise _bad("count needs gte or lte", path)
    low = _int(body["gte"], f"{path}.gte") if "gte" in body else 0
    high = _int(body["lte"], f"{path}.lte") if "lte" in body else None
    if high is not None and high < low:
        raise _bad("count.lte cannot be below count.gte", f"{path}.lte")
    return low, high


def _between(value: Any, path: str) -> tuple[int, int] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2:
        raise _bad("between must be [start, end]", path)
    start, end = _date(value[0], f"{path}[0]"), _date(value[1], f"{path}[1]")
    if end < start:
        raise _bad("between ends before it starts", f"{path}[1]")
    return start, end


def _device(body: dict[str, Any], path: str) -> Device:
    _known(body, path, ("platform",))
    return Device(_string(body, "platform", path, required=False))


def _relationship(body: dict[str, Any], path: str) -> Relationship:
    _known(body, path, ("object_type_id", "object_id"))
    type_id = body.get("object_type_id")
    if isinstance(type_id, int) and not isinstance(type_id, bool):
        type_id = str(type_id)
    if not isinstance(type_id, str) or not type_id:
        raise _bad("object_type_id must be a non-empty string", f"{path}.object_type_id")
    return Relationship(type_id, _string(body, "object_id", path, required=False))


_LEAVES: dict[str, Callable[[dict[str, Any], str], Condition]] = {
    "segment": _segment,
    "attribute": _attribute,
    "event": _event,
    "page_view": _page_view,
    "device": _device,
    "relationship": _relationship,
}
