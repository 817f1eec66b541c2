"""Accept one transactional send and queue its delivery, in two halves.

`prepare_send` composes the send in a read transaction: it finds the person
(or composes the one to create), resolves the template, renders every field
through Liquid (a template error is the request's 400, never a failed
delivery later) and builds the outbound message. `send_prepared`, the write,
only re-checks the person (creating them when new), creates an auto-created
template or a push `custom_device`, and inserts the delivery row; it renders
no template: a send whose person changed after its read is refused with
`StaleSend`, and the HTTP path composes it again (`api/send.py`). See
`prepare_send` for what the split changes, which is nothing a client can
tell apart from a send racing a concurrent change. `send_transactional` is
the two on one connection, for callers with no writer to keep free. The
delivery worker sends the delivery after the commit; the caller answers only
once this committed.

Decisions where Customer.io leaves room:
- a send to an identifier that is suppressed is accepted and recorded as
  `suppressed` at once (as for unsubscribed people, BEHAVIOUR.md 5.1);
  an unknown `cio_id` is a 400 (nobody to create);
- one delivery per send, as Customer.io: a push to `all` devices is one
  delivery sent to each device the person had when the send was accepted,
  and counts as sent when any device took it;
- `queue_draft` stores the rendered delivery as `draft`, never sent;
- `disable_message_retention` keeps the payload only until the delivery
  reaches its final state.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from typing import Any

import msgspec
from sqlalchemy import Connection

from tidings.db import raw
from tidings.errors import ApiError, bad_request
from tidings.people import devices as people_devices
from tidings.people import service as people
from tidings.people import store
from tidings.people.identifiers import Identifier
from tidings.people.store import Person
from tidings.providers.base import Email, Outbound, Push, Sms, encode
from tidings.reporting import links
from tidings.reporting.metrics import record_metric
from tidings.sending import suppression, workspace_cache
from tidings.sending.rendering import (
    Links,
    SendTemplate,
    build_message,
    check_sender,
    render_send,
    resolve_template,
)
from tidings.sending.request import SendRequest
from tidings.templates import render, render_data, transactional_messages

# Transient failures are retried for this long after the delivery was due.
RETRY_FOR = 24 * 3600
_encode_json = msgspec.json.Encoder().encode


def new_delivery_id() -> str:
    """Opaque, unguessable and URL-safe (it appears in unsubscribe links): 128 random bits."""
    return secrets.token_urlsafe(16)


def send_transactional(
    conn: Connection,
    workspace_id: int,
    request: SendRequest,
    delivery_id: str,
    base_url: str,
    now: int,
) -> dict[str, Any]:
    """The whole send in one transaction, for callers with no writer to keep free (tests,
    benchmarks): `prepare_send` then `send_prepared` on the same connection, so the
    write sees what the read saw. A workspace's first email has its tracking
    secret made here, in this transaction, before the send is composed again."""
    args = (workspace_id, request, delivery_id, base_url, now)
    try:
        prepared = prepare_send(conn, *args)
    except NoSecretYet:
        links.secret(conn, workspace_id, now)
        prepared = prepare_send(conn, *args)
    return send_prepared(conn, *args, prepared)


@dataclass(frozen=True)
class Prepared:
    """A send composed ahead of its write: its fields rendered, and its message built
    unless the write must first store what it is built from (a push `custom_device`)."""

    person: Person  # pk 0 when the write is to create them, with this cio_id
    template: SendTemplate  # `to_create`: the write creates it (`auto_create`)
    links: Links
    rendered: dict[str, str | None]
    built: tuple[Outbound, dict[str, Any]] | None = None

    @property
    def creates_person(self) -> bool:
        return self.person.pk == 0


class NoSecretYet(Exception):
    """The workspace has no tracking secret to sign an email's links: make it
    (`links.secret`, a write) and compose the send again."""


class StaleSend(ApiError):
    """The person or the template a prepared send names changed between its read and
    its write: compose it again (the HTTP path does, `api/send.py`)."""

    def __init__(self) -> None:
        super().__init__(409, "the person changed while the send was composed", code="conflict")


def prepare_send(
    conn: Connection,
    workspace_id: int,
    request: SendRequest,
    delivery_id: str,
    base_url: str,
    now: int,
) -> Prepared | None:
    """Compose a send in a READ transaction, so the writer only inserts it.

    Everything that takes time (template, snippets, attributes, rendering,
    tracked links, the sender check) happens here, outside the single writer
    thread, and every error it finds is raised here: a template that does not
    render never reaches the writer (`ApiError`, the request's 400). A person
    to create is composed as they will be made: their identifier and a
    `cio_id` chosen here, which the write creates them with.

    A template to auto-create is composed empty (the write creates it), and a
    push to a `custom_device` is rendered here and built by the write, once it
    stored the device. A workspace's first email raises `NoSecretYet` (once
    its errors are answered): its links need the tracking secret, which a
    write makes (`links.secret`) before this runs again. None for an
    identifier that is suppressed or an unknown `cio_id`: the writer answers
    those without a template (`send_prepared`, or `StaleSend` when by then the
    identifier names someone).

    What the writer re-checks (`send_prepared`): that the identifier still
    names the same person (or still nobody) and is not suppressed. What it
    does not: a template, snippet, attribute or sender identity changed by a
    write that committed after this read began and before the delivery's.
    Such a write was concurrent with the send, and the send renders as of
    this read: a client that had its change answered before it sent sees it used.
    """
    read = workspace_cache.current_with_person(conn, workspace_id, request.identifier)
    person = read.person
    if person is None:
        if _answered_without_template(conn, workspace_id, request):
            return None
        person = _to_create(workspace_id, request.identifier)
    known = _Known(read.resources, render_data.customer_from_rows(person, read.attributes))
    template = _readable_template(conn, read.resources, request)
    key = read.secret if request.channel == "email" else b""
    if key is None:  # links signed with a stand-in key, thrown away: errors only
        _compose(conn, known, person, request, template, delivery_id, (base_url, b"none yet"))
        raise NoSecretYet()
    custom_device = request.push is not None and request.push.custom_device is not None
    link_base = (base_url, key)
    return _compose(
        conn, known, person, request, template, delivery_id, link_base, build=not custom_device
    )


@dataclass(frozen=True)
class _Known:
    """What a send's first read found: the workspace's resources, the person's `customer`."""

    resources: workspace_cache.Resources
    customer: dict[str, Any]


