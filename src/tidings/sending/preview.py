"""A transactional message's draft rendered as one person would get it (the UI's
Templates page), and the send request of its test send.

`preview` reads only. It renders the draft's fields as a send does
(`templates/render.py`: the same variables, filters, limits; the layout
wrapped around the body as `rendering.in_layout` does; the sender checked as
`rendering.check_sender` does) with the chosen person's attributes as
`customer` and sample `trigger` and `event` data, but each field on its own,
so that every error shows at once, with its line and column in the field
the author typed (an error in the body seen through its layout is mapped
back to the body, `layouts.origin`). Nothing is refused silently: an unknown
person, a missing layout or a sender that is not an identity is a problem
of the preview, next to the Liquid errors.

What differs from a send, on purpose: no delivery exists, so the
unsubscribe and view-in-browser URLs are placeholders and links are not
rewritten for tracking.

`preview_piece` does the same for a snippet or a layout being edited: a
snippet's value rendered as the chosen person (with the other snippets as
stored and this one as typed), a layout rendered around a sample body, each
error at its field (`source`, `sample_body`), the layout's mapped back as a
message's are.

`send_request_of` turns the same draft into the `SendRequest` a
`POST /v1/send/email` would make (parsed by `sending/request.py`): the
message named by id, the chosen person as identifier, the test address as
`to`, the draft's fields inline (its body already in its layout), so the
send goes through `transactional.prepare_send` / `send_prepared` and the
delivery worker like any other.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Connection

from tidings.errors import ApiError, bad_request, not_found
from tidings.people import store
from tidings.people.identifiers import classify
from tidings.people.store import Person
from tidings.sending import rendering
from tidings.sending import request as send_request
from tidings.sending.request import SendRequest
from tidings.templates import layouts, render
from tidings.templates import transactional_messages as messages

UNSUBSCRIBE_PLACEHOLDER = "#unsubscribe-url-of-the-send"
VIEW_PLACEHOLDER = "#view-in-browser-url-of-the-send"


@dataclass(frozen=True)
class Draft:
    """What the editor holds: the fields as typed, and whom and what to render them for."""

    message_id: int
    fields: dict[str, str]  # as typed; "" is unset
    person: str = ""  # an id, an email or `cio_...`; "" renders for nobody
    trigger: dict[str, Any] = field(default_factory=dict)
    event: dict[str, Any] | None = None  # {name?, data}


@dataclass(frozen=True)
class PieceDraft:
    """A snippet or layout as typed in its editor, and whom to render it for."""

    kind: str  # "snippet" | "layout"
    name: str
    source: str
    person: str = ""
    sample_body: str = ""  # a layout's: what stands for a message's body


@dataclass(frozen=True)
class Preview:
    channel: str
    rendered: dict[str, str]
    problems: list[render.Problem]
    person: dict[str, Any] | None  # {id, email, cio_id} of the person rendered for


def preview(conn: Connection, workspace_id: int, draft: Draft) -> Preview:
    """The draft rendered for its person; a 404 only when the message does not exist."""
    template = messages.find(conn, workspace_id, draft.message_id)
    if template is None:
        raise not_found("transactional message not found")
    problems: list[render.Problem] = []
    person = _person(conn, workspace_id, draft.person, problems)
    fields = {name: value for name, value in draft.fields.items() if value}
    layout_name = fields.pop("layout", "")
    layout_source = layouts.layout_body(conn, workspace_id, layout_name) if layout_name else None
    if layout_name and layout_source is None:
        problems.append(render.Problem("layout", f"there is no layout named {layout_name!r}"))
    body = fields.get("body", "")
    if layout_source is not None:
        wrapped = layouts.wrap(layout_source, body, render.MAX_TEMPLATE_CHARS)
        if wrapped is None:
            problems.append(render.Problem("layout", "the body in this layout is too long"))
        else:
            fields["body"] = wrapped
    context = _context(conn, workspace_id, person, draft.trigger, draft.event)
    rendered, failed = render.render_each(fields, context)
    for problem in failed:
        problems.append(_in_field(problem, layout_name, layout_source, body))
    if template.channel == "email" and "from" in rendered:
        try:
            rendering.check_sender(conn, workspace_id, {"from": rendered["from"]})
        except ApiError as refused:
            problems.append(render.Problem("from", refused.message))
    return Preview(template.channel, rendered, problems, _shown(person))


def preview_piece(conn: Connection, workspace_id: int, draft: PieceDraft) -> Preview:
    """A snippet's value (channel "snippet", rendered as `value`) or a layout around the
    sample body (channel "email", rendered as `body`), for the draft's person."""
    problems: list[render.Problem] = []
    person = _person(conn, workspace_id, draft.person, problems)
    context = _context(conn, workspace_id, person, {}, None)
    if draft.kind == "snippet":
        context = replace(context, snippets={**context.snippets, draft.name: draft.source})
        rendered, failed = render.render_each({"source": draft.source}, context)
        shown = {"value": rendered["source"]} if "source" in rendered else {}
        return Preview("snippet", shown, problems + failed, _shown(person))
    wrapped = layouts.wrap(draft.source, draft.sample_body, render.MAX_TEMPLATE_CHARS)
    if wrapped is None:
        problems.append(render.Problem("source", "the sample body in this layout is too long"))
        return Preview("email", {}, problems, _shown(person))
    rendered, failed = render.render_each({"body": wrapped}, context)
    for problem in failed:
        where, line, column = _origin(problem, draft.source, draft.sample_body)
        field_name = "sample_body" if where == "body" and line is not None else "source"
        problems.append(render.Problem(field_name, problem.message, line, column))
    return Preview("email", rendered, problems, _shown(person))


