"""The ingest log's partitions, appliers and apply-time refusals

Revision ID: 0025_ingest_log
Revises: 0024_resources_version

With `--ingest-log`, ingest requests are published to a NATS JetStream
stream split into partitions; `tidings worker` applies each partition to the
database. `ingest_partitions` holds each partition's lease (on the database's
clock, fenced by `attempts`) and the stream sequence applied so far, advanced
in the transaction that applies; `ingest_appliers` the appliers alive, for a
fair share each; `ingest_refusals` the messages acknowledged to a client and
then refused when applied.
"""

import sqlalchemy as sa
from alembic import op

revision = "0025_ingest_log"
down_revision = "0024_resources_version"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ingest_partitions",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("stream", sa.String(64), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(64)),
        sa.Column("lease_until", sa.BigInteger()),
        sa.Column("applied_seq", sa.BigInteger(), nullable=False),
        sa.Column("applied_total", sa.BigInteger(), nullable=False),
        sa.Column("applied_at", sa.BigInteger()),
        sa.PrimaryKeyConstraint("id", name="pk_ingest_partitions"),
        sa.UniqueConstraint("stream", "partition", name="uq_ingest_partitions_stream_partition"),
    )
    op.create_table(
        "ingest_appliers",
        sa.Column("stream", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("seen_until", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("stream", "owner", name="pk_ingest_appliers"),
    )
    op.create_table(
        "ingest_refusals",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("stream", sa.String(64), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ingest_refusals"),
    )
    op.create_index(
        "ix_ingest_refusals_workspace_id_received_at",
        "ingest_refusals",
        ["workspace_id", "received_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_ingest_refusals_workspace_id_received_at", "ingest_refusals")
    op.drop_table("ingest_refusals")
    op.drop_table("ingest_appliers")
    op.drop_table("ingest_partitions")
