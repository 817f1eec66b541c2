"""A person's messages by time, for the timeline on the person's page

Revision ID: 0017_ui_people
Revises: 0016_people_by_workspace

`deliveries (person_id)` becomes `(person_id, created_at)`: the timeline
(`reporting/timeline.py`) reads one person's messages newest first, a page at
a time, and now walks them in order instead of sorting them all. One index
replaces the other, so a delivery costs no more to write; the person prefix
still serves the `ON DELETE SET NULL` of people. `events` gets no second
person-keyed index (each costs ingest a random page write per event).
"""

from alembic import op

revision = "0017_ui_people"
down_revision = "0016_people_by_workspace"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_deliveries_person_id", table_name="deliveries")
    op.create_index("ix_deliveries_person_id_created_at", "deliveries", ["person_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_person_id_created_at", table_name="deliveries")
    op.create_index("ix_deliveries_person_id", "deliveries", ["person_id"])
