"""The workspace's activity log as the web UI shows it ("did my event arrive?").

`browse(conn, workspace_id, query, person)` names the person filter as a
person types it (an id, an email, or `cio_` and a cio_id; `classify` tells
them apart, as a `/customers/{identifier}` path does), reads one page of
`activity.browse.recent` and says who each entry belongs to. Text that
names no person is taken as an anonymous id (a visitor's events before an
identify); another workspace's person does not exist here.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import msgspec
from sqlalchemy import Connection

from tidings import paging
from tidings.activity import browse as log
from tidings.people import store
from tidings.people.identifiers import classify


def browse(conn: Connection, workspace_id: int, q: log.LogQuery, person: str) -> dict[str, Any]:
    """`{"entries": [...], "next": cursor or "", "window_ended": bool, "person_found": bool}`;
    `person_found` is false when the text was taken as an anonymous id."""
    found = store.find(conn, workspace_id, classify(person)) if person else None
    if found is not None:
        q = replace(q, person_pk=found.pk)
    elif person:
        q = replace(q, anonymous_id=person)
    page = log.recent(conn, workspace_id, q)
    owners = store.by_pks(conn, sorted({e.person_pk for e in page.entries if e.person_pk}))
    return {
        "entries": [_shown(entry, owners.get(entry.person_pk or 0)) for entry in page.entries],
        "next": paging.encode_cursor(page.next) if page.next else "",
        "window_ended": page.window_ended,
        "person_found": found is not None or not person,
    }


def _shown(entry: log.Entry, owner: store.Person | None) -> dict[str, Any]:
    try:
        data = msgspec.json.format(entry.data, indent=2)
    except msgspec.DecodeError:
        data = entry.data
    return {
        "id": entry.id,
        "type": entry.type,
        "name": entry.name,
        "timestamp": entry.timestamp,
        "received_at": entry.received_at,
        "person": None
        if owner is None
        else {"id": owner.customer_id, "email": owner.email, "cio_id": owner.cio_id},
        "anonymous_id": entry.anonymous_id,
        "data": data,
    }
