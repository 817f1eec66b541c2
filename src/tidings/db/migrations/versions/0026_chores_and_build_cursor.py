"""Periodic chores held with a lease; a segment build's cursor

Revision ID: 0026_chores_and_build_cursor
Revises: 0025_ingest_log

`chores` holds one row per periodic chore (housekeeping, each workspace's
time-window refresh): the worker process that runs it holds it with a lease
on the database's clock and makes it due again a period later, so several
processes on one database run each chore once per period, one at a time
(`jobs/chores.py`). `segments.build_cursor` is the last person key a running
build has done: a build is a series of transactions of a chunk of people
each, and resumes after the last one that committed.
"""

import sqlalchemy as sa
from alembic import op

revision = "0026_chores_and_build_cursor"
down_revision = "0025_ingest_log"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chores",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.BigInteger(), nullable=False),
        sa.Column("lease_until", sa.BigInteger(), nullable=True),
    )
    op.add_column("segments", sa.Column("build_cursor", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    # Not batch mode: on SQLite it would copy `segments`, which members refer to.
    op.execute("ALTER TABLE segments DROP COLUMN build_cursor")
    op.drop_table("chores")
