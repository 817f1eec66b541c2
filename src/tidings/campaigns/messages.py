"""A campaign's messages: queued by a journey's step, composed when they are sent.

`queue` inserts the delivery a message step makes, in the journey's
transaction: its parents (campaign or broadcast, action, journey, trigger
event, trigger) and no payload. The delivery worker composes it right
before sending (`compose`, the `campaign` composer `runtime.wiring` gives
it), as Customer.io renders campaign messages at send time (CAMPAIGNS.md
6): the action's content in the person's language (their `language`
attribute, exact match, else the default), rendered with `customer`,
`event` (the trigger event), `trigger` (a broadcast's data) and `campaign`
(`id`, `name`, `action_id`, `journey_id`), through the same rendering, link
tracking and message building as transactional sends. A message that does
not render fails with the template's error; a person deleted meanwhile
fails too. The composed payload is kept with the sent delivery. A
newsletter's message renders the content chosen when it was queued
(`newsletter_contents.choose`: its test group and language), the
delivery's `content_id`, with its `from_id`, `reply_to_id` and `layout_id`
read as the identities' addresses and the layout's name
(`newsletter_references.py`). An email content naming a Design Studio email
(`design_studio_email_id`) takes that email's subject, preheader, HTML and
text as it is at send time, in the person's language when it has that
translation, under the content's own fields (`rendering.with_design`, as
transactional sends do); the email deleted since fails the message.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import msgspec
from sqlalchemy import Connection, select

from tidings.campaigns import newsletter_contents
from tidings.campaigns import newsletter_references as references
from tidings.campaigns.message_reads import BatchReads
from tidings.campaigns.store import Action, Workflow
from tidings.db import raw
from tidings.db.schema import deliveries
from tidings.errors import ApiError
from tidings.people.identifiers import Identifier
from tidings.people.store import Person
from tidings.providers.base import Webhook, encode
from tidings.reporting import totals
from tidings.reporting.metrics import record_metric
from tidings.sending.delivery_queue import Claimed
from tidings.sending.rendering import (
    Links,
    SendTemplate,
    build_message,
    check_sender,
    render_send,
    with_design,
)
from tidings.sending.request import PushTarget, SendRequest
from tidings.sending.transactional import RETRY_FOR, new_delivery_id
from tidings.templates import render

log = logging.getLogger("tidings.campaigns")

# Message action type -> the delivery's channel.
CHANNELS = {
    "email": "email",
    "sms": "sms",
    "whatsapp": "whatsapp",
    "push": "push",
    "in_app": "in_app",
    "inbox": "inbox",
    "webhook": "webhook",
}
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode

_INSERT = (
    "INSERT INTO deliveries (id, workspace_id, person_id, channel, recipient, created_at,"
    " source, state, options, due_at, expires_at, attempts, updated_at, content_id,"
    " campaign_id, action_id, parent_action_id, broadcast_id, newsletter_id, trigger_id,"
    " journey_id, trigger_event_id) VALUES ({0})"
)


def _options(flow: Workflow, action: Action) -> dict[str, Any]:
    """A message's delivery options: a webhook reaches the unsubscribed too; the others
    carry their campaign's, broadcast's or newsletter's subscription topic, if any
    (checked before the send, `sending/suppression.py`)."""
    options: dict[str, Any] = {"send_to_unsubscribed": action.type == "webhook"}
    topic = flow.definition.get("subscription_topic_id")
    if topic is not None and action.type != "webhook":
        options["subscription_topic_id"] = topic
    return options


def queue(
    conn: Connection,
    flow: Workflow,
    action: Action,
    journey: Any,
    person: Person | None,
    now: int,
) -> str:
    """Insert the delivery of message step `action` for `journey`; its id. A draft
    (`sending_state: draft`) waits for a person to send it; the rest are due now.

    A newsletter's message has `newsletter_id` and the person's variant as
    `content_id` (an A/B test winner's send names the group in the journey's
    context, `test_group`) for parents (no campaign, action or trigger: CAMPAIGNS.md 7.3).
    """
    delivery_id = new_delivery_id()
    draft = action.sending_state == "draft"
    is_broadcast = flow.kind == "broadcast"
    newsletter = flow.kind == "newsletter"
    content_id = (
        newsletter_contents.choose(
            conn,
            flow.id,
            action.id,
            journey.person_id,
            _language(conn, person),
            _decode(journey.context).get("test_group") if journey.context else None,
        )
        if newsletter
        else None
    )
    parents = {
        "campaign_id": None if is_broadcast or newsletter else flow.id,
        "broadcast_id": flow.id if is_broadcast else None,
        "newsletter_id": flow.id if newsletter else None,
        "action_id": None if newsletter else action.id,
        "content_id": content_id,
    }
    values = (
        delivery_id,
        flow.workspace_id,
        journey.person_id,
        CHANNELS[action.type],
        _recipient(action, journey, person)[:255],
        now,
        "campaign",
        "draft" if draft else "queued",
        _encode(_options(flow, action)).decode(),
        None if draft else now,
        now + RETRY_FOR,
        0,
        now,
        content_id,
        parents["campaign_id"],
        parents["action_id"],
        action.parent_id,
        parents["broadcast_id"],
        parents["newsletter_id"],
        None if newsletter else journey.trigger_id,
        journey.id,
        journey.trigger_event_id,
    )
    raw.select_in(conn, _INSERT, [], values)
    totals.add(conn, flow.workspace_id, "created", totals.scopes(parents))
    if draft:
        record_metric(conn, flow.workspace_id, delivery_id, "drafted", now, {}, now=now)
    return delivery_id


def _recipient(action: Action, journey: Any, person: Person | None) -> str:
    """An email's address (the trigger event's `recipient` overrides the person's,
    BEHAVIOUR.md 3.4); other channels find theirs when composed."""
    if action.type != "email":
        return ""
    context = _decode(journey.context) if journey.context else {}
    event = context.get("event") or {}
    data = event.get("data") if isinstance(event, dict) else None
    if isinstance(data, dict) and isinstance(data.get("recipient"), str):
        return str(data["recipient"])
    return (person.email if person is not None else None) or ""


def latest_delivery(conn: Connection, journey_id: int) -> str | None:
    """The journey's most recent message, the one a conversion is attributed to."""
    found = conn.execute(
        select(deliveries.c.id)
        .where(deliveries.c.journey_id == journey_id)
        .order_by(deliveries.c.created_at.desc())
        .limit(1)
    ).scalar()
    return None if found is None else str(found)


