"""ESP suppression by sending domain; the data index's metadata

Revision ID: 0027_esp_and_data_index
Revises: 0026_chores_and_build_cursor

`blocked_addresses.domain` is the sending domain of the message that bounced
or complained (NULL: the address is blocked for every domain, as an address
added through the ESP suppression API is), indexed for
`GET /v1/esp/domains/{domain}/suppression/{type}`. `data_index` holds the
descriptions and privacy levels set with `POST /v1/data_index/attributes` and
`/events`.
"""

import sqlalchemy as sa
from alembic import op

revision = "0027_esp_and_data_index"
down_revision = "0026_chores_and_build_cursor"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("blocked_addresses", sa.Column("domain", sa.String(255), nullable=True))
    op.create_index(
        "ix_blocked_addresses_workspace_id_domain_address",
        "blocked_addresses",
        ["workspace_id", "domain", "address"],
    )
    op.create_table(
        "data_index",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(160), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("privacy_level", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name="fk_data_index_workspace_id_workspaces"
        ),
        sa.PrimaryKeyConstraint("workspace_id", "kind", "scope", "name", name="pk_data_index"),
    )


def downgrade() -> None:
    op.drop_table("data_index")
    op.drop_index("ix_blocked_addresses_workspace_id_domain_address", "blocked_addresses")
    # Not batch mode: on SQLite it would copy the table; DROP COLUMN works in place.
    op.execute("ALTER TABLE blocked_addresses DROP COLUMN domain")
