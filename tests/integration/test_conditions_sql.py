"""Conditions compiled to SQL, on both stores, agree with the Python evaluator.

The fixed tests pin the rules on data written through the real use cases;
the property test writes random people straight into the tables and checks
SQL == Python for every person and every generated condition.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from tests.conftest import new_workspace
from tidings.attributes import render
from tidings.db.schema import (
    attributes,
    devices,
    events,
    objects,
    people,
    relationships,
    segment_members,
    segments,
)
from tidings.events import service as events_service
from tidings.people import devices as people_devices
from tidings.people import service, store
from tidings.people.identifiers import classify
from tidings.segments.compile import facts_of, select_people
from tidings.segments.conditions import OPERATORS, parse
from tidings.segments.evaluate import matches

NOW = 1_700_000_000
DAY = 86400


def found(conn, ws, body):
    """The matching pks by SQL, after checking both phrasings (probes and sets) agree."""
    by_probe, by_sets = (
        list(
            conn.execute(
                select_people(parse(body), ws, NOW, sets=sets).order_by(people.c.id)
            ).scalars()
        )
        for sets in (False, True)
    )
    assert by_probe == by_sets, body
    return by_probe


def agree(conn, ws, body) -> list[int]:
    """The matching person pks by SQL, after checking Python says the same for everyone."""
    condition = parse(body)
    by_sql = found(conn, ws, body)
    everyone = conn.execute(select(people.c.id).where(people.c.workspace_id == ws)).scalars()
    by_python = [pk for pk in sorted(everyone) if matches(condition, facts_of(conn, pk), NOW)]
    assert by_sql == by_python, body
    return by_sql


def _seed_with_services(tx, ws):
    def identify(raw, attrs):
        body = {"email": f"{raw}@x.test", **attrs}
        return tx(service.identify, ws, classify(raw), service.parse_identify(body, NOW), NOW)

    def track(raw, body):
        tx(events_service.track, ws, classify(raw), events_service.parse_event(body), NOW)

    identify("ann", {"plan": "pro", "age": 42, "joined": NOW - 2 * DAY, "vip": True})
    identify("bob", {"plan": "free", "age": "42", "score": 2.5})
    identify("cat", {"plan": "pro-trial", "tags": ["a"]})
    track("ann", {"name": "buy", "data": {"total": 30, "sku": "A-1"}, "timestamp": NOW - DAY})
    track("ann", {"name": "buy", "data": {"total": 5}, "timestamp": NOW - 10 * DAY})
    track("bob", {"name": "buy", "data": {"total": 12.5, "gift": True}, "timestamp": NOW})
    track("cat", {"name": "/pricing", "type": "page", "timestamp": NOW - DAY})
    device = people_devices.parse_device({"id": "tok-1", "platform": "ios"}, token_key="id")
    tx(people_devices.add_to, ws, classify("bob"), device, NOW)


def _pks(query, ws, *raws):
    return [query(store.find, ws, classify(raw)).pk for raw in raws]


def test_rules_on_data_written_by_the_use_cases(db, tx, query, workspace, other_workspace):
    ws = workspace.workspace_id
    _seed_with_services(tx, ws)
    _seed_with_services(tx, other_workspace.workspace_id)
    ann, bob, cat = _pks(query, ws, "ann", "bob", "cat")
    cases = [
        ({"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}, [ann]),
        ({"attribute": {"field": "plan", "operator": "starts_with", "value": "pro"}}, [ann, cat]),
        ({"attribute": {"field": "plan", "operator": "contains", "value": "RO"}}, []),
        ({"attribute": {"field": "age", "operator": "eq", "value": 42}}, [ann, bob]),
        ({"attribute": {"field": "age", "operator": "gt", "value": 41}}, [ann, bob]),
        ({"attribute": {"field": "score", "operator": "lte", "value": 2.5}}, [bob]),
        (
            {"attribute": {"field": "joined", "operator": "within_last", "value": {"days": 3}}},
            [ann],
        ),
        ({"attribute": {"field": "vip", "operator": "eq", "value": True}}, [ann]),
        ({"attribute": {"field": "tags", "operator": "exists"}}, [cat]),
        ({"attribute": {"field": "tags", "operator": "contains", "value": "a"}}, []),
        ({"attribute": {"field": "plan", "operator": "in", "value": ["free", "x"]}}, [bob]),
        ({"not": {"attribute": {"field": "plan", "operator": "not_eq", "value": "pro"}}}, [ann]),
        ({"event": {"name": "buy", "count": {"gte": 2}}}, [ann]),
        ({"event": {"name": "buy", "count": {"lte": 1}}}, [bob, cat]),
        ({"event": {"name": "buy", "within_last": {"days": 2}}}, [ann, bob]),
        ({"event": {"name": "buy", "between": [NOW - 11 * DAY, NOW - 9 * DAY]}}, [ann]),
        ({"event": {"where": [{"field": "total", "operator": "gte", "value": 12.5}]}}, [ann, bob]),
        ({"event": {"where": [{"field": "gift", "operator": "eq", "value": "true"}]}}, [bob]),
        ({"event": {"where": [{"field": "sku", "operator": "contains", "value": "-"}]}}, [ann]),
        ({"page_view": {"name": "/pricing"}}, [cat]),
        ({"device": {"platform": "ios"}}, [bob]),
        ({"device": {"platform": "android"}}, []),
    ]
    with db.reader.connect() as conn:
        for body, expected in cases:
            assert agree(conn, ws, body) == expected, body


def test_relationships_and_segments(db, tx, workspace):
    ws = workspace.workspace_id
    with db.writer.begin() as conn:
        seg = _segments(conn, ws, 1)[0]
        a = _person(conn, ws, {"segments": [0], "relations": [("1", "acme")]}, [seg])
        b = _person(conn, ws, {"relations": [("2", "acme")]}, [seg])
    with db.reader.connect() as conn:
        assert agree(conn, ws, {"segment": {"id": seg}}) == [a]
        assert agree(conn, ws, {"relationship": {"object_type_id": "1"}}) == [a]
        rel = {"relationship": {"object_type_id": "2", "object_id": "acme"}}
        assert agree(conn, ws, rel) == [b]
        assert agree(conn, ws, {"not": {"segment": {"id": seg}}}) == [b]


def test_a_workspace_only_sees_its_own_people(db, tx, workspace, other_workspace):
    _seed_with_services(tx, workspace.workspace_id)
    with db.reader.connect() as conn:
        assert (
            found(
                conn,
                other_workspace.workspace_id,
                {"attribute": {"field": "plan", "operator": "exists"}},
            )
            == []
        )


# --- random people, random conditions -------------------------------------------------

_counter = itertools.count()
SCALARS = ["x", "xy", "yx", "1", "10", 0, 1, 10, -1, 2.5, 100000, True, False, NOW - DAY]
# Texts that look like numbers (as a CSV import stores them), and some that only nearly do.
NUMERIC_TEXTS = ["2.5", "-1", "1e5", "1E+1", str(NOW - 9 * DAY), "-0", "0.0", "007", " 12"]
NOT_NUMBERS = ["12 ", "1.", ".5", "+1", "NaN", "Infinity", "-Infinity", "0x10", "1e0005", "1-2"]
OUT_OF_RANGE = ["1e400", "-1e400", "1e-400", "9" * 400]
# What a store may already hold from before numbers were range-checked at input.
HUGE = [10**400, -(10**400)]
DATA_VALUES = [*SCALARS, *NUMERIC_TEXTS, *NOT_NUMBERS, *OUT_OF_RANGE, {"k": 1}, [1]]
VALUES = [*DATA_VALUES, *HUGE]
NAMES = ["a", "b", "c"]
DATA_KEYS = ["k", "m"]
TIMES = [NOW - 10 * DAY, NOW - 5 * DAY, NOW - DAY, NOW, NOW + DAY]
NUMBERS = [0, 1, -1, 2.5, 10, 100000, NOW - 5 * DAY, -1e300]

scalar = st.sampled_from(SCALARS)
data = st.dictionaries(
    st.sampled_from(DATA_KEYS), st.sampled_from([*DATA_VALUES, None]), max_size=2
)
event_row = st.tuples(
    st.sampled_from(["event", "page", "screen"]),
    st.sampled_from(["buy", "view"]),
    st.sampled_from(TIMES),
    data,
)
person_spec = st.fixed_dictionaries(
    {
        "attributes": st.dictionaries(st.sampled_from(NAMES), st.sampled_from(VALUES), max_size=3),
        "events": st.lists(event_row, max_size=4),
        "platforms": st.lists(st.sampled_from(["ios", "android"]), max_size=2),
        "relations": st.lists(
            st.tuples(st.sampled_from(["1", "2"]), st.sampled_from(["a", "b"])),
            max_size=2,
            unique=True,
        ),
        "segments": st.lists(st.sampled_from([0, 1]), max_size=2, unique=True),
    }
)


def _value_for(operator: str) -> Any:
    if operator in ("eq", "not_eq", "contains", "starts_with"):
        return scalar
    if operator == "in":
        return st.lists(scalar, min_size=1, max_size=3)
    if operator == "within_last":
        return st.builds(lambda d: {"days": d}, st.integers(1, 12))
    return st.sampled_from(NUMBERS)


def _test(fields: list[str]) -> Any:
    def build(field: str, operator: str) -> Any:
        values = st.just(None) if operator == "exists" else _value_for(operator)
        return values.map(
            lambda v: {"field": field, "operator": operator, **({} if v is None else {"value": v})}
        )

    return st.tuples(st.sampled_from(fields), st.sampled_from(OPERATORS)).flatmap(
        lambda t: build(*t)
    )


count = st.one_of(
    st.none(),
    st.builds(lambda n: {"gte": n}, st.integers(0, 3)),
    st.builds(lambda n: {"lte": n}, st.integers(0, 2)),
    st.builds(lambda n, m: {"gte": n, "lte": n + m}, st.integers(0, 2), st.integers(0, 2)),
)


def _event_leaf(name, type_, where, cnt, window, between) -> dict[str, Any]:
    body: dict[str, Any] = {"type": type_, "where": where}
    for key, value in (
        ("name", name),
        ("count", cnt),
        ("within_last", window),
        ("between", between),
    ):
        if value is not None:
            body[key] = value
    return {"event": body}


leaf = st.one_of(
    _test(NAMES).map(lambda t: {"attribute": t}),
    st.builds(
        _event_leaf,
        st.sampled_from([None, "buy", "view"]),
        st.sampled_from(["event", "page", "screen"]),
        st.lists(_test(DATA_KEYS), max_size=2),
        count,
        st.one_of(st.none(), st.builds(lambda d: {"days": d}, st.integers(1, 7))),
        st.sampled_from([None, [NOW - 6 * DAY, NOW], [NOW - DAY, NOW + DAY]]),
    ),
    st.builds(
        lambda p: {"device": {} if p is None else {"platform": p}},
        st.sampled_from([None, "ios", "android"]),
    ),
    st.builds(
        lambda t, o: {
            "relationship": {"object_type_id": t, **({} if o is None else {"object_id": o})}
        },
        st.sampled_from(["1", "2"]),
        st.sampled_from([None, "a", "b"]),
    ),
    st.builds(lambda s: {"segment": {"id": f"SEG{s}"}}, st.sampled_from([0, 1])),
)
condition = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"and": xs}),
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"or": xs}),
        inner.map(lambda x: {"not": x}),
    ),
    max_leaves=6,
)


def _segments(conn, ws, n) -> list[int]:
    ids = []
    for i in range(n):
        row = {
            "workspace_id": ws,
            "name": f"s{i}",
            "description": "",
            "type": "manual",
            "state": "finished",
        }
        result = conn.execute(insert(segments).values(**row, created_at=NOW, updated_at=NOW))
        ids.append(result.inserted_primary_key[0])
    return ids


def _person(conn, ws, spec, segment_ids) -> int:
    n = next(_counter)
    pk = conn.execute(
        insert(people).values(
            workspace_id=ws,
            cio_id=uuid.uuid4().hex[:20],
            customer_id=f"p{n}",
            created_at=NOW,
            updated_at=NOW,
        )
    ).inserted_primary_key[0]
    for name, value in spec.get("attributes", {}).items():
        text, kind = render(value)
        conn.execute(
            insert(attributes).values(
                person_id=pk, workspace_id=ws, name=name, value=text, kind=kind, updated_at=NOW
            )
        )
    for type_, name, ts, body in spec.get("events", []):
        conn.execute(
            insert(events).values(
                workspace_id=ws,
                person_id=pk,
                type=type_,
                name=name,
                timestamp=ts,
                received_at=NOW,
                data=msgspec.json.encode(body).decode(),
            )
        )
    for i, platform in enumerate(spec.get("platforms", [])):
        conn.execute(
            insert(devices).values(
                workspace_id=ws,
                person_id=pk,
                token=f"{pk}-{i}",
                platform=platform,
                last_used=NOW,
                attributes="{}",
                updated_at=NOW,
            )
        )
    for type_id, object_id in spec.get("relations", []):
        _relate(conn, ws, pk, type_id, object_id)
    for index in spec.get("segments", []):
        conn.execute(
            insert(segment_members).values(
                segment_id=segment_ids[index], person_id=pk, workspace_id=ws, added_at=NOW
            )
        )
    return pk


def _relate(conn, ws, pk, type_id, object_id) -> None:
    where = (
        objects.c.workspace_id == ws,
        objects.c.type_id == type_id,
        objects.c.object_id == object_id,
    )
    object_pk = conn.execute(select(objects.c.id).where(*where)).scalar()
    if object_pk is None:
        values = {
            "workspace_id": ws,
            "type_id": type_id,
            "object_id": object_id,
            "cio_object_id": uuid.uuid4().hex[:20],
        }
        object_pk = conn.execute(
            insert(objects).values(**values, attributes="{}", created_at=NOW, updated_at=NOW)
        ).inserted_primary_key[0]
    conn.execute(
        insert(relationships).values(
            workspace_id=ws,
            object_pk=object_pk,
            person_id=pk,
            attributes="{}",
            created_at=NOW,
            updated_at=NOW,
        )
    )


def _with_segments(body: Any, ids: list[int]) -> Any:
    if isinstance(body, dict):
        if set(body) == {"id"} and isinstance(body["id"], str) and body["id"].startswith("SEG"):
            return {"id": ids[int(body["id"][3:])]}
        return {key: _with_segments(value, ids) for key, value in body.items()}
    if isinstance(body, list):
        return [_with_segments(item, ids) for item in body]
    return body


@settings(
    max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    crowd=st.lists(person_spec, min_size=2, max_size=5),
    bodies=st.lists(condition, min_size=1, max_size=4),
)
def test_sql_and_python_agree(db, crowd, bodies):
    ws = new_workspace(db).workspace_id
    with db.writer.begin() as conn:
        ids = _segments(conn, ws, 2)
        for spec in crowd:
            _person(conn, ws, spec, ids)
    with db.reader.connect() as conn:
        for body in bodies:
            agree(conn, ws, _with_segments(body, ids))


# --- numbers: numeric text, near-numbers and values beyond a double ------------------

NUMBER_LIKE = [*NUMERIC_TEXTS, *NOT_NUMBERS, *OUT_OF_RANGE, *HUGE, 0, 1, 2.5, -1, 100000, "x"]
NUMBER_OPERATORS = ("eq", "not_eq", "in", "gt", "gte", "lt", "lte", "before", "after")
number_test = st.tuples(
    st.sampled_from(NAMES),
    st.sampled_from(NUMBER_OPERATORS),
    st.sampled_from([*NUMBERS, 12, 7, 1e5, 1e-300]),
).map(
    lambda t: {
        "attribute": {"field": t[0], "operator": t[1], "value": [t[2]] if t[1] == "in" else t[2]}
    }
)


@settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    crowd=st.lists(
        st.dictionaries(st.sampled_from(NAMES), st.sampled_from(NUMBER_LIKE), max_size=3),
        min_size=3,
        max_size=8,
    ),
    bodies=st.lists(number_test, min_size=3, max_size=6),
)
def test_sql_and_python_agree_on_numbers(db, crowd, bodies):
    """Every stored text, even one no double holds, compares alike (and never raises)."""
    ws = new_workspace(db).workspace_id
    with db.writer.begin() as conn:
        for attrs in crowd:
            _person(conn, ws, {"attributes": attrs}, [])
    with db.reader.connect() as conn:
        for body in bodies:
            agree(conn, ws, body)


def test_numeric_text_and_huge_values_under_the_rule(db, workspace):
    ws = workspace.workspace_id
    with db.writer.begin() as conn:
        pks = {
            value if isinstance(value, str) else f"int{len(str(value))}": _person(
                conn, ws, {"attributes": {"n": value}}, []
            )
            for value in ("1700000000", 1699999999, "2.5e3", "007", " 12", "1e400", 10**400)
        }
    with db.reader.connect() as conn:

        def chosen(operator, value):
            body = {"attribute": {"field": "n", "operator": operator}}
            if value is not None:
                body["attribute"]["value"] = value
            return sorted(name for name, pk in pks.items() if pk in agree(conn, ws, body))

        assert chosen("gt", 1699999999) == ["1700000000"]
        assert chosen("gte", -1e300) == ["1700000000", "2.5e3", "int10"]
        assert chosen("lt", 1e300) == ["1700000000", "2.5e3", "int10"]
        assert chosen("eq", 2500) == ["2.5e3"]
        assert chosen("eq", 7) == []
        assert chosen("within_last", {"days": 1}) == ["1700000000", "int10"]
        assert chosen("exists", None) == sorted(pks)
