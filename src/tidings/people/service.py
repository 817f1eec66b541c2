"""People use cases: identify, delete, suppress, unsuppress.

Each function takes an open connection inside a transaction and never commits:
the caller (the group-commit writer, the CLI, a job) owns the transaction.
Semantics follow Customer.io's Track API: fire-and-forget writes, where
conflicts and suppressed identifiers are accepted and dropped, not refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from tidings.activity import log as activity_log
from tidings.activity import pending
from tidings.attributes import check_attributes, is_removal, render
from tidings.db.schema import suppressions
from tidings.errors import bad_request
from tidings.objects import relationships
from tidings.people import anonymous_locks, bulk, store
from tidings.people.anonymous_locks import AnonymousId
from tidings.people.identifiers import CLIENT_KINDS, Identifier, check_id, of_type
from tidings.people.store import Person
from tidings.timestamps import optional_seconds

# Keys of an identify body that steer the call rather than being attributes.
CONTROL_KEYS = frozenset({"_timestamp", "timestamp", "_update", "cio_relationships", "cio_id"})


@dataclass
class IdentifyRequest:
    """A parsed identify: the attributes to set and how to apply them."""

    attributes: dict[str, Any]
    timestamp: int
    update_only: bool = False
    body_ids: dict[str, str] = field(default_factory=dict)  # "id"/"email" from the body
    body_cio_id: Identifier | None = None  # a cio_id the body names (Ruby sends one)
    relationships: Any = None


def parse_identify(body: dict[str, Any], now: int) -> IdentifyRequest:
    """Validate an identify body (v1 flat form) against the documented limits."""
    attrs = {k: v for k, v in body.items() if k not in CONTROL_KEYS}
    attrs = _expand_dotted_preferences(attrs)
    check_attributes(attrs)
    ts = body.get("_timestamp", body.get("timestamp"))
    body_ids: dict[str, str] = {}
    for kind in ("id", "email"):
        value = attrs.get(kind)
        if is_removal(value):
            continue
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise bad_request(f"{kind} attribute must be a string value", kind)
        body_ids[kind] = str(value)
        check_id(body_ids[kind], kind)
        attrs[kind] = body_ids[kind]
    cio_id = body.get("cio_id")
    return IdentifyRequest(
        attributes=attrs,
        timestamp=_timestamp(ts, now),
        update_only=_update_only(body.get("_update", False)),
        body_ids=body_ids,
        body_cio_id=None if is_removal(cio_id) else of_type("cio_id", cio_id, field="cio_id"),
        relationships=body.get("cio_relationships"),
    )


def _update_only(value: Any) -> bool:
    """`_update` is a boolean in Customer.io's schema; `"true"` or `1` would silently create."""
    if not isinstance(value, bool):
        raise bad_request("_update must be a boolean", "_update")
    return value


def _timestamp(value: Any, now: int) -> int:
    seconds = optional_seconds(value, "_timestamp")
    return now if seconds is None else seconds


def _expand_dotted_preferences(attrs: dict[str, Any]) -> dict[str, Any]:
    """`cio_subscription_preferences.topics.topic_1: true` sets one topic."""
    dotted = [k for k in attrs if k.startswith("cio_subscription_preferences.")]
    if not dotted:
        return attrs
    prefs = attrs.get("cio_subscription_preferences")
    merged: dict[str, Any] = dict(prefs) if isinstance(prefs, dict) else {}
    for key in dotted:
        node = merged
        *path, leaf = key.split(".")[1:]
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = attrs.pop(key)
    attrs["cio_subscription_preferences"] = merged
    return attrs


