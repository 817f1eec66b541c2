"""A version per workspace of what its messages are built from

Revision ID: 0024_resources_version
Revises: 0023_message_totals

Each process caches a workspace's transactional message contents, layouts,
snippets and sender identities (`templates/cache.py`) and checks this one
column on every send: every change to those resources sets it to a new
random value in the change's own transaction, so the next send in any
process sees that its copy is stale. Random rather than counted, so that a
value seen inside a transaction that then rolled back is never reused by a
later change.
"""

import sqlalchemy as sa
from alembic import op

revision = "0024_resources_version"
down_revision = "0023_message_totals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "workspaces",
        sa.Column("resources_version", sa.BigInteger(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    # Not batch mode: on SQLite it copies `workspaces` and drops the old table, which
    # every workspace's rows refer to (refused with foreign keys on). SQLite has had
    # DROP COLUMN since 3.35.
    op.execute("ALTER TABLE workspaces DROP COLUMN resources_version")
