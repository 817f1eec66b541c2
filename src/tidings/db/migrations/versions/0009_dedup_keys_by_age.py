"""Event dedup keys indexed by age, so old ones can be pruned

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("event_dedup") as batch:
        batch.create_index(batch.f("ix_event_dedup_seen_at"), ["seen_at"])


def downgrade() -> None:
    with op.batch_alter_table("event_dedup") as batch:
        batch.drop_index(batch.f("ix_event_dedup_seen_at"))