def _context(
    conn: Connection,
    workspace_id: int,
    person: Person | None,
    trigger: dict[str, Any],
    event: dict[str, Any] | None,
) -> render.Context:
    """What a preview renders with: a send's variables, with placeholder URLs."""
    return render.context_for(
        conn,
        workspace_id,
        person,
        trigger,
        event=event,
        unsubscribe_url=UNSUBSCRIBE_PLACEHOLDER,
        view_in_browser_url=VIEW_PLACEHOLDER,
    )


def _shown(person: Person | None) -> dict[str, Any] | None:
    return None if person is None else {"id": person.customer_id, "email": person.email}


def _person(
    conn: Connection, workspace_id: int, ref: str, problems: list[render.Problem]
) -> Person | None:
    ref = ref.strip()
    if not ref:
        return None
    found = store.find(conn, workspace_id, classify(ref))
    if found is None:
        problems.append(
            render.Problem("person", f"no person has the id or email {ref!r}: rendered for nobody")
        )
    return found


def _in_field(
    problem: render.Problem, layout_name: str, layout_source: str | None, body: str
) -> render.Problem:
    """A problem of the wrapped body, moved to the body or the layout it came from."""
    if problem.field != "body" or layout_source is None:
        return problem
    where, line, column = _origin(problem, layout_source, body)
    if where == "body":
        return render.Problem("body", problem.message, line, column)
    return render.Problem("layout", f"in layout {layout_name!r}: {problem.message}", line, column)


def _origin(
    problem: render.Problem, layout_source: str, body: str
) -> tuple[str, int | None, int | None]:
    """Where a problem of `body` wrapped in `layout_source` comes from: "body" or
    "layout", with its line and column there (unknown lines: the body's)."""
    if problem.line is None:
        return "body", None, problem.column
    return layouts.origin(layout_source, body, problem.line, problem.column)


def send_request_of(
    conn: Connection, workspace_id: int, draft: Draft, to: str, now: int
) -> SendRequest:
    """The send request of a test send of an email draft to `to`, as the chosen person.

    A 400 when the message is not an email, no person is chosen or found, or the
    layout is missing; the request itself is checked as the API checks a send."""
    template = messages.find(conn, workspace_id, draft.message_id)
    if template is None:
        raise not_found("transactional message not found")
    if template.channel != "email":
        raise bad_request("test sends are built for email messages only", "channel")
    ref = draft.person.strip()
    person = store.find(conn, workspace_id, classify(ref)) if ref else None
    if person is None:
        raise bad_request("choose a person (by id or email) to send the test as", "person")
    fields = {
        name: value
        for name, value in draft.fields.items()
        if value and name in send_request.TEXT_FIELDS["email"]
    }
    layout_name = draft.fields.get("layout", "")
    if layout_name:
        fields["body"] = rendering.in_layout(
            conn, workspace_id, layout_name, fields.get("body", "")
        )
    identifier = {"id": person.customer_id} if person.customer_id else {"cio_id": person.cio_id}
    body: dict[str, Any] = {
        "transactional_message_id": template.id,
        "identifiers": identifier,
        "to": to,
        "message_data": draft.trigger,
        **fields,
    }
    return send_request.parse("email", body, now)