def identify(
    conn: Connection, workspace_id: int, ident: Identifier, req: IdentifyRequest, now: int
) -> Person | None:
    """Create or update a person; returns them, or None when the call is dropped.

    `req` is left as it was given: the writer may run a use case twice. An
    `anonymous_id` it sets is locked first (`anonymous_ids`), as the anonymous events
    it adopts are.
    """
    anonymous_locks.lock(conn, anonymous_ids(workspace_id, req))
    req = replace(req, attributes=dict(req.attributes))
    idents = [ident] + [Identifier(k, v) for k, v in req.body_ids.items()]  # type: ignore[arg-type]
    if store.is_suppressed(conn, workspace_id, idents):
        return None
    person = resolve_for_identify(conn, workspace_id, ident, req)
    if person is None:
        return None
    person = _reconcile_identifiers(conn, person, ident, req, now)
    _keep_anonymous_id_unique(conn, person, req, now)
    apply_attributes(conn, person, req.attributes, req.timestamp, now)
    if req.relationships is not None:
        relationships.apply_v1(conn, person, req.relationships, now)
    return person


def claimed_anonymous_id(req: IdentifyRequest) -> str | None:
    """The anonymous id an identify claims: its `anonymous_id` attribute, as stored."""
    value = req.attributes.get("anonymous_id")
    return None if is_removal(value) else render(value)[0]


def anonymous_ids(workspace_id: int, req: IdentifyRequest) -> list[AnonymousId]:
    """What `identify` locks before it looks up the holder of the anonymous id it claims
    and adopts the id's events (`people.anonymous_locks`)."""
    claimed = claimed_anonymous_id(req)
    return [(workspace_id, claimed)] if claimed else []


def resolve_for_identify(
    conn: Connection, workspace_id: int, ident: Identifier, req: IdentifyRequest
) -> Person | None:
    """The person an identify is about, created if nobody matches (unless `_update`).

    An unknown cio_id, in the path or the body, drops the call.
    """
    named = store.find(conn, workspace_id, req.body_cio_id) if req.body_cio_id else None
    if req.body_cio_id is not None and named is None:
        return None
    person = store.find(conn, workspace_id, ident)
    if person is not None or ident.kind == "cio_id":
        return person
    if named is not None:
        return named
    for kind, value in req.body_ids.items():
        if kind != ident.kind:
            owner = store.find(conn, workspace_id, Identifier(kind, value))  # type: ignore[arg-type]
            if owner is not None:
                return owner
    if req.update_only:
        return None
    ids = {**req.body_ids, ident.kind: ident.value}
    return store.create(conn, workspace_id, req.timestamp, ids.get("id"), ids.get("email"))


def _reconcile_identifiers(
    conn: Connection, person: Person, ident: Identifier, req: IdentifyRequest, now: int
) -> Person:
    """Give the person the identifiers the call names, unless someone else holds them.

    An identifier taken by another person is an "attribute update failure":
    the call still succeeds, the change is recorded as failed and skipped.
    Removing the `email` (or, through the cio_id, the `id`) attribute removes
    that identifier too, so attributes and identifiers never disagree.
    """
    wanted = dict(req.body_ids)
    if ident.kind != "cio_id":
        _keep_path_identifier(conn, person, ident, req, now)
        wanted[ident.kind] = ident.value
    for kind, value in wanted.items():
        current = person.customer_id if kind == "id" else person.email
        key = value.lower() if kind == "email" else value
        if current == key:
            req.attributes.setdefault(kind, value)
            continue
        if kind == "id" and current is not None and ident.kind == "email":
            _fail(conn, person, kind, value, "an id can only be changed by cio_id", now)
            req.attributes.pop(kind, None)
            continue
        other = store.find(conn, person.workspace_id, Identifier(kind, value))  # type: ignore[arg-type]
        if other is not None and other.pk != person.pk:
            _fail(conn, person, kind, value, f"{kind} already belongs to another person", now)
            req.attributes.pop(kind, None)
            continue
        person = store.set_identifier(conn, person, kind, value)
        req.attributes.setdefault(kind, value)
    return _remove_identifiers(conn, person, ident, req, now)


