"""Segments: reads, and manual ones, whose membership the Track and App APIs edit directly.

Dynamic segments (a condition whose members jobs keep up to date) share these
tables and reads; their creation, updates and builds are in `membership.py`.
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Connection, and_, delete, func, insert, select

from tidings import numbers, paging
from tidings.db.schema import attributes, people, segment_members, segments
from tidings.errors import ApiError, bad_request, not_found
from tidings.people import read
from tidings.people import store as people_store
from tidings.people.identifiers import coerce_id, of_type
from tidings.segments import dirty

MAX_IDS = 1000
MAX_NAME_CHARS = 255
# Customer.io's documented default and maximum page size for membership.
MEMBERSHIP_LIMIT = 1000
MEMBERSHIP_MAX = 30000


def parse_segment_id(raw: str) -> int:
    """A `{segment_id}` path value; anything that cannot be a segment id is a 404."""
    return numbers.path_id(raw, "segment")


def segment_json(row: Any) -> dict[str, Any]:
    """A segment in Customer.io's segmentResponseObject shape.

    `progress` is a percentage while a dynamic segment builds and null once it
    is `finished`, as Customer.io shows; a dynamic segment also carries its
    condition under `conditions` (our extension).
    """
    shown: dict[str, Any] = {
        "id": row.id,
        "deduplicate_id": f"{row.id}:{row.updated_at}",
        "name": row.name,
        "description": row.description,
        "state": row.state,
        "progress": None if row.state == "finished" else (row.progress or 0),
        "type": row.type,
        "tags": msgspec.json.decode(row.tags) if row.tags else None,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
    if row.type == "dynamic" and row.conditions is not None:
        shown["conditions"] = msgspec.json.decode(row.conditions)  # our extension
    return shown


def parse_spec(body: Any, partial: bool = False) -> dict[str, Any]:
    """The fields a `{"segment": {...}}` body sets, validated, as `segments` column values.

    `name` is required unless `partial` (an update); `conditions` is kept as
    given (validated by the caller, which knows the segment) and `tags` become
    JSON text (None for no tags). Unknown keys are ignored, as Customer.io does.
    """
    spec = body.get("segment") if isinstance(body, dict) else None
    if not isinstance(spec, dict):
        raise bad_request('body must be {"segment": {"name": ..., "description": ...}}', "segment")
    fields: dict[str, Any] = {}
    if "name" in spec or not partial:
        fields["name"] = _name(spec.get("name"))
    if "description" in spec or not partial:
        description = spec.get("description", "")
        if not isinstance(description, str):
            raise bad_request("segment.description must be a string", "segment.description")
        fields["description"] = description
    if "tags" in spec:
        tags = spec["tags"]
        if tags is not None and not (
            isinstance(tags, list) and all(isinstance(t, str) for t in tags)
        ):
            raise bad_request("segment.tags must be an array of strings", "segment.tags")
        fields["tags"] = msgspec.json.encode(tags).decode() if tags else None
    if "conditions" in spec:
        fields["conditions"] = spec["conditions"]
    return fields


def _name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise bad_request("segment.name is required", "segment.name")
    if len(name.strip()) > MAX_NAME_CHARS:
        raise bad_request(
            f"segment.name cannot be longer than {MAX_NAME_CHARS} characters", "segment.name"
        )
    return name.strip()


def create_manual(conn: Connection, workspace_id: int, body: Any, now: int) -> dict[str, Any]:
    """A manual segment (members added and removed by the APIs); `conditions` are ignored."""
    fields = parse_spec(body)
    fields.pop("conditions", None)
    result = conn.execute(
        insert(segments).values(
            workspace_id=workspace_id,
            type="manual",
            state="finished",
            created_at=now,
            updated_at=now,
            **fields,
        )
    )
    (segment_id,) = result.inserted_primary_key
    return get(conn, workspace_id, segment_id)


def row_of(conn: Connection, workspace_id: int, segment_id: int) -> Any:
    """The segment's row in this workspace; a 404 when there is none."""
    row = conn.execute(
        select(segments).where(segments.c.workspace_id == workspace_id, segments.c.id == segment_id)
    ).first()
    if row is None:
        raise not_found("segment not found")
    return row


def get(conn: Connection, workspace_id: int, segment_id: int) -> dict[str, Any]:
    return segment_json(row_of(conn, workspace_id, segment_id))


def list_all(conn: Connection, workspace_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(segments).where(segments.c.workspace_id == workspace_id).order_by(segments.c.id)
    )
    return [segment_json(row) for row in rows]


def delete_manual(conn: Connection, workspace_id: int, segment_id: int) -> None:
    """Delete a manual segment and its memberships; data-driven ones are refused (400)."""
    row = row_of(conn, workspace_id, segment_id)
    if row.type != "manual":
        raise bad_request(
            "only manual segments can be deleted through the API; this segment is dynamic"
        )
    remove(conn, segment_id)


