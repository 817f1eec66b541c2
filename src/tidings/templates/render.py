"""Liquid rendering of message fields, with Customer.io's variables and limits.

`render_fields` is pure: it renders every string field of a template against a
`Context` and either returns all of them or raises one `ApiError(400)` that
names the template, the field and the line. `context_for` reads what a send's
templates may refer to (the person's attributes, collections, snippets).

Variables, as in Customer.io:

- `customer.<attribute>` (JSON values, plus `id`, `email` and `cio_id`);
- `trigger.<key>` and `message_data.<key>`: the send's `message_data`;
- `event.<key>` (the event's data), `event_name`, `event_id`, `event_timestamp`
  when an event triggered the send;
- `campaign.id`, `campaign.name`, `campaign.action_id`, `campaign.journey_id`
  in a campaign's or broadcast's message;
- each collection by its name (`{{ upcoming_events[0].name }}`), rows read on
  first use, so render inside the transaction `context_for` ran in;
- `snippets.<name>`: a snippet's value, itself rendered as Liquid on first use;
- `unsubscribe_url`, `view_in_browser_url` and `manage_subscription_preferences_url`
  (the person's subscription preferences page), also as the tags
  `{% unsubscribe_url %}`, `{% view_in_browser_url %}` and
  `{% manage_subscription_preferences_url %}`.

Limits, so a hostile template is a 400 and never a hang or a memory blow-up:
`MAX_TEMPLATE_CHARS` of source per field, `MAX_OUTPUT_CHARS` of output per
field and per filtered value, `MAX_LOOP_ITERATIONS` (nested loops multiply),
`MAX_LOCALS_BYTES` of assigned variables, block nesting of 30 and a deadline
of `RENDER_SECONDS` for all fields, checked at every filter call and every
loop iteration.

This module is what callers use; the engine (python-liquid, Customer.io's
tags and filters, the parse cache) is `liquid_engine.py`, imported with the
first template rendered or checked, so a process starts without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

if TYPE_CHECKING:
    from tidings.people.store import Person

MAX_TEMPLATE_CHARS = 512_000
MAX_LOOP_ITERATIONS = 100_000
MAX_LOCALS_BYTES = 4_000_000
MAX_SNIPPET_DEPTH = 5


@dataclass(frozen=True)
class Context:
    customer: dict[str, Any]
    trigger: dict[str, Any]
    event: dict[str, Any] | None = None  # {name, data, id, timestamp}
    campaign: dict[str, Any] | None = None  # a campaign's message: {id, name, action_id, ...}
    collections: Mapping[str, Any] = field(default_factory=dict)
    snippets: dict[str, str] = field(default_factory=dict)
    unsubscribe_url: str | None = None
    view_in_browser_url: str | None = None
    manage_subscription_preferences_url: str | None = None
    now: float | None = None  # the send's time, for "now"; the wall clock if None


def context_for(
    conn: Connection,
    workspace_id: int,
    person_pk: int | Person | None,
    message_data: dict[str, Any],
    *,
    event: dict[str, Any] | None = None,
    campaign: dict[str, Any] | None = None,
    unsubscribe_url: str | None = None,
    view_in_browser_url: str | None = None,
    snippets: dict[str, str] | None = None,
    customer: dict[str, Any] | None = None,
) -> Context:
    """What a send's templates may use, read in the caller's transaction.

    `person_pk` may be the person's row itself, which saves reading it again;
    `snippets` the workspace's and `customer` the person's, when the caller has
    them (else read here).
    """
    from tidings.templates import render_data  # reads the stores; keeps this module pure

    if customer is None:
        customer = render_data.customer(conn, person_pk) if person_pk is not None else {}
    return Context(
        customer=customer,
        trigger=message_data,
        event=event,
        campaign=campaign,
        collections=render_data.Collections(conn, workspace_id),
        snippets=render_data.snippets(conn, workspace_id) if snippets is None else snippets,
        unsubscribe_url=unsubscribe_url,
        view_in_browser_url=view_in_browser_url,
    )


def render_fields(
    fields: Mapping[str, str | None], context: Context, *, template_name: str
) -> dict[str, str | None]:
    """Every string field rendered; the first error is a 400 naming template, field, line."""
    from tidings.templates import liquid_engine

    return liquid_engine.render_fields(fields, context, template_name=template_name)


@dataclass(frozen=True)
class Problem:
    """An error of one field as a preview shows it: where (1-based line and column,
    when Liquid knows them) and what."""

    field: str
    message: str
    line: int | None = None
    column: int | None = None


def render_each(
    fields: Mapping[str, str], context: Context
) -> tuple[dict[str, str], list[Problem]]:
    """Every field rendered as `render_fields` does (same variables, limits and
    deadline), but each on its own: a field that fails is left out of the
    result and its error kept, so a preview shows every error at once rather
    than the first."""
    from tidings.templates import liquid_engine

    return liquid_engine.render_each(fields, context)


def syntax_error(source: str) -> str | None:
    """`line <n>: <error>` for the first Liquid syntax error of `source`, else None.

    What a template is checked for when it is declared; what depends on the
    data (a missing filter argument, a division by zero) shows at send time.
    """
    from tidings.templates import liquid_engine

    return liquid_engine.syntax_error(source)
