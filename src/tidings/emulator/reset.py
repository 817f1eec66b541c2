"""Forgetting a workspace's data between tests (`POST /_emulator/reset`).

Every table is in exactly one of three sets, and a test fails when a table is
added without being placed (`tests/unit/test_emulator_reset.py`):

- `DATA`: what a test's calls leave behind (people and their attributes,
  events, devices, objects, messages and their metrics, journeys, jobs,
  exports, captured messages, webhook posts, ...): forgotten on every reset;
- `DEFINITIONS`: what a test suite sets up once (templates, campaigns,
  segments, snippets, layouts, senders, providers, reporting webhooks,
  collections, topics, Design Studio, assets): forgotten only when asked
  (`everything`);
- `KEPT`: the workspace itself with its keys and secrets, sign-in users, the
  store's own bookkeeping (chores, ingest partitions): never.

The emulator's store holds one workspace, so a reset empties each table with
`DELETE FROM t`, on a connection of its own with SQLite's foreign keys off
(`empty`): only then does SQLite carry it out by dropping the table's pages
(its truncate optimization, which foreign keys turn off for every table that
has one) rather than row by row, each row's index entries, its parent
checks and its cascades (10,000 people with their events, in-process: ~12
ms against 185-280 ms; docs/benchmarks.md, "The emulator"). Nothing checks
the keys then, and none is needed: no table outside the set emptied refers
to one in it (`tests/unit/test_emulator_reset.py`), so nothing is left
pointing at a row that is gone, and the cascades that would have run empty
tables emptied anyway. Freed pages are not zeroed either (`secure_delete`, on in Debian's
SQLite: writing them cost more than the deletes): the store is thrown away
at exit. Ids then start again from 1 (a rowid is the largest one plus one),
so they are the same in every test. A store holding other workspaces too is
reset row by row, by workspace, through the writer (`reset`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Table, delete, func, select

from tidings.db.engine import Database
from tidings.db.schema import metadata, workspaces
from tidings.templates import version

DATA = frozenset(
    {
        "attributes",
        "blocked_addresses",
        "broadcast_trigger_errors",
        "broadcast_triggers",
        "captured_messages",
        "cdp_rejections",
        "data_index",
        "deliveries",
        "delivery_days",
        "delivery_metrics",
        "devices",
        "download_links",
        "event_dedup",
        "event_minutes",
        "events",
        "exports",
        "file_parts",
        "files",
        "forms",
        "idempotency_keys",
        "imports",
        "ingest_refusals",
        "jobs",
        "journey_steps",
        "journeys",
        "message_totals",
        "newsletter_holdbacks",
        "objects",
        "people",
        "relationships",
        "segment_dirty",
        "segment_members",
        "send_rates",
        "suppressions",
        "webhook_posts",
    }
)

DEFINITIONS = frozenset(
    {
        "action_contents",
        "asset_folders",
        "assets",
        "campaign_actions",
        "campaigns",
        "collections",
        "design_email_languages",
        "design_nodes",
        "layouts",
        "providers",
        "reporting_webhooks",
        "segments",
        "sender_identities",
        "snippets",
        "subscription_channels",
        "subscription_topics",
        "transactional_contents",
        "transactional_messages",
        "workspace_limits",
    }
)

KEPT = frozenset(
    {
        "audit_log",
        "chores",
        "ingest_appliers",
        "ingest_partitions",
        "login_failures",
        "ui_sessions",
        "user_roles",
        "users",
        "workspace_secrets",
        "workspaces",
    }
)


def reset(conn: Connection, workspace_id: int, everything: bool = False) -> None:
    """Forget the workspace's data, and with `everything` its definitions too: the
    general form, on a connection with its foreign keys on (the writer's)."""
    if _sole(conn):
        _empty(conn, workspace_id, everything)
        return
    names = _names(everything)
    # Children before parents: the foreign keys hold at every statement.
    for table in reversed(metadata.sorted_tables):
        if table.name in names:
            _delete_workspace_rows(conn, table, workspace_id)
    if everything:
        version.bump(conn, workspace_id)  # the processes' template caches read again


def empty(db: Database, workspace_id: int, everything: bool = False) -> bool:
    """`reset` in its quick form (the module doc) when the SQLite store holds this one
    workspace; False, having changed nothing, when it holds others too."""
    with _unchecked(db) as conn, conn.begin():
        if not _sole(conn):
            return False
        _empty(conn, workspace_id, everything)
    return True


def _names(everything: bool) -> frozenset[str]:
    return DATA | DEFINITIONS if everything else DATA


def _sole(conn: Connection) -> bool:
    return conn.execute(select(func.count()).select_from(workspaces)).scalar_one() == 1


def _empty(conn: Connection, workspace_id: int, everything: bool) -> None:
    """Every row of the tables reset, children before parents (so that the foreign keys,
    when on, hold at every statement)."""
    names = _names(everything)
    for table in reversed(metadata.sorted_tables):
        if table.name in names:
            conn.execute(delete(table))
    if everything:
        version.bump(conn, workspace_id)  # the processes' template caches read again


@contextmanager
def _unchecked(db: Database) -> Iterator[Connection]:
    """A writing connection with SQLite's foreign keys and `secure_delete` off (set
    outside a transaction: inside one, `foreign_keys` is ignored); both are set back
    before it returns to the pool, and a connection that fails on the way is dropped."""
    with db.writer.connect() as conn:
        driver = conn.connection.driver_connection
        assert driver is not None
        secure = driver.execute("PRAGMA secure_delete").fetchone()[0]
        try:
            driver.execute("PRAGMA foreign_keys=OFF")
            driver.execute("PRAGMA secure_delete=OFF")
            yield conn
            driver.execute("PRAGMA foreign_keys=ON")
            driver.execute(f"PRAGMA secure_delete={int(secure)}")
        except BaseException:
            conn.invalidate()
            raise


def _delete_workspace_rows(conn: Connection, table: Table, workspace_id: int) -> None:
    """The workspace's rows of `table`. Tables without a workspace column go with their
    parents' rows (`ON DELETE CASCADE`: file parts, newsletter holdbacks, broadcast
    trigger errors), but for `send_rates`, pacing state shared by the workspaces, which
    expires by itself."""
    if "workspace_id" in table.c:
        conn.execute(delete(table).where(table.c.workspace_id == workspace_id))