def remove(conn: Connection, segment_id: int) -> None:
    """Delete the segment; its memberships go with it (ON DELETE CASCADE), and a build
    still queued for it finds it gone and does nothing (`membership.build_segment`)."""
    conn.execute(delete(segments).where(segments.c.id == segment_id))


def customer_count(conn: Connection, workspace_id: int, segment_id: int) -> int:
    row_of(conn, workspace_id, segment_id)
    return conn.execute(
        select(func.count())
        .select_from(segment_members)
        .where(segment_members.c.segment_id == segment_id)
    ).scalar_one()


def membership(
    conn: Connection, workspace_id: int, segment_id: int, page: paging.PageRequest
) -> dict[str, Any]:
    """`GET /v1/segments/{id}/membership`: members in the order the people were created.

    Keyset-paged on the person's row id. `ids` holds `""` for a member
    without an id, as Customer.io's does; `identifiers` is the fuller answer.
    """
    row_of(conn, workspace_id, segment_id)
    shown_email = and_(attributes.c.person_id == people.c.id, attributes.c.name == "email")
    query = (
        select(
            people.c.id, people.c.customer_id, people.c.email, people.c.cio_id, attributes.c.value
        )
        .select_from(segment_members)
        .join(people, people.c.id == segment_members.c.person_id)
        .outerjoin(attributes, shown_email)
        .where(segment_members.c.segment_id == segment_id)
    )
    if page.after is not None:
        query = query.where(segment_members.c.person_id > page.after[0])
    query = query.order_by(segment_members.c.person_id).limit(page.limit + 1)
    rows, cursor = paging.cut(conn.execute(query).all(), page.limit, lambda row: (row.id,))
    return {
        "segment_id": segment_id,
        "identifiers": [
            {"email": row.value or row.email, "id": row.customer_id, "cio_id": row.cio_id}
            for row in rows
        ],
        "ids": [row.customer_id or "" for row in rows],
        "next": cursor,
    }


def parse_ids(body: Any) -> list[str]:
    ids = body.get("ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not ids:
        raise ApiError(
            400, "ids must be a non-empty array", errors=["ids must be a non-empty array"]
        )
    if len(ids) > MAX_IDS:
        message = f"ids cannot hold more than {MAX_IDS} entries"
        raise ApiError(400, message, errors=[message])
    return [coerce_id(value, "ids") for value in ids]


def change_members(
    conn: Connection,
    workspace_id: int,
    segment_id: int,
    id_type: str,
    ids: list[str],
    now: int,
    add: bool,
) -> None:
    """Add or remove people by identifier; unknown identifiers are ignored."""
    row = conn.execute(
        select(segments.c.type).where(
            segments.c.workspace_id == workspace_id, segments.c.id == segment_id
        )
    ).first()
    if row is None:
        raise ApiError(404, "segment not found", code="not_found")
    if row.type != "manual":
        raise ApiError(
            400,
            "people can only be added to or removed from manual segments",
            errors=["segment is not a manual segment"],
        )
    keys = [of_type(id_type, value, field="ids").key for value in ids]
    people = people_store.find_many(conn, workspace_id, id_type, keys)
    pks = [p.pk for p in people]
    if not pks:
        return
    held = set(
        conn.execute(
            select(segment_members.c.person_id).where(
                segment_members.c.segment_id == segment_id, segment_members.c.person_id.in_(pks)
            )
        ).scalars()
    )
    if add:
        fresh = [
            {
                "segment_id": segment_id,
                "person_id": pk,
                "workspace_id": workspace_id,
                "added_at": now,
            }
            for pk in dict.fromkeys(pks)
            if pk not in held
        ]
        if fresh:
            conn.execute(insert(segment_members), fresh)
            dirty.mark(conn, workspace_id, [row["person_id"] for row in fresh], now)
    elif held:
        conn.execute(
            delete(segment_members).where(
                segment_members.c.segment_id == segment_id, segment_members.c.person_id.in_(held)
            )
        )
        dirty.mark(conn, workspace_id, held, now)


def segments_of(conn: Connection, workspace_id: int, raw: str, id_type: str) -> dict[str, Any]:
    """`GET /v1/customers/{id}/segments`: the segments the person is in, by segment id."""
    person = read.lookup(conn, workspace_id, raw, id_type)
    return {"segments": of_person(conn, person.pk)}


def of_person(conn: Connection, person_pk: int) -> list[dict[str, Any]]:
    """The segments a person is a member of, by segment id."""
    rows = conn.execute(
        select(segments)
        .join(segment_members, segment_members.c.segment_id == segments.c.id)
        .where(segment_members.c.person_id == person_pk)
        .order_by(segments.c.id)
    )
    return [segment_json(row) for row in rows]
