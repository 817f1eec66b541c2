"""Events counted per workspace and minute, for the web UI's dashboard

Revision ID: 0019_event_minutes
Revises: 0018_ui_activity

The dashboard shows events per minute over the last hour and per hour over
the last day and week. Counted from the events-by-timestamp index (0007),
the range holds every workspace's events of the window and each row is read
to check its workspace and type: at 1,000 events/s one hour took 0.7 s on
SQLite, a day or a week seconds. `event_minutes` keeps the count per
workspace and minute, added to in the transaction that logs the events (one
upsert per batch and minute), so a week is at most 10,080 rows of a primary
key range.

The last 8 days of events already stored are counted into it here, through
the timestamp index.
"""

import time

import sqlalchemy as sa
from alembic import op

revision = "0019_event_minutes"
down_revision = "0018_ui_activity"
branch_labels = None
depends_on = None

KEPT = 8 * 86400


def upgrade() -> None:
    op.create_table(
        "event_minutes",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("minute", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_event_minutes_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("workspace_id", "minute", name=op.f("pk_event_minutes")),
    )
    since = int(time.time()) - KEPT
    op.get_bind().execute(
        sa.text(
            "INSERT INTO event_minutes (workspace_id, minute, count)"
            " SELECT workspace_id, timestamp - timestamp % 60, COUNT(*) FROM events"
            " WHERE timestamp >= :since AND type IN ('event', 'page', 'screen')"
            " GROUP BY workspace_id, timestamp - timestamp % 60"
        ),
        {"since": since},
    )


def downgrade() -> None:
    op.drop_table("event_minutes")
