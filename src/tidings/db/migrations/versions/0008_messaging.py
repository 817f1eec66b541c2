"""Messaging: deliveries as a send queue, templates, providers, webhooks

Revision ID: 0008
Revises: 0007

`deliveries` grows the columns of a send queue (state, due_at, lease, the
rendered payload); rows written before (metrics reported through Track for
deliveries made elsewhere) become source `external`, state `sent`. New
tables: transactional messages and their contents per language, snippets,
sender identities, layouts, per-channel providers, captured messages,
blocked addresses, idempotency keys, reporting webhooks and their queued
posts, and per-workspace secrets for signed links.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blocked_addresses",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("delivery_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_blocked_addresses_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("workspace_id", "address", name=op.f("pk_blocked_addresses")),
    )
    op.create_table(
        "captured_messages",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_captured_messages_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_captured_messages")),
    )
    with op.batch_alter_table("captured_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_captured_messages_workspace_id_id"), ["workspace_id", "id"], unique=False
        )

    op.create_table(
        "idempotency_keys",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("route", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_idempotency_keys_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("workspace_id", "key", name=op.f("pk_idempotency_keys")),
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idempotency_keys_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "layouts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_layouts_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_layouts")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_layouts_workspace_id_name")),
    )
    op.create_table(
        "providers",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_providers_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("workspace_id", "channel", name=op.f("pk_providers")),
    )
    op.create_table(
        "reporting_webhooks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("disabled", sa.Integer(), nullable=False),
        sa.Column("full_resolution", sa.Integer(), nullable=False),
        sa.Column("with_content", sa.Integer(), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("signing_key", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_reporting_webhooks_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reporting_webhooks")),
    )
    op.create_table(
        "sender_identities",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_sender_identities_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sender_identities")),
        sa.UniqueConstraint(
            "workspace_id", "email", name=op.f("uq_sender_identities_workspace_id_email")
        ),
    )
    op.create_table(
        "snippets",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_snippets_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("workspace_id", "name", name=op.f("pk_snippets")),
    )
    op.create_table(
        "transactional_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("trigger_name", sa.String(length=255), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("send_to_unsubscribed", sa.Integer(), nullable=False),
        sa.Column("tracked", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_transactional_messages_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transactional_messages")),
        sa.UniqueConstraint(
            "workspace_id",
            "trigger_name",
            name=op.f("uq_transactional_messages_workspace_id_trigger_name"),
        ),
    )
    op.create_table(
        "workspace_secrets",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_workspace_secrets_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("workspace_id", "name", name=op.f("pk_workspace_secrets")),
    )
    op.create_table(
        "transactional_contents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["transactional_messages.id"],
            name=op.f("fk_transactional_contents_message_id_transactional_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_transactional_contents_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transactional_contents")),
        sa.UniqueConstraint(
            "message_id", "language", name=op.f("uq_transactional_contents_message_id_language")
        ),
    )
    op.create_table(
        "webhook_posts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("webhook_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.BigInteger(), nullable=False),
        sa.Column("lease_until", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["reporting_webhooks.id"],
            name=op.f("fk_webhook_posts_webhook_id_reporting_webhooks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_webhook_posts_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_posts")),
    )
    with op.batch_alter_table("webhook_posts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_posts_state_due_at"), ["state", "due_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_webhook_posts_webhook_id_state_id"),
            ["webhook_id", "state", "id"],
            unique=False,
        )

    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source", sa.String(length=16), server_default="external", nullable=False)
        )
        batch_op.add_column(sa.Column("transactional_message_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("content_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("state", sa.String(length=16), server_default="sent", nullable=False)
        )
        batch_op.add_column(sa.Column("subject", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("payload", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("options", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("due_at", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("expires_at", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("lease_until", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("sent_at", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("provider_message_id", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("failure_message", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("updated_at", sa.BigInteger(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_deliveries_state_due_at"), ["state", "due_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_deliveries_workspace_id_created_at"),
            ["workspace_id", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_deliveries_workspace_id_transactional_message_id_created_at"),
            ["workspace_id", "transactional_message_id", "created_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(
            batch_op.f("ix_deliveries_workspace_id_transactional_message_id_created_at")
        )
        batch_op.drop_index(batch_op.f("ix_deliveries_workspace_id_created_at"))
        batch_op.drop_index(batch_op.f("ix_deliveries_state_due_at"))
        batch_op.drop_column("updated_at")
        batch_op.drop_column("failure_message")
        batch_op.drop_column("provider_message_id")
        batch_op.drop_column("sent_at")
        batch_op.drop_column("lease_until")
        batch_op.drop_column("attempts")
        batch_op.drop_column("expires_at")
        batch_op.drop_column("due_at")
        batch_op.drop_column("options")
        batch_op.drop_column("payload")
        batch_op.drop_column("subject")
        batch_op.drop_column("state")
        batch_op.drop_column("content_id")
        batch_op.drop_column("transactional_message_id")
        batch_op.drop_column("source")

    with op.batch_alter_table("webhook_posts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_posts_webhook_id_state_id"))
        batch_op.drop_index(batch_op.f("ix_webhook_posts_state_due_at"))

    op.drop_table("webhook_posts")
    op.drop_table("transactional_contents")
    op.drop_table("workspace_secrets")
    op.drop_table("transactional_messages")
    op.drop_table("snippets")
    op.drop_table("sender_identities")
    op.drop_table("reporting_webhooks")
    op.drop_table("providers")
    op.drop_table("layouts")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_keys_created_at"))

    op.drop_table("idempotency_keys")
    with op.batch_alter_table("captured_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_captured_messages_workspace_id_id"))

    op.drop_table("captured_messages")
    op.drop_table("blocked_addresses")
