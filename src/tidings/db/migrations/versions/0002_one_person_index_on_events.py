"""One person-keyed index on events instead of two

Revision ID: 0002
Revises: 0001

Ingest writes every event into each person-keyed index at a random place;
two such indexes cost most of SQLite's insert time. (person_id, name,
timestamp) serves per-person reads, cascading deletes and event conditions.
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_index("ix_events_workspace_id_person_id_name_timestamp")
        batch.drop_index("ix_events_person_id_id")
        batch.create_index("ix_events_person_id_name_timestamp", ["person_id", "name", "timestamp"])


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_index("ix_events_person_id_name_timestamp")
        batch.create_index("ix_events_person_id_id", ["person_id", "id"])
        batch.create_index(
            "ix_events_workspace_id_person_id_name_timestamp",
            ["workspace_id", "person_id", "name", "timestamp"],
        )
