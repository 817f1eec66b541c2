"""Deliveries indexed by state, for the web UI's Deliveries page

Revision ID: 0018_ui_activity
Revises: 0017_ui_people

The Deliveries page filters a workspace's messages by state (queued,
sending, sent, failed, suppressed, draft), newest first. Walking
`(workspace_id, created_at)` for a rare state (a few failures among
millions of sends) reads nearly every row; `(workspace_id, state,
created_at)` gives that page in one range. A delivery moves through three
or four states, so it costs a few index updates per send, next to a
provider call.

The activity log needs no index of its own (`activity/browse.py` bounds its
scan): `events` takes every ingested event, and each index costs each of them
a page write.
"""

from alembic import op

revision = "0018_ui_activity"
down_revision = "0017_ui_people"
branch_labels = None
depends_on = None

NAME = "ix_deliveries_workspace_id_state_created_at"


def upgrade() -> None:
    op.create_index(NAME, "deliveries", ["workspace_id", "state", "created_at"])
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # A store that was ANALYZEd has statistics for every other index of the
        # table; without some for this one SQLite would guess it very selective.
        has_stats = bind.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"
        ).first()
        if has_stats:
            op.execute("ANALYZE deliveries")


def downgrade() -> None:
    op.drop_index(NAME, table_name="deliveries")
