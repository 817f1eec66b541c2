"""Newsletters: the people an A/B test holds back for its winner

Revision ID: 0014_newsletter_ab
Revises: 0013_newsletters

New table `newsletter_holdbacks`: per newsletter, the people its A/B test
left out of the sample, whom the winning variation is sent to after the
test period.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_newsletter_ab"
down_revision = "0013_newsletters"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "newsletter_holdbacks",
        sa.Column("newsletter_id", sa.Integer(), nullable=False),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("held_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["newsletter_id"],
            ["campaigns.id"],
            name=op.f("fk_newsletter_holdbacks_newsletter_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_newsletter_holdbacks_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("newsletter_id", "person_id", name=op.f("pk_newsletter_holdbacks")),
    )


def downgrade() -> None:
    op.drop_table("newsletter_holdbacks")
