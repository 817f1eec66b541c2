"""When each reporting-webhook post was last attempted

Revision ID: 0011_webhook_attempts
Revises: 0010

`webhook_posts.last_attempt_at` is set when a post is claimed for an attempt,
so a webhook's recent attempts and their errors can be shown through the API
(`GET /v1/reporting_webhooks/{id}`); indexed per webhook for that read.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_webhook_attempts"
down_revision = "0010"
branch_labels = None
depends_on = None

INDEX = "ix_webhook_posts_webhook_id_last_attempt_at"


def upgrade() -> None:
    with op.batch_alter_table("webhook_posts") as batch:
        batch.add_column(sa.Column("last_attempt_at", sa.BigInteger(), nullable=True))
        batch.create_index(INDEX, ["webhook_id", "last_attempt_at"])


def downgrade() -> None:
    with op.batch_alter_table("webhook_posts") as batch:
        batch.drop_index(INDEX)
        batch.drop_column("last_attempt_at")
