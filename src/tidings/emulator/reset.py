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
`DELETE FROM t`, which SQLite carries out by dropping the table's pages
rather than row by row; its ids then start again from 1 (a rowid is the
largest one plus one), so they are the same in every test. A store holding
other workspaces too is reset row by row, by workspace.
"""

from __future__ import annotations

from sqlalchemy import Connection, Table, delete, func, select

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
    """Forget the workspace's data, and with `everything` its definitions too."""
    names = DATA | DEFINITIONS if everything else DATA
    sole = conn.execute(select(func.count()).select_from(workspaces)).scalar_one() == 1
    # Children before parents: the foreign keys hold at every statement.
    for table in reversed(metadata.sorted_tables):
        if table.name not in names:
            continue
        if sole:
            conn.execute(delete(table))
        else:
            _delete_workspace_rows(conn, table, workspace_id)
    if everything:
        version.bump(conn, workspace_id)  # the processes' template caches read again


def _delete_workspace_rows(conn: Connection, table: Table, workspace_id: int) -> None:
    """The workspace's rows of `table`. Tables without a workspace column go with their
    parents' rows (`ON DELETE CASCADE`: file parts, newsletter holdbacks, broadcast
    trigger errors), but for `send_rates`, pacing state shared by the workspaces, which
    expires by itself."""
    if "workspace_id" in table.c:
        conn.execute(delete(table).where(table.c.workspace_id == workspace_id))
