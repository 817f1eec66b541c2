"""People's identifiers compared as bytes on PostgreSQL (collation "C")

Revision ID: 0022_people_identifiers_bytewise
Revises: 0020_ui_indexes

The web UI's People search finds people whose id or email begins with what
was typed: `column >= prefix AND column < next(prefix)` within the unique
indexes on `(workspace_id, customer_id)` and `(workspace_id, email)`
(`segments/search.py`). That range holds exactly the strings with the
prefix only when strings are ordered by code point: SQLite's BINARY
collation is, PostgreSQL's default collation is whatever the database was
created with (en_US.UTF-8 orders "ab-c" beside "abc"). So the three
identifier columns get collation "C" on PostgreSQL. Equality, the only other
comparison made on them, is the same in every deterministic collation; the
unique indexes are rebuilt. SQLite is unchanged.
"""

import sqlalchemy as sa
from alembic import op

revision = "0022_people_identifiers_bytewise"
down_revision = "0020_ui_indexes"
branch_labels = None
depends_on = None

COLUMNS = {"cio_id": (32, False), "customer_id": (150, True), "email": (255, True)}


def upgrade() -> None:
    _collate("C")


def downgrade() -> None:
    _collate(None)


def _collate(collation: str | None) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, (length, nullable) in COLUMNS.items():
        op.alter_column(
            "people",
            name,
            type_=sa.String(length, collation=collation),
            existing_nullable=nullable,
        )
