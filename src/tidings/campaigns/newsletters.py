"""Newsletters ("standard broadcasts"): one message to an audience, sent now or later.

A newsletter is a `campaigns` row of kind `newsletter` with one message
action (`newsletter_contents.py` holds its variants). Its `definition`
holds `recipients` (the audience filter), `type` (Customer.io's channel
name), `subscription_topic_id`, `rate_limit` (the options as given),
`send_rate` (what `sending/rates.py` holds its messages to) and `schedule`
(`{at, timezone, tz_match}` or null). `first_started` is its `sent_at`.

Sending (`send`, or a scheduled send coming due) marks the newsletter
`running` and stores a broadcast trigger of it with its `broadcast_fanout`
job (`broadcasts.fan_out`), in the same transaction: the fan-out then reads
the audience in checkpointed chunks and starts one journey per person
(entry key `t<trigger id>`), and each journey queues the person's message
(`messages.queue`: `newsletter_id` and the chosen `content_id`). A
newsletter is sent once; a second send is a 400.

A schedule is a job (`JOB_KIND`) due at `scheduled_at` (with
`tz_match_enabled`, at the first zone's time, `send_times.py`), so it
survives restarts and fires on the injected clock. The job sends only if
the newsletter still holds that schedule: descheduling, rescheduling or
sending meanwhile leave it nothing to do.
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Connection, delete, select

from tidings import paging
from tidings.campaigns import broadcasts, documents, send_times, store
from tidings.campaigns import newsletter_ab as ab
from tidings.campaigns import newsletter_contents as contents
from tidings.campaigns import newsletter_references as references
from tidings.campaigns.definitions import Campaign, Step
from tidings.campaigns.newsletter_requests import API_TYPES, NewNewsletter, Schedule
from tidings.db.schema import campaigns
from tidings.errors import bad_request
from tidings.jobs.queue import Claimed, enqueue
from tidings.jobs.runner import JobContext, Permanent
from tidings.paging import PageRequest
from tidings.templates import senders

JOB_KIND = "newsletter_schedule"
KIND = "newsletter"
LIST_LIMIT = 100
LIST_MAX = 1000

_decode = msgspec.json.decode


# --- creating and deleting -------------------------------------------------------------------


def create(conn: Connection, workspace_id: int, new: NewNewsletter, now: int) -> dict[str, Any]:
    """Store a newsletter (a draft), then send or schedule it if the request says so. An
    email with neither `from` nor `from_id` goes from the workspace's oldest sender
    identity (its `from_id`, Customer.io's default)."""
    fields = references.merge(conn, workspace_id, {}, new.fields)
    if new.action_type == "email" and not fields.get("from") and "from_id" not in fields:
        fields["from_id"] = _default_sender(conn, workspace_id)
    definition = {
        "recipients": new.recipients,
        "type": API_TYPES[new.action_type],
        "subscription_topic_id": new.subscription_topic_id,
        "schedule": None,
        "ab_test": new.ab_test,
        **_rate_values(new.rate),
    }
    step = Step(
        key="message",
        type=new.action_type,
        name=new.name,
        sending_state="automatic",
        contents=(("", fields),),
    )
    newsletter = Campaign(
        kind=KIND,
        name=new.name,
        description="",
        state="draft",
        tags=(),
        trigger_kind="api",
        event_name=None,
        definition=definition,
        workflow=(step,),
    )
    newsletter_id = store.create(conn, workspace_id, newsletter, now)
    if new.send_now:
        return send(conn, workspace_id, newsletter_id, None, now)
    if new.scheduled_at is not None:
        schedule = Schedule(new.scheduled_at, "UTC", False, None)
        return set_schedule(conn, workspace_id, newsletter_id, schedule, now)
    return get(conn, workspace_id, newsletter_id)


def _default_sender(conn: Connection, workspace_id: int) -> int:
    found = senders.oldest_id(conn, workspace_id)
    if found is None:
        raise bad_request("from is required: the workspace has no sender identity", "from")
    return found


def remove(conn: Connection, workspace_id: int, newsletter_id: int) -> None:
    """Delete a newsletter with its contents, journeys and sends (its messages stay, and
    those not yet sent fail: the newsletter is gone)."""
    store.row_of(conn, workspace_id, newsletter_id, KIND)
    conn.execute(delete(campaigns).where(campaigns.c.id == newsletter_id))


# --- sending ---------------------------------------------------------------------------


def send(
    conn: Connection,
    workspace_id: int,
    newsletter_id: int,
    rate: dict[str, Any] | None,
    now: int,
) -> dict[str, Any]:
    """Send the newsletter now (`POST .../send`), with these rate limit options if given."""
    row = _unsent(conn, workspace_id, newsletter_id)
    stored = store.definition_of(row)
    definition = {**stored, "schedule": None, **_rate_values(rate, stored.get("rate_limit"))}
    _start(conn, row, definition, None, now)
    return get(conn, workspace_id, newsletter_id)


def set_schedule(
    conn: Connection, workspace_id: int, newsletter_id: int, schedule: Schedule, now: int
) -> dict[str, Any]:
    """Schedule the newsletter (`at` 0: deschedule), with rate limit options if given."""
    row = _unsent(conn, workspace_id, newsletter_id)
    stored = store.definition_of(row)
    definition = {**stored, **_rate_values(schedule.rate, stored.get("rate_limit"))}
    definition["schedule"] = None
    if schedule.at:
        definition["schedule"] = {
            "at": schedule.at,
            "timezone": schedule.timezone,
            "tz_match": schedule.tz_match,
        }
        payload = {"newsletter_id": newsletter_id, "at": schedule.at}
        enqueue(conn, workspace_id, JOB_KIND, payload, now, run_at=_fires_at(definition, now))
    store.update_row(conn, newsletter_id, now, definition=_text(definition))
    return get(conn, workspace_id, newsletter_id)


def set_ab_test(
    conn: Connection,
    workspace_id: int,
    newsletter_id: int,
    test: dict[str, Any] | None,
    now: int,
) -> dict[str, Any]:
    """Set (or with None, remove) the newsletter's A/B test; a sent one's is a 400."""
    row = _unsent(conn, workspace_id, newsletter_id)
    definition = {**store.definition_of(row), "ab_test": test}
    store.update_row(conn, newsletter_id, now, definition=_text(definition))
    return get(conn, workspace_id, newsletter_id)


def send_scheduled(conn: Connection, newsletter_id: int, at: int, now: int) -> bool:
    """Send the newsletter if it is still scheduled for `at`; whether it was."""
    row = conn.execute(
        select(campaigns)
        .where(campaigns.c.id == newsletter_id, campaigns.c.kind == KIND)
        .with_for_update()
    ).first()
    if row is None or row.first_started is not None:
        return False
    definition = store.definition_of(row)
    schedule = definition.get("schedule")
    if not schedule or schedule["at"] != at:
        return False
    at_local = send_times.local_spec(at, schedule["timezone"]) if schedule["tz_match"] else None
    _start(conn, row, definition, at_local, now)
    return True


class ScheduledSendJob:
    """The handler registered for `JOB_KIND`: payload `{"newsletter_id", "at"}`."""

    def run(self, ctx: JobContext, job: Claimed) -> None:
        newsletter_id, at = job.payload.get("newsletter_id"), job.payload.get("at")
        if not isinstance(newsletter_id, int) or not isinstance(at, int):
            raise Permanent(f"{JOB_KIND} job {job.id} has no newsletter_id and at")
        ctx.write(send_scheduled, newsletter_id, at, ctx.now())

    def give_up(self, conn: Connection, job: Claimed, error: str, now: int) -> None:
        return None


def _unsent(conn: Connection, workspace_id: int, newsletter_id: int) -> Any:
    store.row_of(conn, workspace_id, newsletter_id, KIND)
    row = conn.execute(
        select(campaigns).where(campaigns.c.id == newsletter_id).with_for_update()
    ).one()
    if row.first_started is not None:
        raise bad_request(f"newsletter {newsletter_id} was sent already")
    return row


def _start(
    conn: Connection,
    row: Any,
    definition: dict[str, Any],
    at_local: dict[str, Any] | None,
    now: int,
) -> None:
    """Mark the newsletter sent and store its fan-out (each person's journey due at their
    local time when `at_local` is given; with an A/B test, its sample's only, and the
    winner's job)."""
    definition = ab.begin(conn, row.workspace_id, row.id, definition, now)
    store.update_row(
        conn, row.id, now, state="running", first_started=now, definition=_text(definition)
    )
    audience: dict[str, Any] = {"form": "recipients", "recipients": definition["recipients"]}
    if at_local is not None:
        audience["at_local"] = at_local
    sample = ab.sample_of(row.id, definition)
    if sample is not None:
        audience["sample"] = sample
    broadcasts.fan_out(conn, row.workspace_id, row.id, audience, {}, now)


def _fires_at(definition: dict[str, Any], now: int) -> int:
    schedule = definition["schedule"]
    if not schedule["tz_match"]:
        return int(schedule["at"])
    spec = send_times.local_spec(schedule["at"], schedule["timezone"])
    return max(now, send_times.earliest(spec))


def _rate_values(
    rate: dict[str, Any] | None, before: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The definition's `rate_limit` and `send_rate` for rate limit options (none: no
    change; `rate_limit_spread` alone keeps the rate set `before`). Spread or not,
    messages are spaced evenly (`sending/rates.py`)."""
    if rate is None:
        return {}
    if "messages" not in rate and before and "messages" in before:
        rate = {**before, "spread": rate["spread"]}
    send_rate = {"messages": rate["messages"], "per": rate["per"]} if "messages" in rate else None
    return {"rate_limit": rate, "send_rate": send_rate}


def _text(definition: dict[str, Any]) -> str:
    return msgspec.json.encode(definition).decode()


# --- views -----------------------------------------------------------------------------


def get(conn: Connection, workspace_id: int, newsletter_id: int) -> dict[str, Any]:
    return shown(conn, store.row_of(conn, workspace_id, newsletter_id, KIND))


def list_page(conn: Connection, workspace_id: int, page: PageRequest, desc: bool) -> dict[str, Any]:
    """`{"newsletters": [...], "next": cursor}` by id (creation order), oldest first
    unless `desc`."""
    c = campaigns.c
    query = select(campaigns).where(c.workspace_id == workspace_id, c.kind == KIND)
    if page.after is not None:
        query = query.where(c.id < page.after[0] if desc else c.id > page.after[0])
    query = query.order_by(c.id.desc() if desc else c.id).limit(page.limit + 1)
    rows, cursor = paging.cut(list(conn.execute(query)), page.limit, lambda row: (row.id,))
    return {"newsletters": [shown(conn, row) for row in rows], "next": cursor}


def shown(conn: Connection, row: Any) -> dict[str, Any]:
    """Customer.io's `newsletterObject`, and ours: `recipients`, `state`, the schedule,
    the rate limit options and the A/B test (`newsletter_ab.shown`)."""
    definition = store.definition_of(row)
    schedule = definition.get("schedule") or {}
    rate = definition.get("rate_limit") or {}
    action = contents.message_action(conn, row.id)
    return {
        "id": row.id,
        "deduplicate_id": f"{row.id}:{row.updated_at}",
        "name": row.name,
        "type": definition["type"],
        "content_ids": contents.content_ids(conn, action.id),
        "sent_at": row.first_started,
        "created": row.created_at,
        "updated": row.updated_at,
        "tags": list(_decode(row.tags)),
        "recipient_segment_ids": documents.segment_ids(definition["recipients"]),
        "subscription_topic_id": definition.get("subscription_topic_id"),
        "recipients": definition["recipients"],
        "state": "sent" if row.first_started else ("scheduled" if schedule else "draft"),
        "scheduled_at": schedule.get("at"),
        "timezone": schedule.get("timezone"),
        "tz_match_enabled": bool(schedule.get("tz_match")),
        "rate_limit_email_rate": rate.get("messages"),
        "rate_limit_time_period": rate.get("per"),
        "rate_limit_spread": rate.get("spread"),
        "ab_test": ab.shown(conn, row, definition),
    }
