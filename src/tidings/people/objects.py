"""Object use cases: identify, identify_anonymous, delete, and relationships to people.

Each function takes a connection inside a transaction and never commits.
Like the rest of the Track API these are fire-and-forget: an object named
only by an unknown `cio_object_id` (update-only), or a suppressed or unknown
`cio_id` person, is skipped rather than refused. Naming a person or object
by `id`/`email` or `object_type_id`+`object_id` creates it on first mention.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from tidings.objects import relationships, store
from tidings.objects.store import Obj, ObjectRef
from tidings.people import anonymous_locks
from tidings.people import service as people
from tidings.people import store as people_store
from tidings.people.identifiers import Identifier

PeopleRelations = list[tuple[Identifier, dict[str, Any]]]
AnonymousRelations = list[tuple[str, dict[str, Any]]]


def identify_object(
    conn: Connection,
    workspace_id: int,
    ref: ObjectRef,
    attributes: dict[str, Any],
    related: PeopleRelations,
    now: int,
) -> Obj | None:
    """Create or update an object, then relate the people named to it.

    Attribute `null`/`""` removes one; the object's attributes may total at
    most 100 KB (else 400, and nothing of the call is kept).
    """
    obj = store.find_or_create(conn, workspace_id, ref, now)
    if obj is None:
        return None
    if attributes:
        obj = store.set_attributes(conn, obj, attributes, now)
    for ident, attrs in related:
        person = people.find_or_create(conn, workspace_id, ident, now)
        if person is not None:
            relationships.link(conn, obj, workspace_id, now, attrs, person_pk=person.pk)
    return obj


def identify_anonymous(
    conn: Connection,
    workspace_id: int,
    ref: ObjectRef,
    attributes: dict[str, Any],
    related: AnonymousRelations,
    now: int,
) -> Obj | None:
    """identify_object, relating anonymous visitors instead of people.

    A visitor already identified (a person holds that `anonymous_id`
    attribute) is related as that person; otherwise the relationship waits
    under the `anonymous_id` and passes to the person who later claims it. The ids
    are locked first (`people.anonymous_locks`), so an identify claiming one at once
    sees the relationship.
    """
    anonymous_locks.lock(conn, ((workspace_id, anonymous_id) for anonymous_id, _ in related))
    obj = identify_object(conn, workspace_id, ref, attributes, [], now)
    if obj is None:
        return None
    for anonymous_id, attrs in related:
        owner = people_store.find_by_attribute(conn, workspace_id, "anonymous_id", anonymous_id)
        if owner is not None:
            relationships.link(conn, obj, workspace_id, now, attrs, person_pk=owner.pk)
        else:
            relationships.link(conn, obj, workspace_id, now, attrs, anonymous_id=anonymous_id)
    return obj


def delete_object(conn: Connection, workspace_id: int, ref: ObjectRef) -> None:
    """Delete an object and its relationships; an unknown object is a no-op."""
    obj = store.find(conn, workspace_id, ref)
    if obj is not None:
        store.remove(conn, obj)


def relate_people(
    conn: Connection,
    workspace_id: int,
    ref: ObjectRef,
    action: str,
    related: PeopleRelations,
    now: int,
) -> None:
    """The object side of add_relationships / delete_relationships.

    Adding merges relationship attributes into an existing relationship;
    deleting never creates the object or the people it names.
    """
    if action == "add_relationships":
        identify_object(conn, workspace_id, ref, {}, related, now)
        return
    obj = store.find(conn, workspace_id, ref)
    if obj is None:
        return
    for ident, _ in related:
        person = people_store.find(conn, workspace_id, ident)
        if person is not None:
            relationships.unlink(conn, obj, person_pk=person.pk)


def relate_person(
    conn: Connection,
    workspace_id: int,
    ident: Identifier,
    action: str,
    items: list[dict[str, Any]],
    now: int,
) -> None:
    """The person side: relate one person to (or unrelate them from) objects.

    `items` are `{identifiers: {object ids}, relationship_attributes?}`.
    Adding creates the person on first mention; deleting never creates.
    """
    if action == "add_relationships":
        person = people.find_or_create(conn, workspace_id, ident, now)
    else:
        person = people_store.find(conn, workspace_id, ident)
    if person is not None:
        relationships.apply(conn, person, action, items, now)
