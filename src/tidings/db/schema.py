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
    text,
)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
Id = BigInteger().with_variant(Integer(), "sqlite")


def _identifier(length: int) -> String:
    """A person's identifier column, compared as bytes on both stores (SQLite's BINARY
    collation; PostgreSQL's "C"): equal as it is in any collation, and ordered by
    code point, so a prefix is one range of its unique index (the People search,
    `segments/search.py`). See migration 0022."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _workspace() -> Column[int]:
    return Column("workspace_id", Integer, ForeignKey("workspaces.id"), nullable=False)


def _person(nullable: bool = False) -> Column[int]:
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
    # Changed (to a new random value) by every change to what a message is built
    # from: templates, snippets, layouts, sender identities (`templates/cache.py`).
    Column("resources_version", BigInteger, nullable=False, server_default="0"),
)

people = Table(
    "people",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    _workspace(),
    Column("cio_id", _identifier(32), nullable=False),
    Column("customer_id", _identifier(150)),
    Column("email", _identifier(255)),  # lower-cased: the identifier is case-insensitive
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("workspace_id", "cio_id"),
    UniqueConstraint("workspace_id", "customer_id"),
    UniqueConstraint("workspace_id", "email"),
    # Walks by key within a workspace (fan-outs, search pages, exports): see 0016.
    Index("ix_people_workspace_id_id", "workspace_id", "id"),
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
    # Only rows of anonymous visitors: every lookup asks for one anonymous id,
    # and identified events (most of them) then cost no entry here.
    Index(
        None,
        "workspace_id",
        "anonymous_id",
        "timestamp",
        sqlite_where=text("anonymous_id IS NOT NULL"),
        postgresql_where=text("anonymous_id IS NOT NULL"),
    ),
    # For the rows that crossed a segment's time window (segments/windows.py).
    # Live events arrive in time order, so this one grows at its right edge. No
    # workspace_id in front: SQLite without statistics then took
    # (workspace_id, timestamp) for "this person's events" lookups, scanning the
    # workspace's whole log per person; on timestamp alone no equality can pick it.
    Index(None, "timestamp"),
)

# Events sent (event, page, screen) per workspace and minute of their timestamp,
# counted at ingest in the transaction that logs them (`activity/log.py`), for the
# UI's dashboard (`reporting/event_rate.py`): a day or a week counted from the
# events-by-timestamp index reads every workspace's events of the window.
# `minute` is a Unix time on a minute. Pruned after 8 days (runtime/housekeeping.py).
event_minutes = Table(
    "event_minutes",
    metadata,
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), primary_key=True),
    Column("minute", BigInteger, primary_key=True),
    Column("count", BigInteger, nullable=False),
)

event_dedup = Table(
    "event_dedup",
    metadata,
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("seen_at", BigInteger, nullable=False),
    # Keys older than the dedup window are pruned (runtime/housekeeping.py).
    Index(None, "seen_at"),
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
    # While a build runs (state `build`), the last person key built: each chunk of
    # people commits on its own, and a build that stopped resumes after it.
    Column("build_cursor", BigInteger),
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

# One message to one recipient, and the queue of messages to send. A delivery
# is written in the transaction of the request that asked for it (already
# rendered: `payload` is the JSON of a providers.base message); the
# delivery worker claims due ones (`state` queued, `due_at` passed, or
# `sending` with an expired lease), sends them through the workspace's
# provider and records exactly one terminal state: sent, failed or
# suppressed. `draft` is never sent.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", String(64), primary_key=True),
    _workspace(),
    Column("person_id", Id, ForeignKey("people.id", ondelete="SET NULL")),
    Column("channel", String(32), nullable=False),  # email | sms | whatsapp | push | in_app | inbox
    Column("recipient", String(255), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("unsubscribed_at", BigInteger),
    # transactional | external (reported through Track, never sent here)
    Column("source", String(16), nullable=False, server_default="external"),
    Column("transactional_message_id", Integer),
    Column("content_id", Integer),
    Column("state", String(16), nullable=False, server_default="sent"),
    Column("subject", Text),
    Column("payload", Text),  # what to send; emptied after sending with disable_message_retention
    Column("options", Text),  # JSON: tracked, send_to_unsubscribed, message_data keys, ...
    Column("due_at", BigInteger),  # when it may next be claimed (send_at, then retries)
    Column("expires_at", BigInteger),  # transient failures are retried until then
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("lease_until", BigInteger),
    Column("sent_at", BigInteger),
    Column("provider_message_id", String(255)),
    Column("failure_message", Text),
    Column("updated_at", BigInteger),
    # A campaign's or broadcast's message: its parents (CAMPAIGNS.md 7.3).
    Column("campaign_id", Integer),
    Column("action_id", Integer),
    Column("parent_action_id", Integer),
    Column("broadcast_id", Integer),
    Column("newsletter_id", Integer),
    Column("trigger_id", BigInteger),
    Column("journey_id", BigInteger),
    Column("trigger_event_id", BigInteger),
    Index(None, "person_id", "created_at"),  # a person's messages by time (timeline)
    Index(None, "state", "due_at"),
    Index(None, "campaign_id", "created_at"),
    Index(None, "broadcast_id", "created_at"),
    Index(None, "newsletter_id", "created_at"),
    Index(None, "workspace_id", "created_at"),
    Index(None, "workspace_id", "transactional_message_id", "created_at"),
    Index(None, "workspace_id", "state", "created_at"),  # the UI's status filter
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

# Running totals of campaign, broadcast and newsletter messages (`reporting/totals.py`):
# per parent, messages `created` and those that reached each metric (each message
# once per metric), and journey steps that `reached` each action. A scope's ids
# are the primary keys of their own tables, unique across workspaces.
message_totals = Table(
    "message_totals",
    metadata,
    _workspace(),
    Column(
        "scope", String(16), primary_key=True
    ),  # campaign | broadcast | newsletter | action | content
    Column("scope_id", Integer, primary_key=True),
    Column("name", String(32), primary_key=True),  # created | a metric | reached
    Column("count", BigInteger, nullable=False),
)

# Messages that first reached a metric, per workspace, UTC day and metric (sent,
# delivered, opened, clicked, bounced), counted when the metric is recorded
# (`reporting/metrics.py`), for the UI's dashboard (`campaigns/dashboard.py`):
# reading every message of 30 days and its metrics took seconds on a busy
# workspace. `day` is a Unix time on a UTC midnight. Pruned after 32 days.
delivery_days = Table(
    "delivery_days",
    metadata,
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), primary_key=True),
    Column("day", BigInteger, primary_key=True),
    Column("metric", String(32), primary_key=True),
    Column("count", BigInteger, nullable=False),
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
    Index(None, "workspace_id", "id"),  # the Jobs page, newest first
)

# Periodic chores every worker process would run (housekeeping, each workspace's
# time-window refresh), one row each, named like "housekeeping" or
# "segment_windows:12" (`jobs/chores.py`). A worker holds one with a lease on the
# database's clock while it runs it, then makes it due again `every` seconds
# later: one process at a time, once per period across all of them.
chores = Table(
    "chores",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("state", String(8), nullable=False),  # idle | held
    Column("attempts", Integer, nullable=False),
    Column("due_at", BigInteger, nullable=False),
    Column("lease_until", BigInteger),
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


# Transactional message templates (Customer.io's "transactional messages"):
# a numeric id and a trigger name per workspace, one channel, and one content
# per language ("" is the default language).
transactional_messages = Table(
    "transactional_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _workspace(),
    Column("name", String(255), nullable=False),
    Column("trigger_name", String(255), nullable=False),  # stored lower-cased
    Column("channel", String(32), nullable=False),
    Column("description", Text, nullable=False),
    Column("send_to_unsubscribed", Integer, nullable=False),  # the default for sends
    Column("tracked", Integer, nullable=False),  # the default for sends
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("subscription_topic_id", Integer),  # its sends reach only people in the topic
    UniqueConstraint("workspace_id", "trigger_name"),
)

transactional_contents = Table(
    "transactional_contents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _workspace(),
    Column(
        "message_id",
        Integer,
        ForeignKey("transactional_messages.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("language", String(16), nullable=False),  # "" for the default
    # JSON: from, reply_to, subject, preheader, body, body_plain, body_amp,
    # layout, title, message, link, image_url, sound, ... as the channel needs.
    Column("fields", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("message_id", "language"),
)

snippets = Table(
    "snippets",
    metadata,
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

sender_identities = Table(
    "sender_identities",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _workspace(),
    Column("name", String(255), nullable=False),
    Column("email", String(255), nullable=False),  # lower-cased
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("workspace_id", "email"),
)

layouts = Table(
    "layouts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _workspace(),
    Column("name", String(255), nullable=False),
    Column("body", Text, nullable=False),  # Liquid; the message body goes in {{content}}
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("workspace_id", "name"),
)

# How each channel of a workspace is sent. No row: the capture adapter
# (stores what would have been sent, in `captured_messages`).
providers = Table(
    "providers",
    metadata,
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), primary_key=True),
    Column("channel", String(32), primary_key=True),  # email | sms | whatsapp | push
    Column("kind", String(16), nullable=False),  # capture | smtp | twilio | fcm | apns
    Column("config", Text, nullable=False),  # JSON, adapter-specific (holds secrets)
    Column("updated_at", BigInteger, nullable=False),
)

captured_messages = Table(
    "captured_messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    _workspace(),
    Column("delivery_id", String(64), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("recipient", String(255), nullable=False),
    Column("subject", Text),
    Column("message", Text, nullable=False),  # JSON of the outbound message; email adds "mime"
    Column("created_at", BigInteger, nullable=False),
    Index(None, "workspace_id", "id"),
)

# Addresses not to send to: hard bounces and spam complaints, reported through
# Track metrics, v2 delivery operations or a provider webhook, and addresses
# added through the ESP suppression API (`sending/esp.py`).
blocked_addresses = Table(
    "blocked_addresses",
    metadata,
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), primary_key=True),
    Column("address", String(255), primary_key=True),  # lower-cased email or phone
    Column("reason", String(16), nullable=False),  # bounced | spammed | blocked | invalid
    Column("delivery_id", String(255)),
    Column("created_at", BigInteger, nullable=False),
    # The sending domain of the message that bounced or complained; NULL: every domain.
    Column("domain", String(255)),
    Index(None, "workspace_id", "domain", "address"),
)

# The data index's metadata (`POST /v1/data_index/attributes|events`): a
# description and a privacy level per attribute or event name. `scope` is ""
# for a person attribute or an event, `object:<type id>`, `relationship:<type
# id>` or `event:<event name>` for an attribute of those.
data_index = Table(
    "data_index",
    metadata,
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), primary_key=True),
    Column("kind", String(16), primary_key=True),  # attribute | event
    Column("scope", String(160), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("description", Text),
    Column("privacy_level", Integer),
    Column("updated_at", BigInteger, nullable=False),
)

# App API POSTs with an Idempotency-Key: the first answer, replayed for 24 h.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("route", String(255), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("status", Integer, nullable=False),
    Column("response", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index(None, "created_at"),
)

reporting_webhooks = Table(
    "reporting_webhooks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _workspace(),
    Column("name", String(255), nullable=False),
    Column("endpoint", Text, nullable=False),
    Column("disabled", Integer, nullable=False),
    Column("full_resolution", Integer, nullable=False),  # every event, not only the first
    Column("with_content", Integer, nullable=False),  # message bodies in "sent" events
    Column("events", Text, nullable=False),  # JSON array: "email_sent", "email_opened", ...
    Column("signing_key", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# Webhook posts waiting to go out, in order per endpoint: only the oldest
# unsent one of a webhook is attempted, the rest wait behind it.
webhook_posts = Table(
    "webhook_posts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    _workspace(),
    Column(
        "webhook_id",
        Integer,
        ForeignKey("reporting_webhooks.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("body", Text, nullable=False),
    Column("state", String(16), nullable=False),  # queued | sent | failed
    Column("attempts", Integer, nullable=False),
    Column("due_at", BigInteger, nullable=False),
    Column("lease_until", BigInteger),
    Column("last_error", Text),
    Column("last_attempt_at", BigInteger),  # when it was last claimed for an attempt
    Column("created_at", BigInteger, nullable=False),
    Index(None, "webhook_id", "state", "id"),
    Index(None, "state", "due_at"),
    Index(None, "webhook_id", "last_attempt_at"),  # a webhook's recent attempts
)

# Per-workspace secrets for signed links (open pixel, click redirects,
# unsubscribe): random, made with the workspace or on first use.
workspace_secrets = Table(
    "workspace_secrets",
    metadata,
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), primary_key=True),
    Column("name", String(32), primary_key=True),  # tracking
    Column("value", String(128), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)


# --- campaigns, broadcasts and newsletters (docs/design/campaigns.md) ----------------

# A campaign (triggered journeys), an API-triggered broadcast or a newsletter:
# one id space for the first two, as Customer.io's `/v1/campaigns/{id}/triggers`.
# `definition` is the normalised JSON of what the App API or `tidings apply`
# gave (trigger, filters, frequency, exit, goal); the workflow is in
# `campaign_actions`. `trigger_kind` and `event_name` are copies the
# activity subscriber looks campaigns up by.
campaigns = Table(
    "campaigns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _workspace(),
    Column("kind", String(16), nullable=False),  # campaign | broadcast | newsletter
    Column("name", String(255), nullable=False),
    Column("description", Text, nullable=False),
    Column("state", String(16), nullable=False),  # draft | running | stopped
    Column("trigger_kind", String(16), nullable=False),  # event | segment | attribute | date | api
    Column("event_name", String(255)),  # event triggers: the event's name
    Column("definition", Text, nullable=False),
    Column("tags", Text, nullable=False),  # JSON array of strings
    Column("first_started", BigInteger),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index(None, "workspace_id", "state", "trigger_kind"),
)

# One item of a workflow. `key` names it stably across edits (given, or its
# position); `next_id` is the action that follows it (NULL: the end), and a
# branching action's `settings` name each path's first action.
campaign_actions = Table(
    "campaign_actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _workspace(),
    Column("campaign_id", Integer, ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(255), nullable=False),
    Column("ordinal", Integer, nullable=False),  # depth-first position, for listing
    Column("parent_action_id", Integer),  # the branch this action sits in
    Column("type", String(32), nullable=False),
    Column("name", String(255), nullable=False),
    Column("sending_state", String(16)),  # automatic | draft | off, for message actions
    Column("settings", Text, nullable=False),  # JSON, per type
    Column("next_id", Integer),
    Column("removed", Integer, nullable=False, server_default="0"),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("campaign_id", "key"),
)

# A message action's content per language ("" is the default), the fields of
# `templates.definitions.FIELDS` for its channel. A newsletter's A/B test
# groups are contents too: `test_group` 0 is the newsletter's own content,
# 1, 2, ... its test groups, each with its languages.
action_contents = Table(
    "action_contents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _workspace(),
    Column(
        "action_id",
        Integer,
        ForeignKey("campaign_actions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("language", String(16), nullable=False),
    Column("test_group", Integer, nullable=False, server_default="0"),
    Column("fields", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("action_id", "test_group", "language"),
)

# One person's way through one campaign, and its timer: an `active` journey
# is due at `due_at` (its entry, a delay's end, a window's opening, a wait's
# timeout; NULL while it waits for an event with no timeout). A runner takes
# due journeys with `FOR UPDATE SKIP LOCKED` and moves each on in the same
# transaction (`campaigns/journeys.py`). `started_at` is NULL while a date
# trigger's entry waits for its day. `entry_key` makes each entry once: "0"
# for once-only campaigns, the trigger activity's id for "every time", the
# occurrence's date for date triggers, the trigger's id for broadcasts.
journeys = Table(
    "journeys",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    _workspace(),
    Column("campaign_id", Integer, ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
    _person(nullable=True),
    Column("entry_key", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # active | finished | exited
    Column("exit_reason", String(32)),
    Column("action_id", Integer),  # where it is; NULL before its first action
    Column("visit", Integer, nullable=False, server_default="0"),  # steps taken
    Column("waiting", Text),  # JSON: the wait in progress at `action_id`
    Column("due_at", BigInteger),
    Column("trigger_event_id", Id),
    Column("trigger_id", Id),  # a broadcast trigger's id
    Column("context", Text, nullable=False),  # JSON: the trigger event and data, for Liquid
    Column("started_at", BigInteger),
    Column("activated_at", BigInteger),
    Column("messaged_at", BigInteger),
    Column("ended_at", BigInteger),
    Column("converted_at", BigInteger),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("campaign_id", "person_id", "entry_key"),
    Index(None, "state", "due_at"),
    Index(None, "person_id", "state"),
    Index(None, "campaign_id", "started_at"),
    Index(None, "campaign_id", "state", "action_id"),  # the UI's counts per step
)

# Each step a journey took: written with the step's effects, in the
# transaction that advanced the journey, so a step that ran never runs again
# and each action's people can be counted.
journey_steps = Table(
    "journey_steps",
    metadata,
    Column("journey_id", Id, ForeignKey("journeys.id", ondelete="CASCADE"), primary_key=True),
    Column("visit", Integer, primary_key=True, autoincrement=False),
    _workspace(),
    Column("campaign_id", Integer, nullable=False),
    Column("action_id", Integer, nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("delivery_id", String(64)),
    Column("at", BigInteger, nullable=False),
    Index(None, "campaign_id", "action_id", "at"),
)

# One call of `POST /v1/campaigns/{id}/triggers`: its audience, its data and
# how far the fan-out has come (`position`, the last person pk done).
broadcast_triggers = Table(
    "broadcast_triggers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    _workspace(),
    Column("campaign_id", Integer, ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
    Column("audience", Text, nullable=False),  # JSON
    Column("data", Text, nullable=False),  # JSON
    Column("state", String(16), nullable=False),  # queued | running | done | failed
    Column("position", BigInteger, nullable=False, server_default="0"),
    Column("recipients_count", BigInteger, nullable=False, server_default="0"),
    Column("errors_count", BigInteger, nullable=False, server_default="0"),
    Column("error", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("processed_at", BigInteger),
    Index(None, "campaign_id", "id"),
)

# The people a newsletter's A/B test held back from its sample (`newsletter_ab.py`):
# the winner's send reaches them, walked by person key.
newsletter_holdbacks = Table(
    "newsletter_holdbacks",
    metadata,
    Column(
        "newsletter_id", Integer, ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("person_id", Id, ForeignKey("people.id", ondelete="CASCADE"), primary_key=True),
    Column("held_at", BigInteger, nullable=False),
)

broadcast_trigger_errors = Table(
    "broadcast_trigger_errors",
    metadata,
    Column(
        "trigger_id", Id, ForeignKey("broadcast_triggers.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("message", Text, nullable=False),
)

# A workspace's limits on campaign messages (`tidings apply`, `limits:`): a send
# rate for all its campaigns and broadcasts together (transactional messages
# are exempt, CAMPAIGNS.md 3.9), and quiet hours.
workspace_limits = Table(
    "workspace_limits",
    metadata,
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), primary_key=True),
    Column("settings", Text, nullable=False),  # JSON: {send_rate, quiet_hours}
    Column("updated_at", BigInteger, nullable=False),
)

# The state of each send rate limit (`sending/rates.py`): its key ("w<workspace>"
# or "c<campaign>") and the theoretical arrival time of its next message, in
# milliseconds (the generic cell rate algorithm).
send_rates = Table(
    "send_rates",
    metadata,
    Column("key", String(32), primary_key=True),
    Column("tat", BigInteger, nullable=False),
)

# People who sign in to the web UI (`users/`). `email` is stored lower-cased;
# `password_hash` is `users.passwords.hash_password`'s self-describing string.
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(255), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# What a user may do in a workspace: admin, author or viewer (`users/roles.py`).
user_roles = Table(
    "user_roles",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("granted_at", BigInteger, nullable=False),
)

# Signed-in browsers (`users/sessions.py`): the SHA-256 of the cookie's random
# id (never the id), the workspace the user is looking at, the per-session
# CSRF token, and the times the idle and absolute expiries count from.
ui_sessions = Table(
    "ui_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("seen_at", BigInteger, nullable=False),
    Index(None, "user_id"),
)

# Failed logins by key ("email:<address>" or "addr:<client address>"), counted
# over a window to refuse guessing with 429 (`users/throttle.py`).
login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("key", String(300), nullable=False),
    Column("at", BigInteger, nullable=False),
    Index(None, "key", "at"),
)

# Who changed what (`audit.py`), written in the transaction of the change.
# `workspace_id` is null for what belongs to no workspace (a login).
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", Integer, ForeignKey("workspaces.id")),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="SET NULL")),
    Column("action", String(64), nullable=False),
    Column("target_type", String(32), nullable=False),
    Column("target_id", String(200), nullable=False),
    Column("details", Text, nullable=False),  # JSON object
    Column("at", BigInteger, nullable=False),
    Index(None, "workspace_id", "at"),
)


# --- the ingest log (ingest_log/, docs/architecture.md "The ingest log") ------------

# One row per partition of an ingest log stream: who applies it (a lease on the
# database's clock, fenced by `attempts`, as in jobs/lease.py) and the stream
# sequence of the last message applied, advanced in the transaction that
# applied it. `state` is `held` while an applier's lease holds, else `free`.
ingest_partitions = Table(
    "ingest_partitions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("stream", String(64), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("state", String(8), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("owner", String(64)),
    Column("lease_until", BigInteger),
    Column("applied_seq", BigInteger, nullable=False),
    Column("applied_total", BigInteger, nullable=False),  # records applied, ever
    Column("applied_at", BigInteger),
    UniqueConstraint("stream", "partition"),
)

# The appliers alive per stream (each renews its row with its leases), so that
# each takes a fair share of the partitions and gives up what is beyond it.
ingest_appliers = Table(
    "ingest_appliers",
    metadata,
    Column("stream", String(64), primary_key=True),
    Column("owner", String(64), primary_key=True),
    Column("seen_until", BigInteger, nullable=False),
)

# Messages of the ingest log that were answered 2xx and then refused when
# applied (an `ApiError` the direct path would have answered): kept, never dropped.
ingest_refusals = Table(
    "ingest_refusals",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", Integer, nullable=False),
    Column("stream", String(64), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("received_at", BigInteger, nullable=False),
    Column("status", Integer, nullable=False),
    Column("code", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("record", Text, nullable=False),  # the message as published (JSON)
    Index(None, "workspace_id", "received_at"),
)

# The subscription center (`tidings apply`, `subscription_topics:` and
# `subscription_channels:`; `subscriptions/topics.py`): `topic_<topic_id>` and
# `channels.<channel>` in a person's `cio_subscription_preferences`.
subscription_topics = Table(
    "subscription_topics",
    metadata,
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), primary_key=True),
    Column("topic_id", Integer, primary_key=True, autoincrement=False),
    Column("name", String(255), nullable=False),
    Column("description", Text, nullable=False),
    Column("subscribed_by_default", Integer, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)
subscription_channels = Table(
    "subscription_channels",
    metadata,
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), primary_key=True),
    Column("channel", String(32), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("description", Text, nullable=False),
    Column("subscribed_by_default", Integer, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)
# Design Studio (`/v1/design_studio/...`): folders, emails and components in one
# tree of nodes with UUID ids; `body` is the node's JSON (an email's content,
# envelope and transformers; a component's HTML as a JSON string).
design_nodes = Table(
    "design_nodes",
    metadata,
    Column("id", String(36), primary_key=True),
    _workspace(),
    Column("kind", String(16), nullable=False),  # folder | email | component
    Column("name", String(255), nullable=False),
    Column("parent_folder_id", String(36)),
    Column("tag", String(255)),  # components: unique per workspace
    Column("is_template", Integer, nullable=False, server_default=text("0")),
    Column("body", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("workspace_id", "kind", "tag"),
    Index(
        "ix_design_nodes_workspace_id_kind_parent_folder_id",
        "workspace_id",
        "kind",
        "parent_folder_id",
    ),
)

# A Design Studio email's translations: `body` overrides the default language's.
design_email_languages = Table(
    "design_email_languages",
    metadata,
    Column("email_id", String(36), primary_key=True),
    Column("language", String(35), primary_key=True),
    _workspace(),
    Column("body", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# Assets (`/v1/assets/...`): folders, and uploaded files whose bytes live in the
# asset store (data folder or S3 bucket) under `token`, the random part of their
# public URL.
asset_folders = Table(
    "asset_folders",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    _workspace(),
    Column("name", String(255), nullable=False),
    Column("parent_folder_id", BigInteger),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

assets = Table(
    "assets",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    _workspace(),
    Column("folder_id", BigInteger),
    Column("name", String(255), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("content_type", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("token", String(64), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_assets_workspace_id_folder_id", "workspace_id", "folder_id"),
)