def _answered_without_template(conn: Connection, workspace_id: int, request: SendRequest) -> bool:
    """Whether the writer answers this send of nobody yet without rendering it."""
    ident = request.identifier
    return ident.kind == "cio_id" or store.is_suppressed(conn, workspace_id, [ident])


def _to_create(workspace_id: int, ident: Identifier) -> Person:
    """The person `find_or_create` makes for `ident`, as a send renders them (pk 0)."""
    customer_id = ident.value if ident.kind == "id" else None
    email = ident.value if ident.kind == "email" else None  # as the attribute keeps it
    return Person(0, workspace_id, store.new_cio_id(), customer_id, email, 0)


def _readable_template(
    conn: Connection, resources: workspace_cache.Resources, request: SendRequest
) -> SendTemplate:
    """The send's template as this read sees it (`to_create` when the write makes it)."""
    try:
        return resolve_template(conn, resources, request)
    except ApiError:
        if request.auto_create:
            return SendTemplate(str(request.template), {}, to_create=True)
        raise


def send_prepared(
    conn: Connection,
    workspace_id: int,
    request: SendRequest,
    delivery_id: str,
    base_url: str,
    now: int,
    prepared: Prepared | None,
) -> dict[str, Any]:
    """The write of a send `prepare_send` composed, or of one it found nobody to render
    for (None). Renders no template: `StaleSend` when the identifier no longer names
    that person unsuppressed (or, for a person to create, someone else made them
    meanwhile), or names someone now where the read found nobody."""
    if prepared is None:
        return _send_to_nobody(conn, workspace_id, request, delivery_id, now)
    person = _person_for(conn, workspace_id, request, prepared.person, now)
    template = _template_for(conn, workspace_id, request, prepared.template, now)
    if request.push is not None and request.push.custom_device is not None:
        people_devices.upsert(conn, person, request.push.custom_device, now)
    prepared = replace(prepared, person=person, template=template)
    return _write(conn, workspace_id, request, delivery_id, prepared, now)


@dataclass(frozen=True)
class Accepted:
    """One send for `send_many`: what `send_prepared` takes, for a send `takes_bulk` allows."""

    workspace_id: int
    request: SendRequest
    delivery_id: str
    now: int
    prepared: Prepared


