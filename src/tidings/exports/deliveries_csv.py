"""The rows of a deliveries export (`POST /v1/exports/deliveries`), a page at a time.

The request (BEHAVIOUR.md 5.8): `start` and `end` (Unix seconds; by default
the last 6 months, and a window longer than 12 months is cut to the 12
months before `end`), `metric` (only deliveries that reached it), `drafts`
(true: only drafts; else drafts are left out), `transactional_message_id`
(our filter) and `attributes` (extra columns: the person's attributes of
those names) and `newsletter_id` (only that newsletter's messages, which is
what customerio-node's `createDeliveriesExport` asks for). `campaign_id` and
`action_id` are not filters yet: they match nothing.

Columns: `delivery_id`, `type` (Customer.io's message type: `twilio` for
SMS), `recipient`, `subject`, `created_at`, `transactional_message_id`,
`state`, `failure_message`, the person's `cio_id`, `id`, `email`, then the
first time (Unix seconds) the delivery reached each metric of `METRICS`
(empty if never), then the requested attributes. Rows are in creation order,
keyset-paged on (created_at, id).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Connection, and_, exists, or_, select

from tidings.db.schema import attributes, deliveries, delivery_metrics, people
from tidings.errors import bad_request
from tidings.reporting.messages import TYPES, first_times

PAGE_SIZE = 1000
DEFAULT_WINDOW = 183 * 86_400
MAX_WINDOW = 365 * 86_400
COLUMNS = (
    "delivery_id",
    "type",
    "recipient",
    "subject",
    "created_at",
    "transactional_message_id",
    "state",
    "failure_message",
    "cio_id",
    "id",
    "email",
)
METRICS = [
    "drafted",
    "sent",
    "delivered",
    "opened",
    "clicked",
    "converted",
    "bounced",
    "spammed",
    "failed",
    "suppressed",
    "dropped",
    "unsubscribed",
]
_UNOWNED = ("campaign_id", "action_id")


@dataclass(frozen=True)
class DeliveriesExport:
    workspace_id: int
    start: int
    end: int
    metric: str | None = None
    drafts: bool = False
    transactional_message_id: int | None = None
    attributes: tuple[str, ...] = ()
    nothing: bool = False
    newsletter_id: int | None = None

    def spec(self) -> str:
        """The request as stored in the export's `spec` column."""
        fields = {name: getattr(self, name) for name in _STORED}
        return msgspec.json.encode(fields).decode()

    @classmethod
    def from_spec(cls, workspace_id: int, spec: str) -> DeliveriesExport:
        fields = msgspec.json.decode(spec)
        fields["attributes"] = tuple(fields["attributes"])
        return cls(workspace_id, **fields)


_STORED = (
    "start",
    "end",
    "metric",
    "drafts",
    "transactional_message_id",
    "attributes",
    "nothing",
    "newsletter_id",
)


def parse_request(
    body: dict[str, Any], workspace_id: int, now: int, attributes: tuple[str, ...]
) -> DeliveriesExport:
    """The export a request asks for; `attributes` were validated by the caller."""
    end = _time(body, "end", now)
    start = _time(body, "start", end - DEFAULT_WINDOW)
    start = max(start, end - MAX_WINDOW)
    metric = body.get("metric")
    if metric is not None and (not isinstance(metric, str) or metric not in METRICS + ["created"]):
        raise bad_request("metric must be one of: created, " + ", ".join(METRICS), "metric")
    drafts = body.get("drafts", False)
    if not isinstance(drafts, bool):
        raise bad_request("drafts must be a boolean", "drafts")
    template = body.get("transactional_message_id")
    if template is not None and (not isinstance(template, int) or isinstance(template, bool)):
        raise bad_request("transactional_message_id must be an integer", "transactional_message_id")
    return DeliveriesExport(
        workspace_id,
        start,
        end,
        None if metric in (None, "created") else metric,
        drafts,
        template,
        attributes,
        any(body.get(name) is not None for name in _UNOWNED),
        _newsletter_id(body.get("newsletter_id")),
    )


