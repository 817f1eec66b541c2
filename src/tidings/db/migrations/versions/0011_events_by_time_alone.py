"""Events indexed by timestamp alone, not (workspace_id, timestamp)

Revision ID: 0011
Revises: 0010

SQLite's planner, without statistics (a store never ANALYZEd), chose
0007's `(workspace_id, timestamp)` index for lookups of one person's events
(`workspace_id = ? AND person_id = ? ...`): an equality on its first column
looked as good as the person index, and each lookup scanned the workspace's
whole event log. With at 1,000 events/s into a workspace with a data-driven
segment, the server fell behind. An index on the timestamp alone serves the
time-window lookups (ranges) and matches no equality, so it is never chosen
for a person's events.
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_index("ix_events_workspace_id_timestamp")
        batch.create_index("ix_events_timestamp", ["timestamp"])
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # Statistics for all of the table's indexes or none (see 0007).
        has_stats = bind.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"
        ).first()
        if has_stats:
            op.execute("ANALYZE events")


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_index("ix_events_timestamp")
        batch.create_index("ix_events_workspace_id_timestamp", ["workspace_id", "timestamp"])