def takes_bulk(request: SendRequest, prepared: Prepared | None) -> bool:
    """Whether the send's write is only the re-check of its person and its delivery's
    INSERT, which `send_many` does for many sends at once: the person exists, the
    template too, the message is built and it is queued, not a draft."""
    return (
        prepared is not None
        and not prepared.creates_person
        and not prepared.template.to_create
        and prepared.built is not None
        and not request.queue_draft
    )


def send_many(conn: Connection, sends: list[Accepted]) -> None:
    """The writes of many sends `takes_bulk` allows: one statement re-checks every
    person (`store.names_people`), one INSERT per `DELIVERIES_PER_INSERT` stores the
    deliveries. `StaleSend` when any person changed: the writer then applies the
    sends one at a time, and only the stale one is refused (and composed again)."""
    claims = [(send.workspace_id, send.request.identifier, send.prepared.person) for send in sends]
    if not all(store.names_people(conn, claims)):
        raise StaleSend()
    _insert_rows(conn, [_delivery_row(send) for send in sends])


def _delivery_row(send: Accepted) -> tuple[Any, ...]:
    """The delivery row of a send whose message is built: queued, or a draft."""
    request, prepared, now = send.request, send.prepared, send.now
    assert prepared.built is not None
    message, options = prepared.built[0], dict(prepared.built[1])
    template = prepared.template
    options.update(
        send_to_unsubscribed=_default(request.send_to_unsubscribed, template.send_to_unsubscribed),
        retain=request.retain,
    )
    if template.subscription_topic_id is not None:
        options["subscription_topic_id"] = template.subscription_topic_id
    state = "draft" if request.queue_draft else "queued"
    due = request.send_at or now
    row = _Row(prepared.person.pk, template.id, template.content_id, state, due, now)
    return _values(send.workspace_id, request, send.delivery_id, message, options, row)


def _send_to_nobody(
    conn: Connection, workspace_id: int, request: SendRequest, delivery_id: str, now: int
) -> dict[str, Any]:
    """A send whose read found nobody: suppressed at once, or an unknown `cio_id`'s 400;
    `StaleSend` when someone is there now (an identifier unsuppressed meanwhile): that
    send is composed by the read again."""
    ident = request.identifier
    if store.is_suppressed(conn, workspace_id, [ident]):
        return _suppressed_at_once(conn, workspace_id, request, delivery_id, now)
    if ident.kind == "cio_id" and store.find(conn, workspace_id, ident) is None:
        raise bad_request("no person has this cio_id", "identifiers")
    raise StaleSend()


def _person_for(
    conn: Connection, workspace_id: int, request: SendRequest, person: Person, now: int
) -> Person:
    """The person as prepared, created when new; `StaleSend` when that changed."""
    ident = request.identifier
    if person.pk == 0:
        made = people.find_or_create(conn, workspace_id, ident, now, person.cio_id)
        if made is None or made.cio_id != person.cio_id:
            raise StaleSend()  # someone else made (or suppressed) them meanwhile
        return made
    if not store.names_people(conn, [(workspace_id, ident, person)])[0]:
        raise StaleSend()
    return person


def _template_for(
    conn: Connection, workspace_id: int, request: SendRequest, template: SendTemplate, now: int
) -> SendTemplate:
    """The template as prepared, created when `to_create`; `StaleSend` when someone
    else made it meanwhile with content or defaults of its own."""
    if not template.to_create:
        return template
    assert request.template is not None
    made = transactional_messages.resolve(
        conn, workspace_id, request.template, request.channel, auto_create=True, now=now
    )
    content_id, fields = transactional_messages.content_fields(conn, made, request.language)
    if fields or not (made.send_to_unsubscribed and made.tracked):
        raise StaleSend()
    return replace(template, id=made.id, content_id=content_id, to_create=False)


def _compose(
    conn: Connection,
    known: _Known,
    person: Person,
    request: SendRequest,
    template: SendTemplate,
    delivery_id: str,
    link_base: tuple[str, bytes],
    *,
    build: bool = True,
) -> Prepared:
    """The rendered fields and, when `build`, the message; reads, never writes. The
    template's snippets and the sender identities are the workspace's resources."""
    base_url, key = link_base
    links = Links(base_url, _default(request.tracked, template.tracked), key)
    resources = known.resources
    context = render.context_for(
        conn,
        person.workspace_id,
        person,
        {},
        snippets=resources.snippets(conn),
        customer=known.customer,
    )
    rendered = render_send(conn, person, request, template, delivery_id, links, known=context)
    check_sender(conn, person.workspace_id, rendered, resources.sender_name_for)
    built = build_message(conn, person, request, rendered, delivery_id, links) if build else None
    return Prepared(person, template, links, rendered, built)


