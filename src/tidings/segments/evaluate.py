"""Evaluate a condition for one person, in Python (pure: the clock is passed in).

The SQL compiler (`compile.py`) answers the same question for a whole
workspace at once; the two must agree on every person, which
`tests/integration/test_conditions_sql.py` checks on generated data. The
shared rules, stated once:

- A value is a (text, kind) pair: the string Customer.io shows and the kind
  `s`, `n`, `b` or `j` (see `attributes.py`). Event data values are
  rendered the same way; a `null` data value counts as absent.
- Every operator except `exists` needs the value present and not an object or
  array (kind `j`): those only ever answer `exists`.
- A value's number: for kinds `n` and `s`, the double its text spells by
  `numbers.number_in` (a JSON number in the double range; `"42"` from a CSV
  import is 42, `"007"`, `" 12"`, `"NaN"` and a 400-digit number are none).
- `eq`, `not_eq`, `in`: text equality; when the operand is a number, a value
  whose number is the same matches too (`5` matches `5.0` and `"5"`).
  `not_eq` needs the value present (use `not` + `eq` for "missing or other").
- `contains`, `starts_with`: case-sensitive, on the text.
- `gt`, `gte`, `lt`, `lte`, `before`, `after`, `within_last`: only values
  with a number take part, compared as IEEE doubles; dates are unix seconds.
  `within_last` means `now - seconds <= value <= now`.
- Events count when type, name (if given), every `where` test on their data
  and the time window (`within_last` as above, `between` inclusive) all hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tidings.attributes import render
from tidings.numbers import number_in
from tidings.segments.conditions import (
    And,
    Attribute,
    Check,
    Condition,
    Device,
    Event,
    InSegment,
    Not,
    Or,
    Relationship,
)

Value = tuple[str, str]  # (text, kind)


@dataclass(frozen=True)
class EventFact:
    type: str
    name: str
    timestamp: int
    data: dict[str, Any]


@dataclass(frozen=True)
class PersonFacts:
    """What a condition can ask about one person (see `compile.facts_of`)."""

    attributes: dict[str, Value] = field(default_factory=dict)
    events: tuple[EventFact, ...] = ()
    platforms: tuple[str, ...] = ()  # one entry per device
    relationships: tuple[tuple[str, str], ...] = ()  # (object type id, object id)
    segments: frozenset[int] = frozenset()


def matches(condition: Condition, facts: PersonFacts, now: int) -> bool:
    """Whether the person these facts describe satisfies `condition` at time `now`."""
    if isinstance(condition, And):
        return all(matches(item, facts, now) for item in condition.items)
    if isinstance(condition, Or):
        return any(matches(item, facts, now) for item in condition.items)
    if isinstance(condition, Not):
        return not matches(condition.item, facts, now)
    if isinstance(condition, InSegment):
        return condition.id in facts.segments
    if isinstance(condition, Attribute):
        return check(condition.test, facts.attributes.get(condition.field), now)
    if isinstance(condition, Event):
        return _event_matches(condition, facts.events, now)
    if isinstance(condition, Device):
        return any(condition.platform in (None, p) for p in facts.platforms)
    if isinstance(condition, Relationship):
        return any(_relates(condition, rel) for rel in facts.relationships)
    raise TypeError(f"not a condition: {condition!r}")


def check(test: Check, value: Value | None, now: int) -> bool:
    """One operator against one value (None when absent)."""
    if value is None:
        return False
    if test.operator == "exists":
        return True
    text, kind = value
    if kind == "j":
        return False
    op = test.operator
    if op in ("eq", "in"):
        return any(_equal(operand.text, operand.number, text, kind) for operand in test.values)
    if op == "not_eq":
        return not _equal(test.values[0].text, test.values[0].number, text, kind)
    if op == "contains":
        return test.values[0].text in text
    if op == "starts_with":
        return text.startswith(test.values[0].text)
    number = number_of(text, kind)
    return number is not None and _compare(op, number, test.bound, now)


def number_of(text: str, kind: str) -> float | None:
    """The number a (text, kind) value stands for in comparisons, if any."""
    return number_in(text) if kind in ("n", "s") else None


def _equal(operand: str, number: float | None, text: str, kind: str) -> bool:
    return text == operand or (number is not None and number_of(text, kind) == number)


def _compare(op: str, value: float, bound: float, now: int) -> bool:
    if op in ("gt", "after"):
        return value > bound
    if op == "gte":
        return value >= bound
    if op in ("lt", "before"):
        return value < bound
    if op == "lte":
        return value <= bound
    return now - bound <= value <= now  # within_last


def _event_matches(condition: Event, events: tuple[EventFact, ...], now: int) -> bool:
    count = sum(1 for event in events if _event_counts(condition, event, now))
    if count < condition.count_min:
        return False
    return condition.count_max is None or count <= condition.count_max


def _event_counts(condition: Event, event: EventFact, now: int) -> bool:
    if event.type != condition.type:
        return False
    if condition.name is not None and event.name != condition.name:
        return False
    if condition.within_last is not None and not (
        now - condition.within_last <= event.timestamp <= now
    ):
        return False
    if condition.between is not None:
        start, end = condition.between
        if not start <= event.timestamp <= end:
            return False
    return all(
        check(test.test, data_value(event.data, test.field), now) for test in condition.where
    )


def data_value(data: dict[str, Any], key: str) -> Value | None:
    """A key of an event's data as a (text, kind) pair; missing or null is None."""
    value = data.get(key)
    return None if value is None else render(value)


def _relates(condition: Relationship, relation: tuple[str, str]) -> bool:
    type_id, object_id = relation
    if type_id != condition.object_type_id:
        return False
    return condition.object_id is None or object_id == condition.object_id
