"""`send_transactional`: accept one transactional send and queue its delivery.

(The HTTP path splits it in two: `prepare_send` composes a send in a read
transaction and answers its template errors, `send_prepared` only re-checks
the person (creating them when new) and inserts, in the writer; see
`prepare_send` for what that changes, which is nothing a client can tell
apart from a send racing a concurrent change. The writer renders no
template on that path: a send whose person changed after its read is
composed again, and one that keeps changing is refused (`StaleSend`).)

One transaction: find (or create) the person, upsert a push `custom_device`,
resolve the template, render every field through Liquid (a template error is
the request's 400, never a failed delivery later), build the outbound
message and insert the delivery row. The delivery worker sends it after the
commit; the caller answers only once this committed.

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
from email.utils import formataddr
from typing import Any

import msgspec
from sqlalchemy import Connection, select

from tidings.db import raw
from tidings.db.schema import attributes, deliveries, devices
from tidings.errors import ApiError, bad_request
from tidings.messaging import addresses, compose, render, tracking
from tidings.messaging.metrics import record_metric
from tidings.messaging.outbound import Email, Outbound, Push, Sms, encode
from tidings.messaging.send_request import SendRequest
from tidings.people import devices as people_devices
from tidings.people import service as people
from tidings.people import store
from tidings.people.identifiers import Identifier
from tidings.people.store import Person
from tidings.templates import layouts, messages, senders

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
    person = people.find_or_create(conn, workspace_id, request.identifier, now)
    if person is None:
        if not store.is_suppressed(conn, workspace_id, [request.identifier]):
            raise bad_request("no person has this cio_id", "identifiers")
        return _suppressed_at_once(conn, workspace_id, request, delivery_id, now)
    if request.push is not None and request.push.custom_device is not None:
        people_devices.upsert(conn, person, request.push.custom_device, now)
    template = _template(conn, workspace_id, request, now, auto_create=request.auto_create)
    key = tracking.secret(conn, workspace_id, now) if request.channel == "email" else b""
    prepared = _compose(conn, person, request, template, delivery_id, (base_url, key))
    return _write(conn, workspace_id, request, delivery_id, prepared, now)


@dataclass(frozen=True)
class Prepared:
    """A send composed ahead of its write: its fields rendered, and its message built
    unless the write must first store what it is built from (a push `custom_device`)."""

    person: Person  # pk 0 when the write is to create them, with this cio_id
    template: _Template  # `to_create`: the write creates it (`auto_create`)
    links: _Links
    rendered: dict[str, str | None]
    built: tuple[Outbound, dict[str, Any]] | None = None

    @property
    def creates_person(self) -> bool:
        return self.person.pk == 0


class NoSecretYet(Exception):
    """The workspace has no tracking secret to sign an email's links: make it
    (`tracking.secret`, a write) and compose the send again."""


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
    write makes (`tracking.secret`) before this runs again. None for an
    identifier that is suppressed or an unknown `cio_id`: the writer answers
    those without a template (`send_transactional`).

    What the writer re-checks (`send_prepared`): that the identifier still
    names the same person (or still nobody) and is not suppressed. What it
    does not: a template, snippet, attribute or sender identity changed by a
    write that committed after this read began and before the delivery's.
    Such a write was concurrent with the send, and the send renders as of
    this read: a client that had its change answered before it sent sees it used.
    """
    person = store.find(conn, workspace_id, request.identifier)
    if person is None:
        if _answered_without_template(conn, workspace_id, request):
            return None
        person = _to_create(workspace_id, request.identifier)
    template = _readable_template(conn, workspace_id, request, now)
    key = tracking.read_secret(conn, workspace_id) if request.channel == "email" else b""
    if key is None:  # links signed with a stand-in key, thrown away: errors only
        _compose(conn, person, request, template, delivery_id, (base_url, b"none yet"))
        raise NoSecretYet()
    custom_device = request.push is not None and request.push.custom_device is not None
    link_base = (base_url, key)
    return _compose(
        conn, person, request, template, delivery_id, link_base, build=not custom_device
    )


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
    conn: Connection, workspace_id: int, request: SendRequest, now: int
) -> _Template:
    """The send's template as this read sees it (`to_create` when the write makes it)."""
    try:
        return _template(conn, workspace_id, request, now, auto_create=False)
    except ApiError:
        if request.auto_create:
            return _Template(str(request.template), {}, to_create=True)
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


def _send_to_nobody(
    conn: Connection, workspace_id: int, request: SendRequest, delivery_id: str, now: int
) -> dict[str, Any]:
    """A send whose read found nobody: suppressed at once, or an unknown `cio_id`'s 400,
    as `send_transactional` answers them; `StaleSend` when someone is there now (an
    identifier unsuppressed meanwhile): that send is composed by the read again."""
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
    if not store.names_person(conn, workspace_id, ident, person):
        raise StaleSend()
    return person


