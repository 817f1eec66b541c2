"""Running totals of campaign, broadcast and newsletter messages

Revision ID: 0023_message_totals
Revises: 0022_people_identifiers_bytewise

A campaign's page and its `metrics` totals counted every message of the
campaign and joined each one's metrics: on a campaign of 150,000 messages
that took 8 s on SQLite, for each of the campaign and its message actions;
a step's count of the journeys that reached it read every such step. The
totals are now kept as they happen (`reporting/totals.py`); this sums what
was recorded before, the way the reads counted it: messages per parent, and
per metric the messages that reached it at least once, and journey steps per
action.
"""

import sqlalchemy as sa
from alembic import op

revision = "0023_message_totals"
down_revision = "0022_people_identifiers_bytewise"
branch_labels = None
depends_on = None

# reporting/totals.METRICS when this was written.
METRICS = (
    "attempted", "bounced", "clicked", "converted", "deferred", "delivered", "drafted",
    "dropped", "failed", "human_clicked", "human_opened", "opened", "prefetch_clicked",
    "prefetch_opened", "sent", "spammed", "suppressed", "topic_unsubscribed",
    "undeliverable", "unsubscribed",
)  # fmt: skip
PARENTS = {
    "campaign": ("campaign_id", ""),
    "broadcast": ("broadcast_id", ""),
    "newsletter": ("newsletter_id", ""),
    "action": ("action_id", ""),
    "content": ("content_id", " AND d.newsletter_id IS NOT NULL"),
}
INSERT = "INSERT INTO message_totals (workspace_id, scope, scope_id, name, count) "


def upgrade() -> None:
    op.create_table(
        "message_totals",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("scope_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_message_totals_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("scope", "scope_id", "name", name=op.f("pk_message_totals")),
    )
    listed = ", ".join(f"'{name}'" for name in METRICS)
    for scope, (column, only) in PARENTS.items():
        op.execute(
            INSERT + f"SELECT d.workspace_id, '{scope}', d.{column}, 'created', COUNT(*)"
            f" FROM deliveries d WHERE d.{column} IS NOT NULL{only}"
            f" GROUP BY d.workspace_id, d.{column}"
        )
        op.execute(
            INSERT + f"SELECT d.workspace_id, '{scope}', d.{column}, m.metric,"
            " COUNT(DISTINCT d.id) FROM delivery_metrics m JOIN deliveries d"
            " ON d.id = m.delivery_id AND d.workspace_id = m.workspace_id"
            f" WHERE d.{column} IS NOT NULL{only} AND m.metric IN ({listed})"
            f" GROUP BY d.workspace_id, d.{column}, m.metric"
        )
    op.execute(
        INSERT + "SELECT workspace_id, 'action', action_id, 'reached', COUNT(*)"
        " FROM journey_steps GROUP BY workspace_id, action_id"
    )


def downgrade() -> None:
    op.drop_table("message_totals")
