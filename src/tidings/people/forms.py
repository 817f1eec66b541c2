"""Form submissions: identify the respondent from the form's fields, remember the form."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select, update

from tidings.activity import log as activity_log
from tidings.db.schema import forms
from tidings.errors import ApiError
from tidings.people import service as people
from tidings.people.identifiers import Identifier

RESERVED = frozenset({"form_id", "form_name", "form_type", "form_url", "form_url_param"})


def parse_submission(body: dict[str, Any], now: int) -> tuple[Identifier, people.IdentifyRequest]:
    data = body.get("data")
    if not isinstance(data, dict):
        raise ApiError(400, "data must be an object", errors=["data must be an object"])
    fields = {k: v for k, v in data.items() if k not in RESERVED}
    problems = [f"{k} must be a string" for k, v in fields.items() if not isinstance(v, str)]
    if not fields.get("id") and not fields.get("email"):
        problems.append("data must contain an id or an email")
    if problems:
        raise ApiError(400, problems[0], errors=problems)
    try:
        request = people.parse_identify(fields, now)
    except ApiError as exc:
        raise ApiError(400, exc.message, errors=[exc.message]) from exc
    kind = "id" if fields.get("id") else "email"
    return Identifier(kind, fields[kind]), request  # type: ignore[arg-type]


def submit(
    conn: Connection,
    workspace_id: int,
    form_id: str,
    ident: Identifier,
    request: people.IdentifyRequest,
    now: int,
) -> None:
    """The respondent is identified (first: its anonymous id, if it sets one, is the
    transaction's first lock), and a new form id makes a new form connection."""
    person = people.identify(conn, workspace_id, ident, request, now)
    if person is not None:
        activity_log.append(
            conn,
            workspace_id,
            person_pk=person.pk,
            type="form_submit",
            name=form_id,
            timestamp=now,
            received_at=now,
            data={"form_id": form_id},
        )
    row = conn.execute(
        select(forms.c.submissions).where(
            forms.c.workspace_id == workspace_id, forms.c.form_id == form_id
        )
    ).first()
    if row is None:
        conn.execute(
            insert(forms).values(
                workspace_id=workspace_id, form_id=form_id, created_at=now, submissions=1
            )
        )
    else:
        conn.execute(
            update(forms)
            .where(forms.c.workspace_id == workspace_id, forms.c.form_id == form_id)
            .values(submissions=row.submissions + 1)
        )