def _template_for(
    conn: Connection, workspace_id: int, request: SendRequest, template: _Template, now: int
) -> _Template:
    """The template as prepared, created when `to_create`; `StaleSend` when someone
    else made it meanwhile with content or defaults of its own."""
    if not template.to_create:
        return template
    assert request.template is not None
    made = messages.resolve(
        conn, workspace_id, request.template, request.channel, auto_create=True, now=now
    )
    content_id, fields = messages.content_fields(conn, made, request.language)
    if fields or not (made.send_to_unsubscribed and made.tracked):
        raise StaleSend()
    return replace(template, id=made.id, content_id=content_id, to_create=False)


def _compose(
    conn: Connection,
    person: Person,
    request: SendRequest,
    template: _Template,
    delivery_id: str,
    link_base: tuple[str, bytes],
    *,
    build: bool = True,
) -> Prepared:
    """The rendered fields and, when `build`, the message; reads, never writes."""
    base_url, key = link_base
    links = _Links(base_url, _default(request.tracked, template.tracked), key)
    rendered = _render(conn, person, request, template, delivery_id, links)
    _check_sender(conn, person.workspace_id, rendered)
    built = _message(conn, person, request, rendered, delivery_id, links) if build else None
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
    person, template = sent.person, sent.template
    built = sent.built or _message(conn, person, request, sent.rendered, delivery_id, sent.links)
    message, options = built[0], dict(built[1])
    options.update(
        send_to_unsubscribed=_default(request.send_to_unsubscribed, template.send_to_unsubscribed),
        retain=request.retain,
    )
    state = "draft" if request.queue_draft else "queued"
    row = _Row(person.pk, template.id, template.content_id, state, request.send_at or now, now)
    _insert(conn, workspace_id, request, delivery_id, message, options, row)
    if state == "draft":
        record_metric(conn, workspace_id, delivery_id, "drafted", now, {})
    return _answer(delivery_id, request, now)


@dataclass(frozen=True)
class _Template:
    """What a send takes from its template: fields and defaults (none when inline)."""

    name: str
    fields: dict[str, str]
    id: int | None = None
    content_id: int | None = None
    send_to_unsubscribed: bool = True
    tracked: bool = True
    to_create: bool = False  # auto-created by the send's write


def _template(
    conn: Connection, workspace_id: int, request: SendRequest, now: int, *, auto_create: bool
) -> _Template:
    """The named template's content in the send's language (or the default), layout applied."""
    if request.template is None:
        return _Template("inline message", {})
    found = messages.resolve(
        conn,
        workspace_id,
        request.template,
        request.channel,
        auto_create=auto_create,
        now=now,
    )
    content_id, fields = messages.content_fields(conn, found, request.language)
    fields = dict(fields)
    layout_name = fields.pop("layout", None)
    if layout_name:
        fields["body"] = _in_layout(conn, workspace_id, layout_name, fields.get("body", ""))
    return _Template(
        found.name, fields, found.id, content_id, found.send_to_unsubscribed, found.tracked
    )


def _in_layout(conn: Connection, workspace_id: int, name: str, body: str) -> str:
    """The layout's source with the body in place of `{{ content }}` (rendered as one)."""
    source = layouts.layout_body(conn, workspace_id, name)
    if source is None:
        raise bad_request(f"the template's layout {name!r} does not exist", "layout")
    wrapped = layouts.wrap(source, body, render.MAX_TEMPLATE_CHARS)
    if wrapped is None:
        raise bad_request(
            f"the body in the layout {name!r} would be longer than"
            f" {render.MAX_TEMPLATE_CHARS} characters",
            "layout",
        )
    return wrapped


def _default(value: bool | None, template_default: bool) -> bool:
    return template_default if value is None else value


@dataclass(frozen=True)
class _Links:
    """How an email's links are made: this server's URL, tracked or not, the secret."""

    base_url: str
    tracked: bool
    key: bytes  # the workspace's tracking secret (b"" for other channels)


def _render(
    conn: Connection,
    person: Person,
    request: SendRequest,
    template: _Template,
    delivery_id: str,
    links: _Links,
) -> dict[str, str | None]:
    fields: dict[str, str | None] = {**template.fields, **request.fields, **request.recipients}
    unsubscribe = view = None
    workspace_id = person.workspace_id
    if request.channel == "email":
        unsubscribe = tracking.unsubscribe_url(
            conn, workspace_id, delivery_id, links.base_url, key=links.key
        )
        view = tracking.view_url(workspace_id, delivery_id, links.base_url, links.key)
    context = render.context_for(
        conn,
        workspace_id,
        person,
        request.message_data,
        unsubscribe_url=unsubscribe,
        view_in_browser_url=view,
    )
    return render.render_fields(fields, context, template_name=template.name)


