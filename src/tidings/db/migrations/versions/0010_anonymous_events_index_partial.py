"""Index only anonymous events by anonymous id

Revision ID: 0010
Revises: 0009

`events (workspace_id, anonymous_id, timestamp)` held an entry for every
event, though every lookup asks for one anonymous id; identified events (the
bulk of ingest) now cost no entry in it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

NAME = "ix_events_workspace_id_anonymous_id_timestamp"
COLUMNS = ["workspace_id", "anonymous_id", "timestamp"]


def upgrade() -> None:
    only_anonymous = sa.text("anonymous_id IS NOT NULL")
    with op.batch_alter_table("events") as batch:
        batch.drop_index(NAME)
        batch.create_index(
            NAME, COLUMNS, sqlite_where=only_anonymous, postgresql_where=only_anonymous
        )


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_index(NAME)
        batch.create_index(NAME, COLUMNS)