def _keep_path_identifier(
    conn: Connection, person: Person, ident: Identifier, req: IdentifyRequest, now: int
) -> None:
    """The id or email a call addresses someone by is not renamed by that same call.

    Renaming takes the `cio_<cio_id>` path; another value in the body is an
    attribute update failure, and the attribute keeps matching the identifier.
    """
    if ident.kind not in req.attributes:
        return
    asked = req.attributes[ident.kind]  # a string unless it asks for removal
    if not is_removal(asked) and Identifier(ident.kind, asked).key == ident.key:
        return
    reason = f"{ident.kind} can only be changed by cio_id"
    _fail(conn, person, ident.kind, asked or "", reason, now)
    req.attributes[ident.kind] = ident.value


def _remove_identifiers(
    conn: Connection, person: Person, ident: Identifier, req: IdentifyRequest, now: int
) -> Person:
    """`email: null` (or "") drops the email identifier; an id is dropped only via cio_id."""
    for kind in ("id", "email"):
        held = person.customer_id if kind == "id" else person.email
        if kind == ident.kind or held is None or not is_removal(req.attributes.get(kind, held)):
            continue
        if kind == "id" and ident.kind != "cio_id":
            _fail(conn, person, kind, "", "an id can only be changed by cio_id", now)
            req.attributes.pop(kind)
            continue
        person = store.set_identifier(conn, person, kind, None)
    return person


def _keep_anonymous_id_unique(
    conn: Connection, person: Person, req: IdentifyRequest, now: int
) -> None:
    """An anonymous_id links one person's anonymous events: another's is not taken over."""
    value = req.attributes.get("anonymous_id")
    if is_removal(value):
        return
    shown = render(value)[0]
    holder = store.find_by_attribute(conn, person.workspace_id, "anonymous_id", shown)
    if holder is not None and holder.pk != person.pk:
        reason = "anonymous_id already belongs to another person"
        _fail(conn, person, "anonymous_id", shown, reason, now)
        req.attributes.pop("anonymous_id")


def _fail(conn: Connection, person: Person, kind: str, value: str, reason: str, now: int) -> None:
    activity_log.append(
        conn,
        person.workspace_id,
        person_pk=person.pk,
        type="failed_attribute_change",
        name=kind,
        timestamp=now,
        received_at=now,
        data={"attribute": kind, "to": value, "reason": reason},
    )


def apply_attributes(
    conn: Connection, person: Person, values: dict[str, Any], ts: int, now: int
) -> dict[str, tuple[str | None, str | None]]:
    """Merge attributes into a person and log the changes as one activity."""
    if not values:
        return {}
    current = store.load_attributes(conn, person.pk)
    changes = store.put_attributes(conn, person, current, values, ts)
    if not changes:
        return changes
    store.touch(conn, person, now)
    activity_log.append(
        conn,
        person.workspace_id,
        person_pk=person.pk,
        type="attribute_change",
        name="",
        timestamp=ts,
        received_at=now,
        data={"attributes": {k: {"from": a, "to": b} for k, a, b in _triples(changes)}},
    )
    anonymous = changes.get("anonymous_id")
    if anonymous is not None and anonymous[1] is not None:
        adopt_anonymous(conn, person, anonymous[1], now)
    return changes


def _triples(changes: dict[str, tuple[str | None, str | None]]):  # type: ignore[no-untyped-def]
    return ((k, a, b) for k, (a, b) in changes.items())


def adopt_anonymous(conn: Connection, person: Person, anonymous_id: str, now: int) -> None:
    """Make an anonymous visitor's events, relationships and pending traits the person's.

    Pending traits (`events.pending`) apply oldest first, each at its own
    timestamp, so attributes the person set later keep their values.
    """
    traits = pending.take(conn, person.workspace_id, anonymous_id, person.pk, now)
    activity_log.adopt_anonymous(conn, person.workspace_id, anonymous_id, person.pk, now)
    relationships.adopt_anonymous(conn, person, anonymous_id)
    apply_traits(conn, person, traits, now)


