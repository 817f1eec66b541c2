"""The subscription center: topics and channels declared per workspace

Revision ID: 0028_subscription_center
Revises: 0027_esp_and_data_index

`subscription_topics` holds each topic a workspace declares with `tidings
apply` (`topic_<id>` in a person's `cio_subscription_preferences`), with
whether people are in it until they say otherwise (`subscribed_by_default`).
`subscription_channels` holds the channels the preference page offers
(`channels.<channel>` in the same attribute). A transactional message may be
in a topic (`transactional_messages.subscription_topic_id`, NULL: in none).
"""

import sqlalchemy as sa
from alembic import op

revision = "0028_subscription_center"
down_revision = "0027_esp_and_data_index"
branch_labels = None
depends_on = None


def _table(name: str, key: sa.Column) -> None:  # type: ignore[type-arg]
    op.create_table(
        name,
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        key,
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("subscribed_by_default", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=f"fk_{name}_workspace_id_workspaces"
        ),
        sa.PrimaryKeyConstraint("workspace_id", key.name, name=f"pk_{name}"),
    )


def upgrade() -> None:
    _table("subscription_topics", sa.Column("topic_id", sa.Integer(), nullable=False))
    _table("subscription_channels", sa.Column("channel", sa.String(32), nullable=False))
    op.add_column(
        "transactional_messages",
        sa.Column("subscription_topic_id", sa.Integer(), nullable=True),
    )


def downgrade() -> None:
    # Not batch mode: on SQLite it would copy the table; DROP COLUMN works in place.
    op.execute("ALTER TABLE transactional_messages DROP COLUMN subscription_topic_id")
    op.drop_table("subscription_channels")
    op.drop_table("subscription_topics")