def _write(
    conn: Connection,
    workspace_id: int,
    request: SendRequest,
    delivery_id: str,
    sent: Prepared,
    now: int,
) -> dict[str, Any]:
    """Insert the delivery of a composed send (its message built now if not yet)."""
    if sent.built is None:
        built = build_message(conn, sent.person, request, sent.rendered, delivery_id, sent.links)
        sent = replace(sent, built=built)
    send = Accepted(workspace_id, request, delivery_id, now, sent)
    _insert_rows(conn, [_delivery_row(send)])
    if request.queue_draft:
        record_metric(conn, workspace_id, delivery_id, "drafted", now, {}, now=now)
    return answer(delivery_id, request, now)


def _default(value: bool | None, template_default: bool) -> bool:
    return template_default if value is None else value


def _recipient(message: Outbound | None, request: SendRequest) -> str:
    if message is None:
        return request.recipients.get("to", "")
    if isinstance(message, Email):
        return message.to[0]
    if isinstance(message, Sms):
        return message.to
    if isinstance(message, Push):
        return message.token
    return ""


@dataclass(frozen=True)
class _Row:
    """The delivery row's columns that are not the message's."""

    person_pk: int | None
    template_id: int | None
    content_id: int | None
    state: str
    due: int
    now: int
    failure: str | None = None  # why a delivery suppressed at once was


_INSERT_COLUMNS = (
    "id, workspace_id, person_id, channel, recipient, created_at, source, state, subject,"
    " payload, options, due_at, expires_at, attempts, updated_at,"
    " transactional_message_id, content_id, failure_message"
)
_INSERT_ROWS = f"INSERT INTO deliveries ({_INSERT_COLUMNS}) VALUES "
# 18 parameters a row: within both backends' limits per statement.
DELIVERIES_PER_INSERT = 500


def _insert_rows(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """The rows `_values` made, on the driver, `DELIVERIES_PER_INSERT` an INSERT."""
    for start in range(0, len(rows), DELIVERIES_PER_INSERT):
        listed, params = raw.values(conn, rows[start : start + DELIVERIES_PER_INSERT])
        raw.execute(conn, _INSERT_ROWS + listed, params)


def _values(
    workspace_id: int,
    request: SendRequest,
    delivery_id: str,
    message: Outbound | None,
    options: dict[str, Any],
    row: _Row,
) -> tuple[Any, ...]:
    """The delivery row's values, in `_INSERT_COLUMNS` order."""
    return (
        delivery_id,
        workspace_id,
        row.person_pk,
        request.channel,
        _recipient(message, request)[:255],
        row.now,
        "transactional",
        row.state,
        message.subject if isinstance(message, Email) else None,
        encode(message).decode() if message is not None else None,
        _encode_json(options).decode(),
        row.due if row.state == "queued" else None,
        None if row.state == "suppressed" else row.due + RETRY_FOR,  # final: never expires
        0,
        row.now,
        row.template_id,
        row.content_id,
        row.failure,
    )


def _suppressed_at_once(
    conn: Connection, workspace_id: int, request: SendRequest, delivery_id: str, now: int
) -> dict[str, Any]:
    """The delivery of a send to a suppressed identifier, in its final state at once."""
    options = {"retain": request.retain}
    reason = suppression.SUPPRESSED
    row = _Row(None, None, None, "suppressed", now, now, reason)
    _insert_rows(conn, [_values(workspace_id, request, delivery_id, None, options, row)])
    record_metric(conn, workspace_id, delivery_id, "suppressed", now, {"reason": reason}, now=now)
    return answer(delivery_id, request, now)


def answer(delivery_id: str, request: SendRequest, now: int) -> dict[str, Any]:
    """What a send is answered with once its delivery is committed."""
    answer: dict[str, Any] = {"delivery_id": delivery_id, "queued_at": now}
    if request.send_at is not None:
        answer["send_at"] = request.send_at
    return answer
