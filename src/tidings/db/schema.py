"""The tables, in SQLAlchemy Core, shared by SQLite and PostgreSQL.

Every row carries `workspace_id`. Times are Unix seconds (UTC) in BIGINT
columns. JSON documents are stored as text so both stores read them the same
way. Person rows stay narrow: identifiers and timestamps in columns,
attributes one row each in `attributes`.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
Id = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _workspace() -> Column:
    return Column("workspace_id", Integer, ForeignKey("workspaces.id"), nullable=False)


def _person(nullable: bool = False) -> Column:
    return Column("person_id", Id, ForeignKey("people.id", ondelete="CASCADE"), nullable=nullable)


workspaces = Table(
    "workspaces",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("site_id", String(64), nullable=False, unique=True),
    Column("track_key_hash", String(64), nullable=False),
    Column("app_key_hash", String(64), nullable=False, unique=True),
    Column("cdp_key_hash", String(64), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
)

people = Table(
    "people",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    _workspace(),
    Column("cio_id", String(32), nullable=False),
    Column("customer_id", String(150)),
    Column("email", String(255)),  # lower-cased: the identifier is case-insensitive
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("workspace_id", "cio_id"),
    UniqueConstraint("workspace_id", "customer_id"),
    UniqueConstraint("workspace_id", "email"),
)

attributes = Table(
    "attributes",
    metadata,
    Column("person_id", Id, ForeignKey("people.id", ondelete="CASCADE"), primary_key=True),
    _workspace(),
    Column("name", String(150), primary_key=True),
    # The string Customer.io shows for the value; `kind` says how to get the
    # JSON value back: s(tring), n(umber), b(oolean), j(son document).
    Column("value", Text, nullable=False),
    Column("kind", String(1), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index(None, "workspace_id", "name", "value"),
)

events = Table(
    "events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    _workspace(),
    _person(nullable=True),
    Column("anonymous_id", String(150)),
    # event | page | screen | attribute_change | form_submit ...
    Column("type", String(32), nullable=False),
    Column("name", String(255), nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("received_at", BigInteger, nullable=False),
    Column("data", Text, nullable=False),
    # One person-keyed index only: each one costs a random page write per
    # inserted event (docs/benchmarks.md). The person implies the workspace.
    Index(None, "person_id", "name", "timestamp"),
    Index(None, "workspace_id", "anonymous_id", "timestamp"),
    # For the rows that crossed a segment's time window (segments/windows.py).
    # Live events arrive in time order, so this one grows at its right edge.
    Index(None, "workspace_id", "timestamp"),
)

event_dedup = Table(
    "event_dedup",
    metadata,
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("seen_at", BigInteger, nullable=False),
)

devices = Table(
    "devices",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    _workspace(),
    _person(),
    Column("token", String(255), nullable=False),
    Column("platform", String(32), nullable=False),
    Column("last_used", BigInteger, nullable=False),
    Column("attributes", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("workspace_id", "token"),
    Index(None, "person_id"),
)

suppressions = Table(
    "suppressions",
    metadata,
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), primary_key=True),
    Column("kind", String(16), primary_key=True),  # id | email
    Column("value", String(255), primary_key=True),
    # The suppressed person's cio_id: their id and email are unsuppressed together.
    Column("cio_id", String(32)),
    Column("created_at", BigInteger, nullable=False),
)

segments = Table(
    "segments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _workspace(),
    Column("name", String(255), nullable=False),
    Column("description", Text, nullable=False),
    Column("type", String(16), nullable=False),  # manual | dynamic
    Column("state", String(16), nullable=False),
    Column("tags", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    # Dynamic segments: the condition (JSON text), the build's percentage while
    # it runs (NULL when finished) and when the last full build finished.
    Column("conditions", Text),
    Column("progress", Integer),
    Column("built_at", BigInteger),
    Index(None, "workspace_id"),
)

segment_members = Table(
    "segment_members",
    metadata,
    Column(
        "segment_id",
        Integer,
        ForeignKey("segments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("person_id", Id, ForeignKey("people.id", ondelete="CASCADE"), primary_key=True),
    _workspace(),
    Column("added_at", BigInteger, nullable=False),
    Index(None, "person_id"),
)

objects = Table(
    "objects",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    _workspace(),
    Column("type_id", String(32), nullable=False),
    Column("object_id", String(150), nullable=False),
    Column("cio_object_id", String(32), nullable=False),
    Column("attributes", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("workspace_id", "type_id", "object_id"),
    UniqueConstraint("workspace_id", "cio_object_id"),
)

relationships = Table(
    "relationships",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    _workspace(),
    Column("object_pk", Id, ForeignKey("objects.id", ondelete="CASCADE"), nullable=False),
    _person(nullable=True),
    # Set instead of person_id until that anonymous person is identified.
    Column("anonymous_id", String(150)),
    Column("attributes", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("object_pk", "person_id"),
    UniqueConstraint("object_pk", "anonymous_id"),
    Index(None, "person_id"),
    Index(None, "workspace_id", "anonymous_id"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", String(64), primary_key=True),
    _workspace(),
    Column("person_id", Id, ForeignKey("people.id", ondelete="SET NULL")),
    Column("channel", String(32), nullable=False),
    Column("recipient", String(255), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("unsubscribed_at", BigInteger),
    Index(None, "person_id"),
)

delivery_metrics = Table(
    "delivery_metrics",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    _workspace(),
    Column("delivery_id", String(255), nullable=False),
    Column("metric", String(32), nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("data", Text, nullable=False),
    Index(None, "workspace_id", "delivery_id"),
)

forms = Table(
    "forms",
    metadata,
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), primary_key=True),
    Column("form_id", String(150), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
    Column("submissions", BigInteger, nullable=False),
)

# Pipelines messages refused without strict mode: answered 200, kept here
# (and counted in /metrics) so nothing is lost silently. Pruned after 7 days.
cdp_rejections = Table(
    "cdp_rejections",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    _workspace(),
    Column("received_at", BigInteger, nullable=False),
    Column("reason", String(32), nullable=False),  # the error code: invalid_request | too_large
    Column("message", Text, nullable=False),
    Column("type", String(32), nullable=False),  # the message's type, "" when unknown
    Column("message_id", String(255)),
    Column("size", Integer, nullable=False),  # bytes of the message as compact JSON
    Column("snippet", Text, nullable=False),  # its first 512 characters
    Index(None, "workspace_id", "received_at"),
)


# People whose data changed since the segment worker last looked at them. A
# row commits with the change that made it, and the worker deletes it in the
# transaction that re-evaluates the person, so no change is missed or lost.
segment_dirty = Table(
    "segment_dirty",
    metadata,
    Column("person_id", Id, ForeignKey("people.id", ondelete="CASCADE"), primary_key=True),
    _workspace(),
    Column("marked_at", BigInteger, nullable=False),
)


# Background work that must happen after a transaction commits (an export, a
# collection's URL fetch, an import). A job is enqueued in the transaction
# that asks for it; a worker claims it with a lease (`lease_until`), runs it
# outside any transaction, and records the outcome. A lease that runs out
# (the worker died) makes the job claimable again; `attempts` counts claims
# and fences a worker whose lease expired from recording a stale outcome.
jobs = Table(
    "jobs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    _workspace(),
    Column("kind", String(32), nullable=False),
    Column("payload", Text, nullable=False),
    Column("state", String(16), nullable=False),  # queued | running | done | failed
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("run_at", BigInteger, nullable=False),
    Column("lease_until", BigInteger),
    Column("last_error", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index(None, "state", "run_at"),
)

# Files Tidings produces or receives (export CSVs, uploaded import files),
# stored in the database in parts of about 1 MB so that every process of a
# deployment sees them and none holds a whole file in memory.
files = Table(
    "files",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    _workspace(),
    Column("purpose", String(16), nullable=False),  # export | import
    Column("name", String(255), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("complete", Integer, nullable=False),  # 1 once every part is written
    Column("created_at", BigInteger, nullable=False),
)

file_parts = Table(
    "file_parts",
    metadata,
    Column("file_id", Id, ForeignKey("files.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),
)

exports = Table(
    "exports",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    _workspace(),
    Column("type", String(16), nullable=False),  # customers | deliveries
    Column("status", String(16), nullable=False),  # pending | done | failed
    Column("description", Text, nullable=False),
    Column("spec", Text, nullable=False),  # the request: filter, extra attributes, ...
    Column("total", BigInteger, nullable=False),
    Column("downloads", Integer, nullable=False),
    Column("file_id", Id, ForeignKey("files.id", ondelete="SET NULL")),
    Column("error", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index(None, "workspace_id", "id"),
)

# Short-lived download links: the token is random and stored as its SHA-256.
download_links = Table(
    "download_links",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    _workspace(),
    Column("file_id", Id, ForeignKey("files.id", ondelete="CASCADE"), nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Index(None, "expires_at"),
)

collections = Table(
    "collections",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    _workspace(),
    Column("name", String(255), nullable=False),
    Column("url", Text),  # where the rows come from, when fetched
    Column("data", Text, nullable=False),  # the rows: a JSON array of objects
    Column("schema", Text, nullable=False),  # JSON array of the rows' top-level keys
    Column("rows", Integer, nullable=False),
    Column("bytes", Integer, nullable=False),
    Column("fetch_status", String(16)),  # pending | done | failed, for url collections
    Column("fetch_error", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("workspace_id", "name"),
)

imports = Table(
    "imports",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    _workspace(),
    Column("kind", String(16), nullable=False),  # people | events
    Column("name", String(255), nullable=False),  # the uploaded file's name
    Column("status", String(16), nullable=False),  # pending | running | done | failed
    Column("options", Text, nullable=False),  # JSON: format, identifier column, ...
    Column("file_id", Id, ForeignKey("files.id", ondelete="SET NULL")),
    Column("rows_total", BigInteger, nullable=False),
    Column("rows_imported", BigInteger, nullable=False),
    Column("rows_failed", BigInteger, nullable=False),
    Column("errors", Text, nullable=False),  # JSON: the first bad rows, [{line, error}]
    Column("error", Text),  # why the whole import failed, if it did
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index(None, "workspace_id", "id"),
)
