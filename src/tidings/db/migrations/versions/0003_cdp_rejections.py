"""Pipelines rejections

Revision ID: 0003
Revises: 0002

Messages the Pipelines API refuses without strict mode are answered 200 and
recorded here, so an operator can see what was dropped and why.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cdp_rejections",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("snippet", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_cdp_rejections_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cdp_rejections")),
    )
    with op.batch_alter_table("cdp_rejections", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cdp_rejections_workspace_id_received_at"),
            ["workspace_id", "received_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("cdp_rejections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cdp_rejections_workspace_id_received_at"))
    op.drop_table("cdp_rejections")
