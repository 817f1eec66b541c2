"""Dynamic segments: conditions, build progress and last build time

Revision ID: 0005
Revises: 0004

A dynamic segment keeps its condition (JSON text, the same language as
customer search) on the segment row; `segment_members` holds its current
members, kept up to date by the segment jobs. `progress` is the build's
percentage while it runs (NULL when finished, as Customer.io shows) and
`built_at` the time of the last complete build.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("segments") as batch:
        batch.add_column(sa.Column("conditions", sa.Text(), nullable=True))
        batch.add_column(sa.Column("progress", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("built_at", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("segments") as batch:
        batch.drop_column("built_at")
        batch.drop_column("progress")
        batch.drop_column("conditions")
