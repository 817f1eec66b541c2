"""A campaign's journeys by state and step, a workspace's jobs by id, for the web UI

Revision ID: 0020_ui_indexes
Revises: 0019_event_minutes

`journeys (campaign_id, state, action_id)`: a campaign's page counts the
journeys waiting at each step now, and the campaigns list the journeys in
progress (`campaigns/journey_view.py`). Without it SQLite took
`(state, due_at)` for both: every active journey of every campaign, each
row read to check its campaign and step. With it each count is one range
of the index alone. Each step of a journey moves its entry (its
`action_id` changes, as `due_at` moves its entry in `(state, due_at)`, so
PostgreSQL's updates were not HOT before either): about 2 us more per step's
UPDATE on SQLite, against 30 to 80 us for a journey's pass in
`advance_due` (4,000 journeys, delays only or with messages), which timed
within its noise with and without the index.

`jobs (workspace_id, id)`: the Jobs page (`jobs/browse.py`) walks a
workspace's jobs newest first; on the primary key it stepped over every
other workspace's jobs, and with a state filter SQLite took `(state,
run_at)` and sorted. A job's row is inserted once and changes state a few
times, none of which touches this index.
"""

from alembic import op

revision = "0020_ui_indexes"
down_revision = "0019_event_minutes"
branch_labels = None
depends_on = None

INDEXES = {
    "journeys": ("ix_journeys_campaign_id_state_action_id", ["campaign_id", "state", "action_id"]),
    "jobs": ("ix_jobs_workspace_id_id", ["workspace_id", "id"]),
}


def upgrade() -> None:
    for table, (name, columns) in INDEXES.items():
        op.create_index(name, table, columns)
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # A store that was ANALYZEd has statistics for every other index of these
        # tables; without some for the new ones SQLite would guess them very selective.
        has_stats = bind.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"
        ).first()
        if has_stats:
            for table in INDEXES:
                op.execute(f"ANALYZE {table}")


def downgrade() -> None:
    for table, (name, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