def _newsletter_id(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.isdigit() and len(value) < 10:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise bad_request("newsletter_id must be a newsletter's id", "newsletter_id")
    return value


def _time(body: dict[str, Any], name: str, default: int) -> int:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise bad_request(f"{name} must be a Unix timestamp in seconds", name)
    return value


def header(export: DeliveriesExport) -> list[str]:
    return [*COLUMNS, *METRICS, *export.attributes]


@dataclass(frozen=True)
class Page:
    rows: list[list[str]]
    last_key: tuple[int, str]


def read_page(
    conn: Connection, export: DeliveriesExport, after: tuple[int, str] | None
) -> Page | None:
    """The next page of rows after the (created_at, id) key `after`; None at the end."""
    if export.nothing:
        return None
    query = _query(export)
    if after is not None:
        c = deliveries.c
        query = query.where(
            or_(c.created_at > after[0], and_(c.created_at == after[0], c.id > after[1]))
        )
    found = conn.execute(query.limit(PAGE_SIZE)).all()
    if not found:
        return None
    metrics = first_times(conn, export.workspace_id, [row.id for row in found])
    extra = _attributes(conn, [row.person_id for row in found if row.person_id], export.attributes)
    rows = [_row(row, metrics[row.id], extra.get(row.person_id, {}), export) for row in found]
    return Page(rows, (found[-1].created_at, found[-1].id))


def _query(export: DeliveriesExport) -> Any:
    c = deliveries.c
    query = (
        select(
            c.id,
            c.channel,
            c.recipient,
            c.subject,
            c.created_at,
            c.transactional_message_id,
            c.state,
            c.failure_message,
            c.person_id,
            people.c.cio_id,
            people.c.customer_id,
            people.c.email,
        )
        .select_from(deliveries.outerjoin(people, people.c.id == c.person_id))
        .where(
            c.workspace_id == export.workspace_id,
            c.created_at >= export.start,
            c.created_at <= export.end,
            (c.state == "draft") if export.drafts else (c.state != "draft"),
        )
        .order_by(c.created_at, c.id)
    )
    if export.transactional_message_id is not None:
        query = query.where(c.transactional_message_id == export.transactional_message_id)
    if export.newsletter_id is not None:
        query = query.where(c.newsletter_id == export.newsletter_id)
    if export.metric is not None:
        query = query.where(
            exists().where(
                delivery_metrics.c.workspace_id == c.workspace_id,
                delivery_metrics.c.delivery_id == c.id,
                delivery_metrics.c.metric == export.metric,
            )
        )
    return query


def _attributes(
    conn: Connection, person_ids: list[int], names: tuple[str, ...]
) -> dict[int, dict[str, str]]:
    if not names or not person_ids:
        return {}
    found: dict[int, dict[str, str]] = {}
    rows = conn.execute(
        select(attributes.c.person_id, attributes.c.name, attributes.c.value).where(
            attributes.c.person_id.in_(sorted(set(person_ids))), attributes.c.name.in_(names)
        )
    )
    for person_id, name, value in rows:
        found.setdefault(person_id, {})[name] = value
    return found


def _row(
    row: Any, metrics: dict[str, int], extra: dict[str, str], export: DeliveriesExport
) -> list[str]:
    cells = [
        row.id,
        TYPES.get(row.channel, row.channel),
        row.recipient,
        row.subject or "",
        str(row.created_at),
        "" if row.transactional_message_id is None else str(row.transactional_message_id),
        row.state,
        row.failure_message or "",
        row.cio_id or "",
        row.customer_id or "",
        row.email or "",
    ]
    cells += [str(metrics[m]) if m in metrics else "" for m in METRICS]
    return cells + [extra.get(name, "") for name in export.attributes]
