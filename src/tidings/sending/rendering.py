"""A transactional send rendered: what it takes from its template, its fields through
Liquid (`templates/render.py`), its sender checked and its outbound message built.

Reads only, shared by the read that composes a send and the write that
inserts it (`transactional`): the template's fields in the send's language
with its layout applied (`resolve_template`), under them the Design Studio
email a content names (`with_design`, campaign messages' too), every field
rendered with the person, `message_data`, the email's tracked URLs and the
person's preferences page (`render_send`: the request's fields win over the
template's), an email's `from` checked against
the sender identities (`check_sender`), and the outbound message built from
the rendered fields (`build_message`, with `compose` for the message itself).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from email.utils import formataddr
from typing import Any

from sqlalchemy import Connection, select

from tidings.db.schema import attributes, devices
from tidings.errors import bad_request
from tidings.people.store import Person
from tidings.providers import addresses
from tidings.providers.base import Outbound
from tidings.reporting import links as tracking
from tidings.reporting import preference_center, sms_status
from tidings.sending import compose
from tidings.sending.request import SendRequest
from tidings.sending.workspace_cache import Resources
from tidings.templates import design_studio, layouts, render, senders
from tidings.templates import transactional_messages as messages
from tidings.templates.definitions import DESIGN_STUDIO_FIELD


@dataclass(frozen=True)
class SendTemplate:
    """What a send takes from its template: fields and defaults (none when inline)."""

    name: str
    fields: dict[str, str]
    id: int | None = None
    content_id: int | None = None
    send_to_unsubscribed: bool = True
    tracked: bool = True
    to_create: bool = False  # auto-created by the send's write
    subscription_topic_id: int | None = None


def resolve_template(conn: Connection, resources: Resources, request: SendRequest) -> SendTemplate:
    """The named template's content in the send's language (or the default), layout applied,
    from the workspace's `resources`; a 400 when there is none (an `auto_create` send's
    write makes it, `transactional`)."""
    if request.template is None:
        return SendTemplate("inline message", {})
    ref = request.template
    found = messages.checked(resources.template(conn, ref), ref, request.channel)
    content_id, fields = resources.content_fields(conn, found, request.language)
    fields = with_design(conn, resources.workspace_id, fields, request.language)
    layout_name = fields.pop("layout", None)
    if layout_name:
        source = resources.layout_body(conn, layout_name)
        fields["body"] = _wrapped(layout_name, source, fields.get("body", ""))
    return SendTemplate(
        found.name,
        fields,
        found.id,
        content_id,
        found.send_to_unsubscribed,
        found.tracked,
        subscription_topic_id=found.subscription_topic_id,
    )


DesignRead = Callable[[Connection, int, str, str | None], dict[str, str]]


def design_fields(
    conn: Connection, workspace_id: int, email_id: str, language: str | None
) -> dict[str, str]:
    """The message fields of the Design Studio email `email_id` in `language` (its
    translation when it has one); a 400 naming the field when the email is gone."""
    found = design_studio.email_fields(conn, workspace_id, email_id, language)
    if found is None:
        message = f"the Design Studio email {email_id!r} ({DESIGN_STUDIO_FIELD}) does not exist"
        raise bad_request(message, DESIGN_STUDIO_FIELD)
    return found


def with_design(
    conn: Connection,
    workspace_id: int,
    fields: dict[str, str],
    language: str | None,
    read: DesignRead = design_fields,
) -> dict[str, str]:
    """A content's fields with the Design Studio email it names (`DESIGN_STUDIO_FIELD`)
    under them, read now (`read`: `design_fields`, or a caller's memo of it): the
    content's own fields win. What transactional and campaign sends both render."""
    fields = dict(fields)
    email_id = fields.pop(DESIGN_STUDIO_FIELD, None)
    if not email_id:
        return fields
    return {**read(conn, workspace_id, email_id, language), **fields}


def in_layout(conn: Connection, workspace_id: int, name: str, body: str) -> str:
    """The layout's source with the body in place of `{{ content }}` (rendered as one)."""
    return _wrapped(name, layouts.layout_body(conn, workspace_id, name), body)


def _wrapped(name: str, source: str | None, body: str) -> str:
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


@dataclass(frozen=True)
class Links:
    """How an email's links are made: this server's URL, tracked or not, the secret."""

    base_url: str
    tracked: bool
    key: bytes  # the workspace's tracking secret (b"" for other channels)


def render_send(
    conn: Connection,
    person: Person,
    request: SendRequest,
    template: SendTemplate,
    delivery_id: str,
    links: Links,
    *,
    event: dict[str, Any] | None = None,
    campaign: dict[str, Any] | None = None,
    known: render.Context | None = None,
) -> dict[str, str | None]:
    """Every field (the template's, overridden by the request's) rendered for `person`;
    an email's unsubscribe and view-in-browser URLs signed for `delivery_id`; a
    campaign's message also sees its trigger `event` and the `campaign`. A
    template error is an `ApiError` 400 naming the field.

    `known`: the person's `customer`, collections and snippets when the caller
    read them already (a campaign's batch, `campaigns.messages`), else they
    are read here."""
    fields: dict[str, str | None] = {**template.fields, **request.fields, **request.recipients}
    unsubscribe = view = preferences = None
    workspace_id = person.workspace_id
    if request.channel == "email":
        unsubscribe = tracking.unsubscribe_url(
            conn, workspace_id, delivery_id, links.base_url, key=links.key
        )
        view = tracking.view_url(workspace_id, delivery_id, links.base_url, links.key)
        preferences = preference_center.url_for(person, links.base_url, links.key)
    if known is None:
        known = render.context_for(conn, workspace_id, person, {})
    context = replace(
        known,
        trigger=request.message_data,
        event=event,
        campaign=campaign,
        unsubscribe_url=unsubscribe,
        view_in_browser_url=view,
        manage_subscription_preferences_url=preferences,
    )
    return render.render_fields(fields, context, template_name=template.name)


def build_message(
    conn: Connection,
    person: Person,
    request: SendRequest,
    rendered: dict[str, str | None],
    delivery_id: str,
    links: Links,
) -> tuple[Outbound, dict[str, Any]]:
    """The outbound message of the rendered fields, and the delivery options it needs
    (tracking, a push's devices). Reads the person's phone or devices as they are now."""
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
        status_url = sms_status.callback_url(links.base_url, delivery_id)
        return compose.sms(request, rendered, _phone(conn, person), status_url), options
    if request.channel == "push":
        assert request.push is not None
        targets = _push_devices(conn, person, request.push.to)
        if request.push.to == "all":
            options["devices"] = [list(t) for t in targets]
            options["custom_payload"] = request.push.custom_payload
        first = targets[0] if targets else None
        return compose.push(request.push, rendered, first), options
    return compose.in_app(request, rendered), options


def check_sender(
    conn: Connection,
    workspace_id: int,
    rendered: dict[str, str | None],
    name_for: Callable[[Connection, int, str], str | None] = senders.sender_name_for,
) -> None:
    """An email's `from` must be one of the workspace's sender identities (any, if none);
    `name_for` reads the identity's name (`senders.sender_name_for`, or a caller's
    memo of it)."""
    sender = rendered.get("from")
    if not sender or "@" not in sender:
        return  # compose refuses a missing sender; SMS senders are phone numbers
    name = name_for(conn, workspace_id, sender)
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
