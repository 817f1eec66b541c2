"""What a claimed batch of campaign messages reads to be composed, in a few statements.

The delivery worker composes a claimed batch in one read transaction
(`messages.Composer`). Read one message at a time, each took some ten
statements (its parents, person, attributes, journey, contents, secret,
snippets, sender identity...) and the batch's composing was the bottleneck
of a broadcast. `BatchReads` reads the deliveries' parents, the people, their
attributes and the journeys' contexts in one statement each for the whole
batch, and what many messages share (a campaign's workflow, an action's
contents, a workspace's secret, snippets, collections and sender identity
names, a layout wrapped around a body, a Design Studio email in a language)
once, on first use. All of it is read in the batch's transaction and kept
only for that batch, so a message sees the store as it was when its batch
was composed, as before; an edit reaches the next batch.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any, NamedTuple

import msgspec
from sqlalchemy import Connection, select

from tidings.campaigns import newsletter_references as references
from tidings.campaigns import store
from tidings.campaigns.newsletter_references import Lookup
from tidings.campaigns.store import Workflow
from tidings.db import raw
from tidings.db.schema import action_contents
from tidings.people import store as people_store
from tidings.people.store import Person
from tidings.reporting import links as tracking
from tidings.sending.delivery_queue import Claimed
from tidings.sending.rendering import design_fields, in_layout
from tidings.templates import render, render_data, senders

CHUNK = 500  # ids per IN list, well within both backends' parameter limits

_decode = msgspec.json.decode
_PARENTS = (
    "SELECT id, campaign_id, broadcast_id, action_id, journey_id, newsletter_id, content_id"
    " FROM deliveries WHERE id IN ({0})"
)
_CONTEXTS = "SELECT id, context FROM journeys WHERE id IN ({0})"


class Parents(NamedTuple):
    campaign_id: int | None
    broadcast_id: int | None
    action_id: int | None  # None for a newsletter's message
    journey_id: int | None
    newsletter_id: int | None
    content_id: int | None  # a newsletter's variant


class BatchReads:
    """The reads of one batch, made in `conn`'s transaction (use it only inside it)."""

    def __init__(self, conn: Connection, claimed: Sequence[Claimed]) -> None:
        self._conn = conn
        self.parents = {
            row[0]: Parents(*row[1:])
            for ids in _chunks([c.id for c in claimed])
            for row in raw.select_in(conn, _PARENTS, [], ids)
        }
        pks = sorted({c.person_id for c in claimed if c.person_id})
        self.people: dict[int, Person] = {}
        self._attributes: dict[int, dict[str, people_store.Stored]] = {}
        for some in _chunks(pks):
            self.people.update(people_store.by_pks(conn, some))
            self._attributes.update(people_store.attributes_of(conn, some))
        journey_ids = sorted({p.journey_id for p in self.parents.values() if p.journey_id})
        self._contexts: dict[int, str] = {
            row[0]: row[1]
            for ids in _chunks(journey_ids)
            for row in raw.select_in(conn, _CONTEXTS, [], ids)
        }
        self._memo: dict[tuple[Any, ...], Any] = {}

    def journey_context(self, journey_id: int | None) -> dict[str, Any]:
        """The journey's context (its trigger event and data), decoded afresh."""
        text = self._contexts.get(journey_id) if journey_id is not None else None
        return dict(_decode(text)) if text else {}

    def language(self, person: Person) -> str:
        """The person's `language` attribute, lower-cased ("" for none)."""
        stored = self._attributes.get(person.pk, {}).get("language")
        return stored.value.lower() if stored is not None else ""

    def known(self, person: Person) -> render.Context:
        """What the person's templates may use (`render.context_for`'s reads): their
        `customer` made afresh, the workspace's collections and snippets shared."""
        workspace_id = person.workspace_id
        return render.Context(
            customer=render_data.customer_of(person, self._attributes.get(person.pk, {})),
            trigger={},
            collections=self._once(("collections", workspace_id), render_data.Collections),
            snippets=self._once(("snippets", workspace_id), render_data.snippets),
        )

    def scope(self, person: Person, **values: Any) -> render.Context:
        return replace(self.known(person), **values)

    def workflow(self, campaign_id: int) -> Workflow | None:
        return self._once(("workflow", campaign_id), store.workflow)  # type: ignore[no-any-return]

    def contents(self, action_id: int) -> dict[str, tuple[int, dict[str, str]]]:
        return self._once(("contents", action_id), store.contents_of)  # type: ignore[no-any-return]

    def content(self, content_id: int | None) -> dict[str, str]:
        """One content's fields by id (a newsletter's variant), once per batch."""
        return self._once(("content", content_id), _content_fields)  # type: ignore[no-any-return]

    def references(self, workspace_id: int) -> dict[str, Lookup]:
        """A newsletter's sender identity and layout lookups by id, each read once per
        batch (`newsletter_references.lookups`)."""
        read = references.lookups(self._conn, workspace_id)
        return {
            key: functools.partial(self._once_by, (key, workspace_id), lookup)
            for key, lookup in read.items()
        }

    def _once_by(self, key: tuple[Any, ...], lookup: Lookup, value: int) -> str | None:
        full = (*key, value)
        if full not in self._memo:
            self._memo[full] = lookup(value)
        return self._memo[full]  # type: ignore[no-any-return]

    def secret(self, workspace_id: int) -> bytes | None:
        return self._once(("secret", workspace_id), tracking.read_secret)  # type: ignore[no-any-return]

    def sender_name(self, conn: Connection, workspace_id: int, address: str) -> str | None:
        """`senders.sender_name_for`, read once per workspace and address."""
        key = ("sender", workspace_id, address)
        if key not in self._memo:
            self._memo[key] = senders.sender_name_for(conn, workspace_id, address)
        return self._memo[key]  # type: ignore[no-any-return]

    def design_fields(
        self, conn: Connection, workspace_id: int, email_id: str, language: str | None
    ) -> dict[str, str]:
        """`rendering.design_fields`, once per email and language (its error each time)."""
        key = ("design", workspace_id, email_id, language)
        if key not in self._memo:
            self._memo[key] = design_fields(conn, workspace_id, email_id, language)
        return self._memo[key]  # type: ignore[no-any-return]

    def in_layout(self, workspace_id: int, name: str, body: str) -> str:
        """`rendering.in_layout`, once per layout and body (its error each time)."""
        key = ("layout", workspace_id, name, body)
        if key not in self._memo:
            self._memo[key] = in_layout(self._conn, workspace_id, name, body)
        return self._memo[key]  # type: ignore[no-any-return]

    def _once(self, key: tuple[Any, ...], read: Any) -> Any:
        if key not in self._memo:
            self._memo[key] = read(self._conn, key[1])
        return self._memo[key]


def _content_fields(conn: Connection, content_id: int | None) -> dict[str, str]:
    if content_id is None:
        return {}
    text = conn.execute(
        select(action_contents.c.fields).where(action_contents.c.id == content_id)
    ).scalar()
    return dict(_decode(text)) if text else {}


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]