# --- composing at send time -----------------------------------------------------------------


@dataclass(frozen=True)
class Composed:
    """A delivery composed for sending: its payload and options, or why it cannot be."""

    payload: str | None = None
    options: dict[str, Any] | None = None
    recipient: str | None = None
    failure: str | None = None
    retry: bool = False  # the failure may pass: try again later


class Composer:
    """The delivery worker's composer for `campaign` deliveries (`base_url`: where this
    server's tracked links point)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def __call__(self, conn: Connection, claimed: Sequence[Claimed]) -> list[Composed]:
        reads = BatchReads(conn, claimed)
        return [self._safely(conn, item, reads) for item in claimed]

    def compose(self, conn: Connection, claimed: Claimed) -> Composed:
        """One delivery (a batch of one)."""
        return self(conn, [claimed])[0]

    def _safely(self, conn: Connection, claimed: Claimed, reads: BatchReads) -> Composed:
        """One delivery's composition; an unexpected error fails that delivery alone
        (logged), never the batch it came in."""
        try:
            return self._compose(conn, claimed, reads)
        except Exception as exc:
            log.exception("composing delivery %s failed", claimed.id)
            return Composed(failure=f"the message could not be composed: {type(exc).__name__}")

    def _compose(self, conn: Connection, claimed: Claimed, reads: BatchReads) -> Composed:
        parents = reads.parents[claimed.id]
        campaign_id = parents.campaign_id or parents.broadcast_id or parents.newsletter_id
        flow = reads.workflow(campaign_id) if campaign_id is not None else None
        person = reads.people.get(claimed.person_id) if claimed.person_id else None
        if flow is None or person is None:
            return Composed(failure="the person or the campaign was deleted before sending")
        context = reads.journey_context(parents.journey_id)
        try:
            content_id, fields = _content(conn, reads, parents, person)
        except ApiError as exc:  # a sender, layout or Design Studio email deleted since
            return Composed(failure=exc.message)
        name = _action_name(flow, parents.action_id)
        campaign = _campaign_scope(flow, parents)
        if claimed.channel == "webhook":
            scope = reads.scope(
                person,
                trigger=context.get("trigger") or {},
                event=context.get("event"),
                campaign=campaign,
            )
            return _webhook(claimed, fields, scope)
        request = _request(claimed, person, fields, context, flow, parents)
        key = reads.secret(person.workspace_id) if claimed.channel == "email" else b""
        if key is None:  # made when the campaign is saved (`store.create`): not yet committed
            return Composed(failure="the workspace has no link-signing secret yet", retry=True)
        links = Links(self.base_url, True, key)
        template = SendTemplate(name, {}, content_id=content_id, send_to_unsubscribed=False)
        try:
            layout = fields.get("layout")
            if layout and claimed.channel == "email":
                body = reads.in_layout(person.workspace_id, layout, request.fields.get("body", ""))
                request = replace(request, fields={**request.fields, "body": body})
            rendered = render_send(
                conn,
                person,
                request,
                template,
                claimed.id,
                links,
                event=context.get("event"),
                campaign=campaign,
                known=reads.known(person),
            )
            check_sender(conn, person.workspace_id, rendered, reads.sender_name)
            message, options = build_message(conn, person, request, rendered, claimed.id, links)
        except ApiError as exc:
            return Composed(failure=exc.message)
        return Composed(
            payload=encode(message).decode(),
            options={**claimed.options, **options},
            recipient=_shown_recipient(message),
        )


def _webhook(claimed: Claimed, fields: dict[str, str], scope: render.Context) -> Composed:
    """A webhook action's request: its URL, body and header values rendered."""
    headers = _decode(fields["headers"]) if fields.get("headers") else {}
    sources = {"url": fields.get("url", ""), "body": fields.get("body", "")}
    sources.update({f"header {name}": value for name, value in headers.items()})
    try:
        rendered = render.render_fields(sources, scope, template_name="webhook")
    except ApiError as exc:
        return Composed(failure=exc.message)
    url = rendered["url"] or ""
    message = Webhook(
        url=url.strip(),
        method=fields.get("method", "post"),
        headers={name: rendered[f"header {name}"] or "" for name in headers},
        body=rendered["body"] or "",
    )
    return Composed(payload=encode(message).decode(), options=claimed.options, recipient=url)