def _message(
    conn: Connection,
    person: Person,
    request: SendRequest,
    rendered: dict[str, str | None],
    delivery_id: str,
    links: _Links,
) -> tuple[Outbound, dict[str, Any]]:
    options: dict[str, Any] = {}
    if request.channel == "email":
        html, unsubscribe = tracking.prepare_email(
            conn,
            person.workspace_id,
            delivery_id,
            rendered.get("body"),
            links.base_url,
            links.tracked,
            key=links.key,
        )
        options["tracked"] = links.tracked
        if request.fake_bcc:
            options["fake_bcc"] = True
        return compose.email(delivery_id, request, rendered, html, unsubscribe), options
    if request.channel in ("sms", "whatsapp"):
        return compose.sms(request, rendered, _phone(conn, person)), options
    if request.channel == "push":
        assert request.push is not None
        targets = _push_devices(conn, person, request.push.to)
        if request.push.to == "all":
            options["devices"] = [list(t) for t in targets]
            options["custom_payload"] = request.push.custom_payload
        first = targets[0] if targets else None
        return compose.push(request.push, rendered, first), options
    return compose.in_app(request, rendered), options


def _check_sender(conn: Connection, workspace_id: int, rendered: dict[str, str | None]) -> None:
    """An email's `from` must be one of the workspace's sender identities (any, if none)."""
    sender = rendered.get("from")
    if not sender or "@" not in sender:
        return  # compose refuses a missing sender; SMS senders are phone numbers
    name = senders.sender_name_for(conn, workspace_id, sender)
    if name is None:
        raise bad_request(f"from {sender!r} is not a sender identity of this workspace", "from")
    shown, address = addresses.parse(sender)
    if not shown and name:
        rendered["from"] = formataddr((name, address))


def _phone(conn: Connection, person: Person) -> str | None:
    value = conn.execute(
        select(attributes.c.value).where(
            attributes.c.person_id == person.pk, attributes.c.name == "phone"
        )
    ).scalar()
    return str(value) if value else None


def _push_devices(conn: Connection, person: Person, to: str) -> list[tuple[str, str]]:
    """(token, platform) of the devices a push goes to; most recently used first."""
    rows = conn.execute(
        select(devices.c.token, devices.c.platform)
        .where(devices.c.person_id == person.pk)
        .order_by(devices.c.last_used.desc(), devices.c.id.desc())
    ).all()
    found = [(token, platform) for token, platform in rows]
    if to == "all":
        return found
    if to == "last_used":
        return found[:1]
    chosen = [d for d in found if d[0] == to]
    if not chosen:
        raise bad_request("to must be all, last_used or a token of one of the person's devices")
    return chosen


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


_INSERT_COLUMNS = (
    "id, workspace_id, person_id, channel, recipient, created_at, source, state, subject,"
    " payload, options, due_at, expires_at, attempts, updated_at,"
    " transactional_message_id, content_id"
)
_INSERT = f"INSERT INTO deliveries ({_INSERT_COLUMNS}) VALUES ({{0}})"


def _insert(
    conn: Connection,
    workspace_id: int,
    request: SendRequest,
    delivery_id: str,
    message: Outbound | None,
    options: dict[str, Any],
    row: _Row,
) -> None:
    """One INSERT on the driver (`db/raw.py`): this runs for every send."""
    values = (
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
        row.due + RETRY_FOR,
        0,
        row.now,
        row.template_id,
        row.content_id,
    )
    raw.select_in(conn, _INSERT, [], values)


def _suppressed_at_once(
    conn: Connection, workspace_id: int, request: SendRequest, delivery_id: str, now: int
) -> dict[str, Any]:
    options = {"retain": request.retain}
    row = _Row(None, None, None, "suppressed", now, now)
    _insert(conn, workspace_id, request, delivery_id, None, options, row)
    reason = "the person is suppressed"
    conn.execute(
        deliveries.update()
        .where(deliveries.c.id == delivery_id)
        .values(failure_message=reason, expires_at=None)
    )
    record_metric(conn, workspace_id, delivery_id, "suppressed", now, {"reason": reason})
    return _answer(delivery_id, request, now)


def _answer(delivery_id: str, request: SendRequest, now: int) -> dict[str, Any]:
    answer: dict[str, Any] = {"delivery_id": delivery_id, "queued_at": now}
    if request.send_at is not None:
        answer["send_at"] = request.send_at
    return answer
