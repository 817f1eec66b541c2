"""Design Studio nodes and translations; asset folders and files

Revision ID: 0029_design_studio_and_assets
Revises: 0028_subscription_center

`design_nodes` holds Design Studio folders, emails and components (UUID ids,
one tree per workspace); `design_email_languages` an email's translations.
`asset_folders` and `assets` hold the asset library's metadata; the bytes live
in the asset store under `assets.token`, the random part of the public URL.
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0029_design_studio_and_assets"
down_revision = "0028_subscription_center"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _workspace(table: str) -> list[Any]:
    return [
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=f"fk_{table}_workspace_id_workspaces"
        ),
    ]


def _times() -> list[sa.Column[Any]]:
    return [
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "design_nodes",
        sa.Column("id", sa.String(36), nullable=False),
        *_workspace("design_nodes"),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("parent_folder_id", sa.String(36), nullable=True),
        sa.Column("tag", sa.String(255), nullable=True),
        sa.Column("is_template", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        *_times(),
        sa.PrimaryKeyConstraint("id", name="pk_design_nodes"),
        sa.UniqueConstraint(
            "workspace_id", "kind", "tag", name="uq_design_nodes_workspace_id_kind_tag"
        ),
    )
    op.create_index(
        "ix_design_nodes_workspace_id_kind_parent_folder_id",
        "design_nodes",
        ["workspace_id", "kind", "parent_folder_id"],
    )
    op.create_table(
        "design_email_languages",
        sa.Column("email_id", sa.String(36), nullable=False),
        sa.Column("language", sa.String(35), nullable=False),
        *_workspace("design_email_languages"),
        sa.Column("body", sa.Text(), nullable=False),
        *_times(),
        sa.PrimaryKeyConstraint("email_id", "language", name="pk_design_email_languages"),
    )
    op.create_table(
        "asset_folders",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        *_workspace("asset_folders"),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("parent_folder_id", sa.BigInteger(), nullable=True),
        *_times(),
        sa.PrimaryKeyConstraint("id", name="pk_asset_folders"),
    )
    op.create_table(
        "assets",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        *_workspace("assets"),
        sa.Column("folder_id", sa.BigInteger(), nullable=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        *_times(),
        sa.PrimaryKeyConstraint("id", name="pk_assets"),
        sa.UniqueConstraint("token", name="uq_assets_token"),
    )
    op.create_index("ix_assets_workspace_id_folder_id", "assets", ["workspace_id", "folder_id"])


def downgrade() -> None:
    op.drop_index("ix_assets_workspace_id_folder_id", "assets")
    op.drop_table("assets")
    op.drop_table("asset_folders")
    op.drop_table("design_email_languages")
    op.drop_index("ix_design_nodes_workspace_id_kind_parent_folder_id", "design_nodes")
    op.drop_table("design_nodes")
