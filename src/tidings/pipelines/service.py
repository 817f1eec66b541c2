"""Applying one Pipelines message inside the caller's transaction (never commits).

Who a message is about
----------------------
`userId` names the person with that `id`, created on first mention as the
Track API does (a suppressed id drops the message). `anonymousId` alone names
whoever carries that `anonymous_id` attribute, else the anonymous profile.
With both, track_v2/page/screen/group belong to `userId` and identify joins the
two (below).

The anonymous profile
---------------------
A person row needs an identifier, so an anonymous profile is not a row:

- its events are stored with `person_id` NULL and `anonymous_id` set, as the
  Track API's anonymous events are;
- its group relationships wait under the anonymous id
  (`objects.service.identify_anonymous`);
- its traits wait too: an anonymous identify is logged as an `identify`
  activity with `person_id` NULL whose data holds the traits (pending traits).

An identify with both ids, an alias whose `previousId` is not a known user id,
or an anonymous identify whose traits carry an `email` (which then names the
person, as Customer.io allows) claims the anonymous profile for the person:
a person row holding that `anonymous_id` but no `id` (made from an email
earlier) is merged into the person under Track's merge_customers rules;
pending traits are applied (oldest first, each at its own timestamp, so newer
values already stored win); the `anonymous_id` attribute is set, which adopts
the events of the last 30 days and the relationships
(`people.service.apply_attributes`); every pending identify becomes the
person's (`events.pending`). An `anonymous_id` another person with an `id`
holds is not claimed: it belongs to one person only. Setting `anonymous_id`
through the Track API adopts the pending traits the same way
(`people.service.adopt_anonymous`), so the path a person takes to their
anonymous id does not matter.

Every message is logged on the person (or the anonymous profile) it is about,
in the layout `pipelines.rules` documents, through `pipelines.bulk` as a run
of one: a plain event (track, page, screen) is `bulk.track_run`, and the
dedup and logging rules of the other messages are `bulk`'s too. A messageId
seen before in the workspace drops the message (key `cdp:<messageId>`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, select

from tidings.activity import pending
from tidings.db.schema import attributes, people
from tidings.people import merge, objects
from tidings.people import service as person_service
from tidings.people import store as people_store
from tidings.people.identifiers import Identifier
from tidings.people.store import Person
from tidings.pipelines import bulk, semantic
from tidings.pipelines.parse import Message


def apply(conn: Connection, workspace_id: int, msg: Message, now: int) -> None:
    """Apply one message; a messageId the workspace has seen before drops it.

    A plain event is a run of one for `bulk.track_run`, the form that applies
    runs of them: one implementation of its rules.
    """
    if msg.plain:
        bulk.track_run(conn, workspace_id, [msg.as_plain()], now)
    elif bulk.fresh(conn, workspace_id, [msg.as_plain()], now):
        _APPLY[msg.type](conn, workspace_id, msg, now)


def identify(conn: Connection, workspace_id: int, msg: Message, now: int) -> None:
    """Traits become attributes (Track's identify rules); see the module doc for ids."""
    request = _identify_request(msg.payload, msg.timestamp, now)
    if msg.user_id is not None:
        ident: Identifier | None = Identifier("id", msg.user_id)
    else:
        owner = _anonymous_owner(conn, workspace_id, msg.anonymous_id)
        email = request.body_ids.get("email")
        ident = Identifier("cio_id", owner.cio_id) if owner else _by_email(email)
    if ident is None:
        _log(conn, workspace_id, msg, now, None, msg.anonymous_id)  # pending traits
        return
    person = person_service.identify(conn, workspace_id, ident, request, now)
    if person is None:
        return
    if msg.anonymous_id is not None:
        person = claim_anonymous(conn, person, msg.anonymous_id, now)
    _log(conn, workspace_id, msg, now, person.pk, None)


def track(conn: Connection, workspace_id: int, msg: Message, now: int) -> None:
    """A semantic event acts (`pipelines.semantic`), then is logged like any other
    event, except that it never creates a person just to hold its record."""
    assert msg.semantic is not None  # plain events are `bulk.track_run`'s
    semantic.act(conn, workspace_id, msg.semantic, msg.user_id, now)
    record(conn, workspace_id, msg, now)


def group(conn: Connection, workspace_id: int, msg: Message, now: int) -> None:
    """Upsert the object and relate the person (or anonymous profile) to it."""
    spec = msg.group
    assert spec is not None
    if msg.user_id is not None:
        related = [(Identifier("id", msg.user_id), spec.relationship)]
        objects.identify_object(conn, workspace_id, spec.ref, spec.attributes, related, now)
    elif msg.anonymous_id is not None:
        waiting = [(msg.anonymous_id, spec.relationship)]
        objects.identify_anonymous(conn, workspace_id, spec.ref, spec.attributes, waiting, now)
    else:
        objects.identify_object(conn, workspace_id, spec.ref, spec.attributes, [], now)
    record(conn, workspace_id, msg, now)


def alias(conn: Connection, workspace_id: int, msg: Message, now: int) -> None:
    """Merge `previousId` into `userId`: a known user id under merge_customers rules,
    anything else as an anonymous id the user claims."""
    assert msg.user_id is not None and msg.previous_id is not None
    user = Identifier("id", msg.user_id)
    person = person_service.find_or_create(conn, workspace_id, user, now)
    if person is None:
        return
    previous = Identifier("id", msg.previous_id)
    if people_store.find(conn, workspace_id, previous) is not None:
        merge.merge_people(conn, workspace_id, user, previous, now)
    else:
        person = claim_anonymous(conn, person, msg.previous_id, now)
    _log(conn, workspace_id, msg, now, person.pk, None)


def record(conn: Connection, workspace_id: int, msg: Message, now: int) -> None:
    """Log a message that has acted, on the person or anonymous profile it names
    (`bulk.log_run` without `create`): nothing for a userId that names nobody
    (any more: a User Deleted or User Suppressed event removes the person)."""
    bulk.log_run(conn, workspace_id, [msg.as_plain()], now, create=False)


def claim_anonymous(conn: Connection, person: Person, anonymous_id: str, now: int) -> Person:
    """Make an anonymous profile the person's (see the module doc); returns the person.

    `anonymous_id` is unique to one person: when another person with an `id`
    already holds it, nothing is claimed (as identify refuses to share it).
    """
    workspace_id = person.workspace_id
    me = Identifier("cio_id", person.cio_id)
    for other in _unnamed_holders(conn, workspace_id, anonymous_id, person.pk):
        merge.merge_people(conn, workspace_id, me, Identifier("cio_id", other), now)
    holder = _anonymous_owner(conn, workspace_id, anonymous_id)
    if holder is not None and holder.pk != person.pk:
        return person
    traits = pending.take(conn, workspace_id, anonymous_id, person.pk, now)
    person = person_service.apply_traits(conn, person, traits, now)
    person_service.apply_attributes(conn, person, {"anonymous_id": anonymous_id}, now, now)
    return person


def _identify_request(traits: dict[str, Any], when: int, now: int) -> Any:
    return person_service.parse_identify({**traits, "_timestamp": when}, now)


def _by_email(email: str | None) -> Identifier | None:
    return Identifier("email", email) if email else None


def _anonymous_owner(conn: Connection, workspace_id: int, anonymous_id: Any) -> Person | None:
    return people_store.find_by_attribute(conn, workspace_id, "anonymous_id", anonymous_id)


def _unnamed_holders(
    conn: Connection, workspace_id: int, anonymous_id: str, keep_pk: int
) -> list[str]:
    """cio_ids of other people with this anonymous_id and no `id` (made from an email)."""
    rows = conn.execute(
        select(people.c.cio_id)
        .join(attributes, attributes.c.person_id == people.c.id)
        .where(
            attributes.c.workspace_id == workspace_id,
            attributes.c.name == "anonymous_id",
            attributes.c.value == anonymous_id,
            people.c.id != keep_pk,
            people.c.customer_id.is_(None),
        )
    )
    return [row.cio_id for row in rows]


def _log(
    conn: Connection,
    workspace_id: int,
    msg: Message,
    now: int,
    person_pk: int | None,
    anonymous_id: str | None,
) -> None:
    bulk.log(conn, workspace_id, [(msg.as_plain(), person_pk, anonymous_id)], now)


_APPLY: dict[str, Callable[[Connection, int, Message, int], None]] = {
    "identify": identify,
    "track": track,  # a semantic event
    "group": group,
    "alias": alias,
}