def _content(
    conn: Connection, reads: BatchReads, parents: Any, person: Person
) -> tuple[int | None, dict[str, str]]:
    """The content to render: a newsletter's chosen variant (its sender identities and
    layout read from their ids), else the action's content in the person's language
    (else the default); under its fields, those of the Design Studio email it names,
    in the person's language when the email has that translation (`with_design`)."""
    language = reads.language(person)
    if parents.newsletter_id is not None:
        lookups = reads.references(person.workspace_id)
        stored = reads.content(parents.content_id)
        fields = references.resolved(stored, lookups, strict=True)
        content_id, own = parents.content_id, references.without_ids(fields)
    else:
        contents = reads.contents(parents.action_id)
        content_id, own = contents.get(language) or contents.get("") or (None, {})
    designed = with_design(conn, person.workspace_id, own, language, reads.design_fields)
    return content_id, designed


def _language(conn: Connection, person: Person | None) -> str:
    """The person's `language` attribute, lower-cased ("" without one)."""
    from tidings.people.store import load_attributes

    if person is None:
        return ""
    stored = load_attributes(conn, person.pk).get("language")
    return stored.value.lower() if stored is not None else ""


def _action_name(flow: Workflow, action_id: int | None) -> str:
    if action_id is None:  # a newsletter's message
        return flow.name
    action = flow.actions.get(action_id)
    return f"{flow.name}: {action.name if action is not None else action_id}"


def _campaign_scope(flow: Workflow, parents: Any) -> dict[str, Any]:
    return {
        "id": flow.id,
        "name": flow.name,
        "action_id": parents.action_id,
        "journey_id": None if parents.journey_id is None else str(parents.journey_id),
    }


def _request(
    claimed: Claimed,
    person: Person,
    fields: dict[str, str],
    context: dict[str, Any],
    flow: Workflow,
    parents: Any,
) -> SendRequest:
    fields = dict(fields)
    fields.pop("layout", None)
    recipients: dict[str, str] = {}
    if claimed.channel == "email":
        recipients["to"] = claimed.recipient or "{{ customer.email }}"
        if "bcc" in fields:
            recipients["bcc"] = fields.pop("bcc")
    return SendRequest(
        push=PushTarget(to="all") if claimed.channel == "push" else None,
        channel=claimed.channel,
        identifier=Identifier("cio_id", person.cio_id),
        message_data=context.get("trigger") or {},
        send_to_unsubscribed=False,
        tracked=True,
        fields=fields,
        recipients=recipients,
    )


def _shown_recipient(message: Any) -> str | None:
    to = getattr(message, "to", None)
    if isinstance(to, list):
        return str(to[0]) if to else None
    if isinstance(to, str):
        return to
    token = getattr(message, "token", None)
    return str(token) if token else None
