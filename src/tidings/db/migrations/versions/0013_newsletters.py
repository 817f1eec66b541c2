"""Newsletters: A/B test groups of a message's contents, deliveries by newsletter

Revision ID: 0013_newsletters
Revises: 0012_campaigns

`action_contents` gains `test_group` (0: a message's own content; 1, 2, ...:
a newsletter's A/B test groups), and a content is unique per action, test
group and language. `deliveries` gains an index for a newsletter's reports.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_newsletters"
down_revision = "0012_campaigns"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("action_contents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("test_group", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.drop_constraint("uq_action_contents_action_id_language", type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_action_contents_action_id_test_group_language"),
            ["action_id", "test_group", "language"],
        )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deliveries_newsletter_id_created_at"),
            ["newsletter_id", "created_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliveries_newsletter_id_created_at"))
    with op.batch_alter_table("action_contents", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_action_contents_action_id_test_group_language"), type_="unique"
        )
        batch_op.create_unique_constraint(
            "uq_action_contents_action_id_language", ["action_id", "language"]
        )
        batch_op.drop_column("test_group")
