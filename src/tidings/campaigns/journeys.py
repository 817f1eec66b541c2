"""Journeys: each person's way through a campaign, moved on step by step.

A journey is a row and its own timer. While `active` it is due at `due_at`:
its entry (now), a delay's end, a time window's opening, a wait's timeout,
or NULL while it waits for an event with no timeout. `advance_due` takes due
journeys with `FOR UPDATE SKIP LOCKED` and moves each one on **in the same
transaction**: every effect of a step (a delivery queued for the delivery
worker, an attribute written, the step's record in `journey_steps`) and the
journey's new position commit together or not at all. So a step that ran is
never run again, a process killed mid-journey loses nothing (the
transaction rolls back and the journey is due again), and several workers
share the due journeys without a lease (PostgreSQL skips the rows another
transaction holds; SQLite's one writer serialises them). Nothing here calls
out of the database: messages and webhooks are deliveries, sent after the
commit by the delivery worker with its own exactly-once rules.

Moving on, in order (CAMPAIGNS.md 9.2): a journey entering checks the
campaign is running and the filters hold (an entry that fails them is
retried for 30 minutes, then not activated, C 2.2); a journey already in
checks the exit condition; then steps run until one waits or the workflow
ends. Filters are checked again before each message. Everything reads the
time it is given (`now`, from the injected clock).

Waiting (`waiting`, JSON, for the wait in progress at `action_id`):
`until` (when it ends or times out), `event` (a wait-until's event, set
`fired` by `wake` when it happens), `condition` (a wait-until's condition,
checked whenever the person's activity changes), `listen` (the campaign has
an exit condition: check it on every activity). `wake` makes listening
journeys due now; one woken early goes back to sleep until `until`.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import Connection, func, select, update

from tidings.campaigns import limits, local_time, messages, store
from tidings.campaigns.store import Action
from tidings.db import counters, raw
from tidings.db.schema import campaigns, journey_steps, journeys
from tidings.jobs.lease import skip_locked
from tidings.people import service as people
from tidings.people import store as people_store
from tidings.people.store import Person, Stored
from tidings.reporting import totals
from tidings.reporting.metrics import record_metric
from tidings.segments import compile, conditions, evaluate
from tidings.segments.evaluate import PersonFacts
from tidings.templates import render
from tidings.timestamps import unix_seconds

log = logging.getLogger("tidings.campaigns")

BATCH = 200  # journeys moved on per transaction
FILTER_RETRY = 60  # an entry failing the filters is tried again this much later...
FILTER_GRACE = 30 * 60  # ...for this long (C 2.2)
HALT = -1  # a step's answer: the journey waits or ended (action ids are positive)
MAX_STEPS_AT_ONCE = 500  # a workflow has no loops; this only bounds a corrupt one

_encode = msgspec.json.Encoder(order="sorted").encode
_decode = msgspec.json.decode


# --- entry ---------------------------------------------------------------------------------


def start(
    conn: Connection,
    workspace_id: int,
    campaign_id: int,
    person_pk: int | None,
    entry_key: str,
    now: int,
    *,
    context: dict[str, Any] | None = None,
    trigger_event_id: int | None = None,
    trigger_id: int | None = None,
    due_at: int | None = None,
) -> bool:
    """Insert a journey due at `due_at` (now by default; a later time for a date
    trigger's entry, which starts then); False when its key was used already."""
    starts_later = due_at is not None and due_at > now
    values = (
        workspace_id,
        campaign_id,
        person_pk,
        entry_key,
        "active",
        0,
        now if due_at is None else due_at,
        trigger_event_id,
        trigger_id,
        _encode(context or {}).decode(),
        None if starts_later else now,
        now,
        now,
    )
    # RETURNING, not rowcount: psycopg reports no rowcount for this statement.
    return bool(raw.select_in(conn, _START, values, []))


# On the driver: a broadcast's fan-out starts a journey per recipient, and through
# SQLAlchemy Core (an INSERT ... ON CONFLICT compiled each time) this statement
# was half of the writer's time during one (py-spy, bench/broadcast.py).
_START = (
    f"INSERT INTO {journeys.name} (workspace_id, campaign_id, person_id, entry_key, state,"
    " visit, due_at, trigger_event_id, trigger_id, context, started_at, created_at,"
    " updated_at) VALUES ({0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, {9}, {10}, {11}, {12})"
    " ON CONFLICT DO NOTHING RETURNING id"
)


def last_start(conn: Connection, campaign_id: int, person_pk: int) -> int | None:
    """When the person last entered the campaign, if ever. Taken from the person's
    journeys (`_entries`): as `MAX(started_at)` SQLite walked the campaign's
    `(campaign_id, started_at)` index, every journey of the campaign for each entry."""
    starts = [row.started_at for row in _entries(conn, campaign_id, person_pk)]
    return max((int(at) for at in starts if at is not None), default=None)


def reschedule_date(
    conn: Connection,
    workspace_id: int,
    campaign_id: int,
    person_pk: int,
    trigger: dict[str, Any],
    now: int,
) -> None:
    """(Re)schedule a person's next entry into a date-triggered campaign from their
    date attribute as it is now: a waiting entry for another date is dropped."""
    spec = trigger["date"]
    attributes = people_store.load_attributes(conn, person_pk)
    fire_at, key = _next_occurrence(spec, attributes, now)
    ids = [
        row.id
        for row in _entries(conn, campaign_id, person_pk)
        if row.state == "active" and row.started_at is None and row.entry_key != key
    ]
    if ids:
        conn.execute(journeys.delete().where(journeys.c.id.in_(ids)))
    if fire_at is not None and key is not None:
        start(conn, workspace_id, campaign_id, person_pk, key, now, due_at=fire_at)


def _entries(conn: Connection, campaign_id: int, person_pk: int) -> Sequence[Any]:
    """The person's journeys of the campaign (one per entry), on the
    `(campaign_id, person_id, entry_key)` key. Filtered by the caller: with the state
    or the start in the WHERE too, SQLite without statistics took a campaign-wide
    index (`(campaign_id, state, action_id)`) and read every active journey of the
    campaign, for each person a date campaign schedules."""
    c = journeys.c
    query = select(c.id, c.state, c.started_at, c.entry_key).where(
        c.campaign_id == campaign_id, c.person_id == person_pk
    )
    return conn.execute(query).all()


def _next_occurrence(
    spec: dict[str, Any], attributes: dict[str, Stored], now: int
) -> tuple[int | None, str | None]:
    stored = attributes.get(spec["attribute"])
    value = None if stored is None else unix_seconds(stored.value, digit_strings=True)
    if value is None:
        return None, None
    zone = _zone_of(spec, attributes)
    fire_at = local_time.date_occurrence(
        value,
        now,
        frequency=spec["frequency"],
        hour=spec["hour"],
        minute=spec["minute"],
        tz=zone,
        offset_days=spec["offset_days"],
    )
    if fire_at is None:
        return None, None
    return fire_at, f"d{local_time.occurrence_key(fire_at, zone)}"


def _zone_of(spec: dict[str, Any], attributes: dict[str, Stored]) -> ZoneInfo:
    if spec["timezone"] == "customer":
        stored = attributes.get("timezone")
        return local_time.zone(None if stored is None else stored.value, spec["fallback_timezone"])
    return local_time.zone(spec["timezone"], spec["fallback_timezone"])


# --- waking listeners ------------------------------------------------------------------------


def wake(
    conn: Connection,
    workspace_id: int,
    person_pks: Sequence[int],
    rows: Sequence[tuple[Any, ...]],
    now: int,
) -> None:
    """Release the person's journeys waiting for an event in `rows`, and make due now
    the ones whose conditions may have changed; record goals met."""
    if not person_pks:
        return
    c = journeys.c
    listening = conn.execute(
        select(c.id, c.waiting).where(
            c.person_id.in_(list(person_pks)), c.state == "active", c.waiting.is_not(None)
        )
    ).all()
    for journey_id, text in listening:
        waiting = _decode(text)
        fired = waiting.get("event") is not None and any(
            event_in(waiting["event"], row, waiting.get("since", 0), now) for row in rows
        )
        if fired:
            waiting["fired"] = True
        elif not (waiting.get("condition") or waiting.get("listen")):
            continue
        conn.execute(
            update(journeys)
            .where(c.id == journey_id)
            .values(due_at=now, waiting=_encode(waiting).decode(), updated_at=now)
        )
    _goals(conn, person_pks, rows, now)


def event_in(spec: dict[str, Any], row: Sequence[Any], since: int, now: int) -> bool:
    """Whether appended row `row` is an event `spec` (`{name, where?}`) names, performed
    at or after `since`: a trigger's, a wait-until's or a goal's event."""
    if row[3] != "event" or row[4] != spec["name"] or row[5] < since:
        return False
    if not spec.get("where"):
        return True
    condition = _event_condition(spec["name"], _encode(spec["where"]).decode())
    data = _decode(row[7]) if isinstance(row[7], str | bytes) else row[7]
    fact = evaluate.EventFact("event", row[4], row[5], data if isinstance(data, dict) else {})
    return evaluate.matches(condition, PersonFacts(events=(fact,)), now)


@functools.lru_cache(maxsize=256)
def _event_condition(name: str, where: str) -> conditions.Condition:
    """An event spec's tests, parsed once (they are checked for every appended event)."""
    return conditions.parse({"event": {"name": name, "where": _decode(where)}})


def _goals(
    conn: Connection, person_pks: Sequence[int], rows: Sequence[tuple[Any, ...]], now: int
) -> None:
    """A goal event within the window after a journey's first message converts the
    journey (once) and its latest message; the journey ends if the goal says so."""
    events = [row for row in rows if row[3] == "event"]
    if not events:
        return
    c = journeys.c
    candidates = conn.execute(
        select(c.id, c.workspace_id, c.state, c.messaged_at, campaigns.c.definition)
        .join(campaigns, campaigns.c.id == c.campaign_id)
        .where(
            c.person_id.in_(list(person_pks)),
            c.converted_at.is_(None),
            c.messaged_at.is_not(None),
        )
    ).all()
    for journey_id, workspace_id, state, messaged_at, definition in candidates:
        goal = _decode(definition).get("goal")
        if goal is None:
            continue
        window_end = messaged_at + goal["within"]
        if not any(
            event_in(goal["event"], row, messaged_at, now) and row[5] <= window_end
            for row in events
        ):
            continue
        values: dict[str, Any] = {"converted_at": now, "updated_at": now}
        if state == "active" and goal.get("exit", True):
            values.update(state="exited", exit_reason="goal", ended_at=now, due_at=None)
        conn.execute(update(journeys).where(c.id == journey_id).values(**values))
        delivery_id = messages.latest_delivery(conn, journey_id)
        if delivery_id is not None:
            record_metric(conn, workspace_id, delivery_id, "converted", now, {}, now=now)


# --- moving on -------------------------------------------------------------------------------


def due(conn: Connection, now: int) -> bool:
    """Whether `advance_due` would find a journey (a cheap read for an idle poll)."""
    c = journeys.c
    query = select(c.id).where(c.state == "active", c.due_at <= now).limit(1)
    return conn.execute(query).first() is not None


def advance_due(conn: Connection, now: int, limit: int = BATCH) -> int:
    """Move on up to `limit` due journeys, oldest due first; how many were taken."""
    c = journeys.c
    rows = conn.execute(
        skip_locked(
            select(journeys)
            .where(c.state == "active", c.due_at <= now)
            .order_by(c.due_at, c.id)
            .limit(limit)
        )
    ).all()
    shared = _Shared(conn, rows)
    # The batch's counts (steps reached, messages made) are made at its end, in key
    # order (`db.counters`): workers moving journeys of the same campaigns would
    # otherwise take those rows in their journeys' order and could deadlock.
    with counters.deferred(conn):
        for row in rows:
            try:
                with counters.savepoint(conn):
                    _Run(conn, row, now, shared).run()
            except Exception as exc:  # one journey's fault must not hold up the others
                log.exception("journey %s failed at action %s", row.id, row.action_id)
                reason = f"error: {type(exc).__name__}"[:32]
                conn.execute(
                    update(journeys)
                    .where(c.id == row.id)
                    .values(state="exited", exit_reason=reason, ended_at=now, due_at=None)
                )
    return len(rows)


def backlog(conn: Connection, now: int) -> int:
    c = journeys.c
    return int(
        conn.execute(select(func.count()).where(c.state == "active", c.due_at <= now)).scalar_one()
    )


class _Shared:
    """What the journeys of one batch share, read once in its transaction: the
    campaigns' workflows, the workspaces' quiet hours (no step changes either) and
    the people, read together (a person whose attributes a step updates is read
    again by the next journey that needs them)."""

    def __init__(self, conn: Connection, rows: Sequence[Any]) -> None:
        self.conn = conn
        pks = sorted({row.person_id for row in rows if row.person_id is not None})
        self._people: dict[int, Person | None] = {}
        for start in range(0, len(pks), 500):
            some = pks[start : start + 500]
            found = people_store.by_pks(conn, some)
            self._people.update((pk, found.get(pk)) for pk in some)
        self._flows: dict[int, store.Workflow | None] = {}
        self._quiet: dict[int, dict[str, Any] | None] = {}

    def workflow(self, campaign_id: int) -> store.Workflow | None:
        if campaign_id not in self._flows:
            self._flows[campaign_id] = store.workflow(self.conn, campaign_id)
        return self._flows[campaign_id]

    def quiet_hours(self, workspace_id: int) -> dict[str, Any] | None:
        if workspace_id not in self._quiet:
            self._quiet[workspace_id] = limits.quiet_hours(self.conn, workspace_id)
        return self._quiet[workspace_id]

    def person(self, pk: int) -> Person | None:
        if pk not in self._people:
            self._people[pk] = people_store.by_pk(self.conn, pk)
        return self._people[pk]

    def changed(self, pk: int) -> None:
        self._people.pop(pk, None)


class _Run:
    """One due journey moved on, inside the caller's transaction."""

    def __init__(self, conn: Connection, row: Any, now: int, shared: _Shared) -> None:
        self.conn = conn
        self.row = row
        self.now = now
        self.shared = shared
        self.visit = row.visit
        self.values: dict[str, Any] = {}
        self._facts: PersonFacts | None = None
        self._person: Person | None = None
        self.context: dict[str, Any] = _decode(row.context) if row.context else {}

    # -- the run --

    def run(self) -> None:
        flow = self.shared.workflow(self.row.campaign_id)
        if flow is None:
            return  # the campaign is gone (its journeys go with it)
        self.flow = flow
        if self.row.person_id is not None and self.person is None:
            return self._end("exited", "person_deleted")
        started = self.row.started_at
        if started is None:  # a date trigger's entry, on its day
            if flow.state != "running":
                self.conn.execute(journeys.delete().where(journeys.c.id == self.row.id))
                return
            started = self.now
            self.conn.execute(
                update(journeys).where(journeys.c.id == self.row.id).values(started_at=started)
            )
            self._next_date()
        definition = flow.definition
        if self.row.action_id is None:
            if flow.state != "running":
                return self._end("exited", "campaign_stopped")
            if not self._holds(definition.get("filters")):
                if self.now - started < FILTER_GRACE:
                    return self._save(due_at=self.now + FILTER_RETRY)
                return self._end("exited", "filtered")
            self.values["activated_at"] = self.now
            return self._walk(flow.first_id, arriving=True)
        if self._holds(definition.get("exit_when"), default=False):
            return self._end("exited", "exit_condition")
        return self._walk(self.row.action_id, arriving=False)

    def _next_date(self) -> None:
        """A recurring date trigger's next occurrence, scheduled as this one starts."""
        trigger = self.flow.definition.get("trigger", {})
        if trigger.get("date", {}).get("frequency") in ("monthly", "yearly"):
            reschedule_date(
                self.conn,
                self.row.workspace_id,
                self.flow.id,
                self.row.person_id,
                trigger,
                self.now + 1,
            )

    def _walk(self, position: int | None, *, arriving: bool) -> None:
        waiting = _decode(self.row.waiting) if self.row.waiting and not arriving else None
        for _ in range(MAX_STEPS_AT_ONCE):
            if position is None:
                return self._end("finished", None)
            action = self.flow.action(position)
            if action is None:
                return self._end("exited", "action_removed")
            outcome = self._step(action, waiting)
            if outcome == HALT:
                return  # ended or waiting: saved
            position, waiting = outcome, None
        return self._end("exited", "too_many_steps")

    def _step(self, action: Action, waiting: dict[str, Any] | None) -> int | None:
        """Run one action; the next action's id (None: the end), or `HALT` once the
        journey waits or ended."""
        kind = action.type
        if kind in messages.CHANNELS:
            return self._message(action, waiting)
        if kind == "exit":
            self._record(action, "exit")
            self._end("finished", None)
            return HALT
        if kind == "update":
            self._update(action)
            return action.next_id
        if kind in ("branch", "split", "random"):
            return self._branch(action)
        return self._wait(action, waiting)

    # -- steps --

    def _message(self, action: Action, waiting: dict[str, Any] | None) -> int | None:
        if not self._holds(self.flow.definition.get("filters")):
            self._end("exited", "filtered")
            return HALT
        quiet_until = self._quiet_until() if action.type != "webhook" else None
        if quiet_until is not None:  # held until the quiet hours end
            if waiting is None:
                self._record(action, "quiet hours")
            held = {"until": quiet_until, "quiet": True}
            if self.flow.definition.get("exit_when") is not None:
                held["listen"] = True
            self._save(action_id=action.id, waiting=held, due_at=quiet_until)
            return HALT
        if action.sending_state == "off":
            self._record(action, "skipped")
            return action.next_id
        person = self.person
        delivery_id = messages.queue(self.conn, self.flow, action, self.row, person, self.now)
        self._record(
            action, "drafted" if action.sending_state == "draft" else "queued", delivery_id
        )
        if self.row.messaged_at is None:
            self.values.setdefault("messaged_at", self.now)
        return action.next_id

    def _update(self, action: Action) -> None:
        """Write the step's attributes. Never an identifier (`definitions` refuses them):
        so never an `anonymous_id`, which would need its advisory lock taken before
        the journey's rows (`people.anonymous_locks`)."""
        person = self.person
        if person is None:
            self._record(action, "skipped")
            return
        values = {}
        scope = render.Context(
            customer=self._customer(),
            trigger=self.context.get("trigger", {}),
            event=self.context.get("event"),
            now=self.now,
        )
        for name, value in action.settings["attributes"].items():
            if isinstance(value, str):
                value = render.render_fields(
                    {name: value}, scope, template_name=f"step {action.name}"
                )[name]
            values[name] = value
        people.apply_attributes(self.conn, person, values, self.now, self.now)
        self.shared.changed(person.pk)
        self._facts = None
        self._record(action, "updated")

    def _branch(self, action: Action) -> int | None:
        paths = action.paths
        settings = action.settings
        if action.type == "branch":
            chosen = 0 if self._holds(settings["if"], default=False) else 1
        elif action.type == "split":
            tests = settings["if"]
            chosen = next(
                (i for i, test in enumerate(tests) if self._holds(test, default=False)), len(tests)
            )
        else:
            chosen = _cohort(self.row.id, action.id, settings["percents"])
        self._record(action, f"path {chosen}")
        return paths[chosen]

    def _quiet_until(self) -> int | None:
        """When the quiet hours in force now end (the campaign's, else the workspace's),
        or None outside them."""
        quiet = self.flow.definition.get("quiet_hours") or self.shared.quiet_hours(
            self.row.workspace_id
        )
        if quiet is None:
            return None
        zone = self._zone(quiet)
        every_day = frozenset(range(7))
        if not local_time.is_open(
            self.now, local_time.Window(every_day, quiet["start"], quiet["end"]), zone
        ):
            return None
        allowed = local_time.Window(every_day, quiet["end"], quiet["start"])
        return local_time.next_open(self.now, allowed, zone)

    def _wait(self, action: Action, waiting: dict[str, Any] | None) -> int | None:
        """A delay, time window, local time or wait-until: arriving, it either passes
        at once or saves the wait; woken, it passes once its end or its event came."""
        if waiting is None:
            until, waiting = self._arrive(action)
            if until is not None and until <= self.now and not waiting.get("event"):
                self._record(action, "passed")
                return action.next_id
            if action.type == "wait_until" and self._wait_satisfied(action, waiting):
                self._record(action, "passed")
                return action.next_id
            self._record(action, "waiting")
            self._save(action_id=action.id, waiting=waiting, due_at=until)
            return HALT
        if action.type == "wait_until":
            if waiting.get("fired") or self._wait_satisfied(action, waiting):
                return action.next_id
            until = waiting.get("until")
            if until is not None and until <= self.now:
                return action.paths[0] if action.paths else action.next_id
            self._save(waiting={**waiting, "fired": False}, due_at=until)
            return HALT
        until = waiting.get("until")
        if until is None or until <= self.now:
            return action.next_id
        self._save(due_at=until)  # woken early (a listener): back to sleep
        return HALT

    def _arrive(self, action: Action) -> tuple[int | None, dict[str, Any]]:
        settings = action.settings
        waiting: dict[str, Any] = {}
        if self.flow.definition.get("exit_when") is not None:
            waiting["listen"] = True
        if action.type == "delay":
            until: int | None = self.now + settings["seconds"]
        elif action.type == "time_window":
            window = local_time.Window(
                frozenset(settings["days"]), settings["start"], settings["end"]
            )
            until = local_time.next_open(self.now, window, self._zone(settings))
        elif action.type == "at_local":
            days = frozenset(settings["days"]) if len(settings["days"]) < 7 else None
            until = local_time.next_at(
                self.now, settings["hour"], settings["minute"], self._zone(settings), days
            )
        else:  # wait_until
            timeout = settings.get("timeout")
            until = None if timeout is None else self.now + timeout
            if settings.get("condition") is not None:
                waiting["condition"] = True
            if settings.get("event") is not None:
                waiting["event"] = settings["event"]
                waiting["since"] = self.now
        waiting["until"] = until
        return until, waiting

    def _wait_satisfied(self, action: Action, waiting: dict[str, Any]) -> bool:
        """Whether a wait-until's condition holds now (one without a condition: no)."""
        if not waiting.get("condition"):
            return False
        return self._holds(action.settings.get("condition"), default=False)

    # -- facts --

    @property
    def person(self) -> Person | None:
        if self._person is None and self.row.person_id is not None:
            self._person = self.shared.person(self.row.person_id)
        return self._person

    def _holds(self, condition: Any, default: bool = True) -> bool:
        """Whether the person satisfies `condition` now (`default` when there is none)."""
        if condition is None:
            return default
        if self.row.person_id is None:
            return False
        if self._facts is None:
            self._facts = compile.facts_of(self.conn, self.row.person_id)
        return evaluate.matches(conditions.parse(condition), self._facts, self.now)

    def _customer(self) -> dict[str, Any]:
        from tidings.templates import render_data

        return render_data.customer(self.conn, self.person) if self.person is not None else {}

    def _zone(self, settings: dict[str, Any]) -> ZoneInfo:
        if settings["timezone"] != "customer":
            return local_time.zone(settings["timezone"], settings["fallback_timezone"])
        if self._facts is None and self.row.person_id is not None:
            self._facts = compile.facts_of(self.conn, self.row.person_id)
        stored = self._facts.attributes.get("timezone") if self._facts is not None else None
        return local_time.zone(stored[0] if stored else None, settings["fallback_timezone"])

    # -- writing --

    def _record(self, action: Action, outcome: str, delivery_id: str | None = None) -> None:
        self.visit += 1
        row = self.row
        step = (row.id, self.visit, row.workspace_id, row.campaign_id, action.id, outcome)
        raw.select_in(self.conn, _STEP, [*step, delivery_id, self.now], [])
        totals.add(self.conn, row.workspace_id, "reached", [("action", action.id)])
        self.values["action_id"] = action.id

    def _save(
        self,
        *,
        due_at: int | None,
        action_id: int | None = None,
        waiting: dict[str, Any] | None | str = "keep",
    ) -> None:
        values = {**self.values, "due_at": due_at, "visit": self.visit, "updated_at": self.now}
        if action_id is not None:
            values["action_id"] = action_id
        if waiting != "keep":
            values["waiting"] = None if waiting is None else _encode(waiting).decode()
        names = tuple(sorted(values))
        params = [*(values[name] for name in names), self.row.id]
        raw.select_in(self.conn, _update_sql(names), params, [])

    def _end(self, state: str, reason: str | None) -> None:
        self.values.update(state=state, exit_reason=reason, ended_at=self.now)
        self._save(due_at=None, waiting=None)


# On the driver: through SQLAlchemy Core these two statements were most of the
# cost of a journey's step (bench/profile_compose.py).
_STEP = (
    f"INSERT INTO {journey_steps.name} (journey_id, visit, workspace_id, campaign_id,"
    " action_id, outcome, delivery_id, at) VALUES ({0}, {1}, {2}, {3}, {4}, {5}, {6}, {7})"
)


@functools.lru_cache(maxsize=64)
def _update_sql(names: tuple[str, ...]) -> str:
    """`UPDATE journeys` of the columns `names`, then the id, as `raw.select_in` takes it."""
    columns = ", ".join(f"{name} = {{{i}}}" for i, name in enumerate(names))
    return f"UPDATE {journeys.name} SET {columns} WHERE id = {{{len(names)}}}"


def _cohort(journey_id: int, action_id: int, percents: Sequence[int]) -> int:
    """A random split's path for this journey: a stable hash, so running the step again
    (after a crash) picks the same path."""
    digest = hashlib.sha256(f"{journey_id}:{action_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") % 100
    total = 0
    for i, percent in enumerate(percents):
        total += percent
        if point < total:
            return i
    return len(percents) - 1
