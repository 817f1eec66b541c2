"""Conditions to SQL: one WHERE clause over `people`, the same code for SQLite and PostgreSQL.

`where_clause(condition, workspace_id, now)` is a boolean expression to put on
a `select(...)` from `people`; `select_people` wraps it. Each leaf is a
correlated EXISTS (or, for event counts, a correlated COUNT) on the table
that holds the fact, always filtered by workspace and keyed by person, so the
per-person indexes serve it: attributes' primary key (person_id, name),
events (person_id, name, timestamp), devices (person_id), relationships
(person_id), segment_members (segment_id, person_id).

The rules are the ones `evaluate.py` states and implements in Python. Where
the two stores differ, a tiny construct compiles per dialect (`_position`
for `contains`, `_data_text`/`_data_kind` to read a key of an event's JSON
data); numbers are read by `sql_number.number_of`, which never casts text
that is not a number in range (PostgreSQL would raise).

`facts_of(conn, person_pk)` loads what the Python evaluator needs for one person.
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import (
    Connection,
    Integer,
    Select,
    String,
    and_,
    case,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from tidings.db.schema import (
    attributes,
    devices,
    events,
    objects,
    people,
    relationships,
    segment_members,
)
from tidings.segments.conditions import (
    EVENT_TYPES,
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
    Scalar,
)
from tidings.segments.evaluate import EventFact, PersonFacts
from tidings.segments.sql_number import number_of

Clause = ColumnElement[bool]


def select_people(
    condition: Condition, workspace_id: int, now: int, *, sets: bool = False
) -> Select[Any]:
    """`SELECT people.id` of everyone in the workspace who matches, unordered."""
    return select(people.c.id).where(
        people.c.workspace_id == workspace_id,
        where_clause(condition, workspace_id, now, sets=sets),
    )


def where_clause(
    condition: Condition, workspace_id: int, now: int, *, sets: bool = False
) -> Clause:
    """A boolean over `people` rows that holds exactly when `evaluate.matches` does.

    Two phrasings, same answers. By default a condition on another table is a
    correlated EXISTS: one index probe per person looked at, right for a few
    people (real-time refreshes) and for pages that stop early (search). With
    `sets=True` it is `people.id IN (SELECT person_id ...)`: one pass over the
    matching index range, then a lookup per match, right when the whole
    workspace is evaluated (segment builds): on 1,000,000 people an attribute
    condition takes about a tenth of the time. Event conditions stay
    correlated in both: their index is per person, and a count per person
    through it beats grouping the whole event log.
    """
    if isinstance(condition, And):
        return and_(*(where_clause(c, workspace_id, now, sets=sets) for c in condition.items))
    if isinstance(condition, Or):
        return or_(*(where_clause(c, workspace_id, now, sets=sets) for c in condition.items))
    if isinstance(condition, Not):
        return not_(where_clause(condition.item, workspace_id, now, sets=sets))
    if isinstance(condition, InSegment):
        return _has(
            segment_members, workspace_id, sets, segment_members.c.segment_id == condition.id
        )
    if isinstance(condition, Attribute):
        named = attributes.c.name == condition.field
        test = check_clause(condition.test, attributes.c.value, attributes.c.kind, now)
        return _has(attributes, workspace_id, sets, named, test)
    if isinstance(condition, Event):
        return _event_clause(condition, workspace_id, now)
    if isinstance(condition, Device):
        platform = [] if condition.platform is None else [devices.c.platform == condition.platform]
        return _has(devices, workspace_id, sets, *platform)
    if isinstance(condition, Relationship):
        return _relationship_clause(condition, workspace_id, sets)
    raise TypeError(f"not a condition: {condition!r}")


def _has(table: Any, workspace_id: int, sets: bool, *conditions: Any) -> Clause:
    """The person has a row in `table` meeting `conditions`."""
    query = select(table.c.person_id if sets else literal(1)).select_from(table)
    return _phrase(query.where(table.c.workspace_id == workspace_id, *conditions), table, sets)


def _phrase(query: Select[Any], table: Any, sets: bool) -> Clause:
    if sets:
        # NOT IN over a list holding NULL would be NULL, not true: keep NULLs out.
        return people.c.id.in_(query.where(table.c.person_id.is_not(None)))
    return query.where(table.c.person_id == people.c.id).exists()


def check_clause(test: Check, text: Any, kind: Any, now: int) -> Clause:
    """One operator on a (text, kind) pair of SQL expressions; NULL kind means absent."""
    if test.operator == "exists":
        return kind.is_not(None)  # type: ignore[no-any-return]
    present = and_(kind.is_not(None), kind != "j")
    op = test.operator
    if op in ("eq", "in"):
        return and_(present, or_(*(_equal(v, text, kind) for v in test.values)))
    if op == "not_eq":
        return and_(present, not_(_equal(test.values[0], text, kind)))
    if op == "contains":
        return and_(present, _position(text, test.values[0].text) > 0)
    if op == "starts_with":
        operand = test.values[0].text
        return and_(present, func.substr(text, 1, len(operand)) == operand)
    return _compare(op, _number(text, kind), test.bound, now)


def _equal(operand: Scalar, text: Any, kind: Any) -> Clause:
    same_text = text == operand.text
    if operand.number is None:
        return same_text  # type: ignore[no-any-return]
    # NULL (no number) must read as false here: `not_eq` negates this.
    return or_(same_text, func.coalesce(_number(text, kind) == operand.number, false()))


def _number(text: Any, kind: Any) -> Any:
    """The value as a double when it spells one (`numbers.number_in`), else NULL.

    Only text that spells a number in range is ever cast, so nothing stored,
    not even a 400-digit number from before input was checked, makes a query fail.
    """
    return case((kind.in_(("n", "s")), number_of(text)), else_=None)


def _compare(op: str, number: Any, bound: float, now: int) -> Clause:
    if op in ("gt", "after"):
        return number > bound  # type: ignore[no-any-return]
    if op == "gte":
        return number >= bound  # type: ignore[no-any-return]
    if op in ("lt", "before"):
        return number < bound  # type: ignore[no-any-return]
    if op == "lte":
        return number <= bound  # type: ignore[no-any-return]
    return and_(number >= now - bound, number <= now)  # within_last


def _event_clause(condition: Event, workspace_id: int, now: int) -> Clause:
    """Counts matching events; `count >= 1` alone (the default) is a plain EXISTS."""
    wanted = [
        events.c.person_id == people.c.id,
        events.c.workspace_id == workspace_id,
        events.c.type == condition.type,
    ]
    if condition.name is not None:
        wanted.append(events.c.name == condition.name)
    if condition.within_last is not None:
        wanted.append(events.c.timestamp.between(now - condition.within_last, now))
    if condition.between is not None:
        wanted.append(events.c.timestamp.between(*condition.between))
    for test in condition.where:
        text, kind = _data_text(events.c.data, test.field), _data_kind(events.c.data, test.field)
        wanted.append(check_clause(test.test, text, kind, now))
    low, high = condition.count_min, condition.count_max
    if low == 1 and high is None:
        return select(literal(1)).select_from(events).where(*wanted).exists()
    if high is not None and high < low:
        return false()
    count = select(func.count()).select_from(events).where(*wanted).scalar_subquery()
    bounds = [count >= low] if low > 0 else []
    if high is not None:
        bounds.append(count <= high)
    return and_(*bounds) if bounds else true()


def _relationship_clause(condition: Relationship, workspace_id: int, sets: bool) -> Clause:
    wanted = [
        objects.c.id == relationships.c.object_pk,
        objects.c.type_id == condition.object_type_id,
    ]
    if condition.object_id is not None:
        wanted.append(objects.c.object_id == condition.object_id)
    column = relationships.c.person_id if sets else literal(1)
    query = select(column).select_from(relationships).join(objects, and_(*wanted))
    query = query.where(relationships.c.workspace_id == workspace_id)
    return _phrase(query, relationships, sets)


class _position(FunctionElement[int]):
    """1-based position of a substring, 0 when absent: instr() / strpos(); both case-sensitive."""

    type = Integer()
    inherit_cache = True


@compiles(_position)
def _position_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    return f"instr({compiler.process(element.clauses, **kw)})"


@compiles(_position, "postgresql")
def _position_pg(element: Any, compiler: Any, **kw: Any) -> str:
    return f"strpos({compiler.process(element.clauses, **kw)})"


class _data_kind(FunctionElement[str]):
    """The kind (s/n/b/j, NULL when missing or null) of a top-level key of JSON text."""

    type = String()
    inherit_cache = True


class _data_text(FunctionElement[str]):
    """The text Customer.io would show for a top-level key of JSON text (scalars only)."""

    type = String()
    inherit_cache = True


def _args(element: Any, compiler: Any, kw: Any) -> tuple[str, str]:
    data, key = (compiler.process(clause, **kw) for clause in element.clauses)
    return data, key


@compiles(_data_kind)
def _data_kind_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    data, key = _args(element, compiler, kw)
    return (
        f"CASE json_type({data}, '$.\"' || {key} || '\"') WHEN 'text' THEN 's' "
        "WHEN 'integer' THEN 'n' WHEN 'real' THEN 'n' WHEN 'true' THEN 'b' "
        "WHEN 'false' THEN 'b' WHEN 'array' THEN 'j' WHEN 'object' THEN 'j' END"
    )


@compiles(_data_kind, "postgresql")
def _data_kind_pg(element: Any, compiler: Any, **kw: Any) -> str:
    data, key = _args(element, compiler, kw)
    return (
        f"CASE jsonb_typeof(CAST({data} AS jsonb) -> {key}) WHEN 'string' THEN 's' "
        "WHEN 'number' THEN 'n' WHEN 'boolean' THEN 'b' WHEN 'array' THEN 'j' "
        "WHEN 'object' THEN 'j' END"
    )


@compiles(_data_text)
def _data_text_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    data, key = _args(element, compiler, kw)
    path = f"'$.\"' || {key} || '\"'"
    return (
        f"CASE json_type({data}, {path}) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
        f"ELSE CAST(json_extract({data}, {path}) AS TEXT) END"
    )


@compiles(_data_text, "postgresql")
def _data_text_pg(element: Any, compiler: Any, **kw: Any) -> str:
    data, key = _args(element, compiler, kw)
    return f"(CAST({data} AS jsonb) ->> {key})"


def facts_of(conn: Connection, person_pk: int) -> PersonFacts:
    """Everything a condition can ask about one person, for `evaluate.matches`.

    Loads the person's whole event history: meant for one person at a time
    (a trigger, a test), not for sets; sets go through `where_clause`.
    """
    by_person = attributes.c.person_id == person_pk
    attrs = conn.execute(
        select(attributes.c.name, attributes.c.value, attributes.c.kind).where(by_person)
    )
    history = conn.execute(
        select(events.c.type, events.c.name, events.c.timestamp, events.c.data).where(
            events.c.person_id == person_pk, events.c.type.in_(EVENT_TYPES)
        )
    )
    platforms = conn.execute(select(devices.c.platform).where(devices.c.person_id == person_pk))
    related = conn.execute(
        select(objects.c.type_id, objects.c.object_id)
        .join(relationships, relationships.c.object_pk == objects.c.id)
        .where(relationships.c.person_id == person_pk)
    )
    member_of = conn.execute(
        select(segment_members.c.segment_id).where(segment_members.c.person_id == person_pk)
    )
    return PersonFacts(
        attributes={name: (value, kind) for name, value, kind in attrs},
        events=tuple(EventFact(t, n, ts, msgspec.json.decode(d)) for t, n, ts, d in history),
        platforms=tuple(platform for (platform,) in platforms),
        relationships=tuple((type_id, object_id) for type_id, object_id in related),
        segments=frozenset(segment_id for (segment_id,) in member_of),
    )