def apply_traits(conn: Connection, person: Person, traits: pending.Traits, now: int) -> Person:
    """Identify the person with each (timestamp, traits), in order; returns them as they end.

    An attribute already stored at a trait's second or later keeps its value:
    what the person said when taking the anonymous id beats a trait of that
    same second. Among the traits, the later one wins as usual.
    """
    me = Identifier("cio_id", person.cio_id)
    stored = store.load_attributes(conn, person.pk) if traits else {}
    for when, values in traits:
        kept = {k: v for k, v in values.items() if k not in stored or stored[k].updated_at < when}
        request = parse_identify({**kept, "_timestamp": when}, now)
        person = identify(conn, person.workspace_id, me, request, now) or person
    return person


def find_or_create(
    conn: Connection, workspace_id: int, ident: Identifier, now: int, cio_id: str | None = None
) -> Person | None:
    """The person a write names, created on first mention (as Customer.io does for ids),
    with `cio_id` when one was chosen ahead.

    Returns None when the identifier is suppressed or is an unknown cio_id.
    `people.bulk.find_or_create_many` is the same for many; a new person gets
    the same rows (`people.bulk.new_person_row`, `record_first_mentions`).
    """
    if store.is_suppressed(conn, workspace_id, [ident]):
        return None
    person = store.find(conn, workspace_id, ident)
    if person is not None or ident.kind not in CLIENT_KINDS:
        return person
    row = bulk.new_person_row(workspace_id, ident, now, cio_id)
    made = store.insert_person(conn, row)
    if made is not None:
        bulk.record_first_mentions(conn, workspace_id, [(made.pk, ident)], now)
        return made
    # Created meanwhile by another process: an existing person named, like any other.
    person = store.created_meanwhile(conn, row)
    apply_attributes(conn, person, {ident.kind: ident.value}, now, now)
    return person


def delete_person(conn: Connection, workspace_id: int, ident: Identifier) -> None:
    """Remove a person and all their data; a later identify creates them afresh."""
    person = store.find(conn, workspace_id, ident)
    if person is not None:
        store.remove(conn, person)


def suppress(conn: Connection, workspace_id: int, ident: Identifier, now: int) -> None:
    """Delete the person and block their identifiers until unsuppressed."""
    person = store.find(conn, workspace_id, ident)
    blocked = [i for i in (person.identifiers() if person else [ident]) if i.kind in CLIENT_KINDS]
    cio_id = person.cio_id if person else None
    for item in blocked:
        conn.execute(
            delete(suppressions).where(
                suppressions.c.workspace_id == workspace_id,
                suppressions.c.kind == item.kind,
                suppressions.c.value == item.key,
            )
        )
        conn.execute(
            insert(suppressions).values(
                workspace_id=workspace_id,
                kind=item.kind,
                value=item.key,
                cio_id=cio_id,
                created_at=now,
            )
        )
    if person is not None:
        store.remove(conn, person)


def unsuppress(conn: Connection, workspace_id: int, ident: Identifier) -> None:
    """Make a suppressed identifier (and its suppressed partner) usable again."""
    scope = suppressions.c.workspace_id == workspace_id
    if ident.kind == "cio_id":
        conn.execute(delete(suppressions).where(scope, suppressions.c.cio_id == ident.key))
        return
    row = conn.execute(
        select(suppressions.c.cio_id).where(
            scope, suppressions.c.kind == ident.kind, suppressions.c.value == ident.key
        )
    ).first()
    if row is None:
        return
    if row.cio_id is not None:
        conn.execute(delete(suppressions).where(scope, suppressions.c.cio_id == row.cio_id))
    else:
        conn.execute(
            delete(suppressions).where(
                scope, suppressions.c.kind == ident.kind, suppressions.c.value == ident.key
            )
        )
