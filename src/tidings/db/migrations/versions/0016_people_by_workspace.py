"""People of a workspace in key order: an index on (workspace_id, id)

Revision ID: 0016_people_by_workspace
Revises: 0015_users

The walks over a workspace's people by key (a broadcast's fan-out, the
customer search's pages, the people export) ask for `workspace_id = ? AND
id > ? ORDER BY id LIMIT n`. With only the unique indexes that begin with
`workspace_id` (then `cio_id`, `customer_id` or `email`), SQLite's planner
scanned every person of the workspace for each page and sorted them, so a
walk over N people cost N^2 / page size: a broadcast's fan-out to 100,000
people spent most of its time there. This index gives each page a range.
"""

from alembic import op

revision = "0016_people_by_workspace"
down_revision = "0015_users"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_people_workspace_id_id", "people", ["workspace_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_people_workspace_id_id", table_name="people")
