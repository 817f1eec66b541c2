"""One Pipelines request applied inside the caller's transaction: one write job.

Messages apply in request order. A run of consecutive plain events (track
calls that are not semantic events, page and screen views) goes through
`pipelines.bulk` in a few statements; every other message runs through
`pipelines.service.apply` in a SAVEPOINT of its own, so one refused at
apply time (an object's attributes over 100 KB, say) writes nothing while
its neighbours commit. Refused messages are recorded in `cdp_rejections`
in the same transaction.

In strict mode nothing is recorded: a message refused at apply time raises,
the writer rolls the whole request back, and the client gets the 4xx.

A request of nothing but plain events (and messages refused while parsing)
can be queued instead (`ingest_queued`, through `Writer.submit_many`, the
events as `Plain` tuples): the requests that share a commit then go through
`pipelines.bulk` as one run, a few statements for all of them rather than
for each.
"""

from __future__ import annotations

import itertools

from sqlalchemy import Connection

from tidings.db import counters
from tidings.errors import ApiError
from tidings.events.bulk import IsNew
from tidings.events.dedup import Claim
from tidings.people import anonymous_locks
from tidings.people.anonymous_locks import AnonymousId
from tidings.people.bulk import Named
from tidings.pipelines import bulk, rejections, service
from tidings.pipelines.parse import Message
from tidings.pipelines.rejections import Rejected
from tidings.pipelines.rules import Plain, dedup_key

Item = Message | Rejected


def ingest(
    conn: Connection, workspace_id: int, items: list[Item], now: int, strict: bool
) -> list[str]:
    """Apply the messages, record the refused ones; returns the refusals' reason codes."""
    anonymous_locks.lock(conn, anonymous_ids(workspace_id, items))
    refused = [item for item in items if isinstance(item, Rejected)]
    index, count = 0, len(items)
    while index < count:
        item = items[index]
        if isinstance(item, Rejected):
            index += 1
        elif is_plain_event(item):
            end = _run_end(items, index)
            run = [m.as_plain() for m in items[index:end] if isinstance(m, Message)]
            bulk.track_run(conn, workspace_id, run, now)
            index = end
        else:
            error = _apply_one(conn, workspace_id, item, now, strict)
            if error is not None:
                refused.append(_rejected(error, item))
            index += 1
    rejections.record(conn, workspace_id, refused, now)
    return [item.reason for item in refused]


Queued = tuple[int, list[Plain | Rejected], int]  # workspace, a request's items, receipt time


def only_plain_events(items: list[Item]) -> bool:
    """Whether `ingest_queued` may apply the request: no message that needs more than a row."""
    return all(isinstance(item, Rejected) or item.plain for item in items)


def plain_items(items: list[Item]) -> list[Plain | Rejected]:
    """A request that `only_plain_events` accepts, as queued."""
    return [item if isinstance(item, Rejected) else item.as_plain() for item in items]


def ingest_queued(conn: Connection, queued: list[Queued]) -> None:
    """The writer's bulk function for requests that hold only plain events (`plain_items`).

    The effect is `ingest` on each request in turn (the refusals to report
    are the `Rejected` items the caller already holds): the requests
    of one workspace received in the same second are one `bulk.track_run`,
    which drops a messageId repeated later in the run as it would in a later
    request.
    """
    anonymous_locks.lock(conn, (pair for item in queued for pair in queued_anonymous(item)))
    # By workspace (stable: each keeps its order), so that a transaction records the
    # dedup keys and people of its workspaces in one order (see `events.dedup`).
    ordered = sorted(queued, key=lambda q: q[0])
    for (workspace_id, now), group in itertools.groupby(ordered, key=lambda q: (q[0], q[2])):
        items = [item for _, request, _ in group for item in request]
        run = [item for item in items if not isinstance(item, Rejected)]
        bulk.track_run(conn, workspace_id, run, now)
        refused = [item for item in items if isinstance(item, Rejected)]
        rejections.record(conn, workspace_id, refused, now)


def queued_claims(item: Queued) -> list[Claim]:
    """The dedup keys `ingest_queued` will ask for on a request's behalf (`dedup.preclaim`)."""
    workspace_id, request, now = item
    keys = (dedup_key(m[3]) for m in request if not isinstance(m, Rejected))
    return [(workspace_id, key, now) for key in keys if key]


def queued_people(item: Queued, is_new: IsNew) -> list[Named]:
    """The people `ingest_queued` will log a request's events on: each userId of a
    message whose messageId is new (`events.bulk.preclaim_people`)."""
    workspace_id, request, now = item
    messages = [m for m in request if not isinstance(m, Rejected)]
    # Every message asks for its key, as in its run, whoever it names.
    fresh = [m for m in messages if is_new(workspace_id, dedup_key(m[3]))]
    return [(workspace_id, ("id", m[1]), m[1], now) for m in fresh if m[1] is not None]


def anonymous_ids(workspace_id: int, items: list[Item]) -> list[AnonymousId]:
    """The anonymous ids `ingest` will look up or claim for a request: the anonymousId of
    a plain event without a userId (whose owner it is logged on), and the anonymousId
    and the alias `previousId` of every other message (an identify or alias claims them,
    a group or semantic event without a userId looks their owner up)."""
    found: list[AnonymousId] = []
    for item in items:
        if isinstance(item, Rejected):
            continue
        if item.plain:
            if item.user_id is None and item.anonymous_id is not None:
                found.append((workspace_id, item.anonymous_id))
            continue
        named = (item.anonymous_id, item.previous_id)
        found.extend((workspace_id, anonymous_id) for anonymous_id in named if anonymous_id)
    return found


def queued_anonymous(item: Queued) -> list[AnonymousId]:
    """The anonymous ids `ingest_queued` will look up for a request: the anonymousId of
    each event without a userId."""
    workspace_id, request, _ = item
    return [
        (workspace_id, m[2])
        for m in request
        if not isinstance(m, Rejected) and m[1] is None and m[2] is not None
    ]


def is_plain_event(item: Item) -> bool:
    """A track (not semantic), page or screen message: it only appends to the log."""
    return isinstance(item, Message) and item.plain


def _run_end(items: list[Item], start: int) -> int:
    """The end of the run of plain events (and refused items) from `start`."""
    end = start
    while end < len(items):
        item = items[end]
        if isinstance(item, Message) and not item.plain:
            break
        end += 1
    return end


def _apply_one(
    conn: Connection, workspace_id: int, msg: Message, now: int, strict: bool
) -> ApiError | None:
    if strict:
        service.apply(conn, workspace_id, msg, now)
        return None
    try:
        with counters.savepoint(conn):  # undone counts are forgotten too
            service.apply(conn, workspace_id, msg, now)
    except ApiError as exc:
        return exc
    return None


def _rejected(error: ApiError, msg: Message) -> Rejected:
    return Rejected(
        reason=error.code,
        message=error.message,
        type=msg.type,
        message_id=msg.message_id,
        size=len(msg.data_json.encode()),
        snippet=msg.data_json[: rejections.SNIPPET_CHARS],
    )
