"""Partition ownership and offsets in the database (`ingest_partitions`).

Each partition of a stream has one row. An applier claims a row with a lease
on the database's clock (`jobs.lease.Leases`: `FOR UPDATE SKIP LOCKED`, and
each claim bumps `attempts`, the claim's fence). The transaction that applies
a batch first locks the row and checks the claim still holds (`fence`), then
advances `applied_seq` (`advance`) before it commits: a batch is applied
exactly when its offset moves, and a claim that was lost applies nothing.

Appliers keep a row in `ingest_appliers` alive with their leases; each takes
at most its fair share (the partitions divided by the appliers alive,
rounded up) and gives back what is beyond it, so partitions spread out as
appliers join and move to the others when one dies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import Connection, and_, delete, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from tidings.db.schema import ingest_appliers, ingest_partitions
from tidings.jobs.lease import Leases, db_now, lease_end

leases = Leases(ingest_partitions, "held")
FORGET_APPLIERS = 3600  # seconds after which a silent applier's row is removed


@dataclass(frozen=True)
class Claim:
    id: int
    partition: int
    attempt: int
    applied_seq: int  # when claimed: the stream sequence to start after


def ensure(conn: Connection, stream: str, partitions: int) -> None:
    """One row per partition of `stream` (the ones missing are added, free)."""
    rows = [
        {
            "stream": stream,
            "partition": n,
            "state": "free",
            "attempts": 0,
            "applied_seq": 0,
            "applied_total": 0,
        }
        for n in range(partitions)
    ]
    conn.execute(pg_insert(ingest_partitions).values(rows).on_conflict_do_nothing())


def heartbeat(conn: Connection, stream: str, owner: str, lease: int) -> int:
    """Say this applier is alive for `lease` seconds; how many appliers are."""
    values = {"stream": stream, "owner": owner, "seen_until": lease_end(lease)}
    conn.execute(
        pg_insert(ingest_appliers)
        .values(values)
        .on_conflict_do_update(
            index_elements=["stream", "owner"], set_={"seen_until": lease_end(lease)}
        )
    )
    t = ingest_appliers.c
    conn.execute(delete(ingest_appliers).where(t.seen_until < db_now() - FORGET_APPLIERS))
    alive = select(func.count()).where(t.stream == stream, t.seen_until > db_now())
    return int(conn.execute(alive).scalar_one())


def leave(conn: Connection, stream: str, owner: str) -> None:
    """An applier stopping: the others count without it at once."""
    t = ingest_appliers.c
    conn.execute(delete(ingest_appliers).where(t.stream == stream, t.owner == owner))


def fair_share(partitions: int, appliers: int) -> int:
    return math.ceil(partitions / max(1, appliers))


def claim(conn: Connection, stream: str, owner: str, wanted: int, lease: int) -> list[Claim]:
    """Claim up to `wanted` partitions that are free or whose lease ran out."""
    if wanted <= 0:
        return []
    c = ingest_partitions.c
    due = (
        select(c.id)
        .where(c.stream == stream, or_(c.state == "free", leases.expired()))
        .order_by(c.partition)
        .limit(wanted)
    )
    rows = leases.claim(
        conn, due, lease, [c.id, c.partition, c.attempts, c.applied_seq], state="held", owner=owner
    )
    return [Claim(*row) for row in rows]


def renew(conn: Connection, claims: list[Claim], lease: int) -> set[int]:
    """Extend the claims that still hold; the ids of those."""
    if not claims:
        return set()
    c = ingest_partitions.c
    held = and_(
        tuple_(c.id, c.attempts).in_([(cl.id, cl.attempt) for cl in claims]), c.state == "held"
    )
    statement = (
        update(ingest_partitions).where(held).values(lease_until=lease_end(lease)).returning(c.id)
    )
    return set(conn.execute(statement).scalars())


def release(conn: Connection, claim: Claim) -> None:
    """Give a partition back (it stays where it is applied up to)."""
    leases.record(conn, claim.id, claim.attempt, state="free", owner=None)


def fence(conn: Connection, claim: Claim) -> int | None:
    """Lock the partition's row for this transaction; its offset while the claim holds,
    else None (the claim was lost: apply nothing)."""
    c = ingest_partitions.c
    query = select(c.applied_seq).where(leases.held(claim.id, claim.attempt)).with_for_update()
    return conn.execute(query).scalar_one_or_none()


def advance(conn: Connection, claim: Claim, seq: int, applied: int) -> None:
    """Move the offset to `seq` after `applied` messages (in the applying transaction)."""
    c = ingest_partitions.c
    conn.execute(
        update(ingest_partitions)
        .where(c.id == claim.id)
        .values(applied_seq=seq, applied_total=c.applied_total + applied, applied_at=db_now())
    )


@dataclass(frozen=True)
class Offset:
    partition: int
    applied_seq: int
    applied_total: int
    owner: str | None  # None: no applier holds it
    attempts: int


def offsets(conn: Connection, stream: str) -> list[Offset]:
    """Each partition's offset, total applied and current owner, for `/metrics`."""
    c = ingest_partitions.c
    query = (
        select(c.partition, c.applied_seq, c.applied_total, c.owner, c.attempts)
        .where(c.stream == stream)
        .order_by(c.partition)
    )
    return [Offset(*row) for row in conn.execute(query)]
