"""Events indexed by timestamp

Revision ID: 0007
Revises: 0006

Segments with relative time windows are brought up to date by looking at
the events whose timestamp crossed a window's edge since the last check
(segments/windows.py): a range of this index instead of every event.

On the timestamp alone, not (workspace_id, timestamp): SQLite's planner,
without statistics (a store never ANALYZEd), took a (workspace_id, ...)
index for lookups of one person's events (`workspace_id = ? AND person_id =
? ...`), an equality on its first column looking as good as the person
index, and each lookup scanned the workspace's whole event log. No equality
can pick an index on the timestamp alone.
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.create_index("ix_events_timestamp", ["timestamp"])
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # A store that was ANALYZEd has statistics for every index but this one;
        # SQLite would then guess this one very selective. Statistics for all of
        # the table's indexes, or none.
        has_stats = bind.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"
        ).first()
        if has_stats:
            op.execute("ANALYZE events")


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_index("ix_events_timestamp")
