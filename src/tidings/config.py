"""Settings: one frozen object, built once in `main` and passed down."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class IngestLog:
    """The optional replicated ingest log (NATS JetStream, `ingest_log/`).

    `partitions` and `replicas` are used when the stream is created; an existing
    stream keeps its own (its partition count is read back from it).
    """

    servers: tuple[str, ...]
    stream: str = "TIDINGS_INGEST"
    partitions: int = 8
    replicas: int = 1
    # Seconds a message is kept in the stream, applied or not (JetStream's max_age).
    max_age: float = 7 * 24 * 3600.0
    # Seconds a publish waits for the stream's acknowledgement before answering 503.
    publish_timeout: float = 5.0
    # Seconds an applier's claim on a partition lasts unless renewed.
    lease: int = 15

    @staticmethod
    def parse(urls: str, **options: object) -> IngestLog:
        """`nats://host:4222[,nats://other:4222...]` as given to `--ingest-log`."""
        servers = tuple(url.strip() for url in urls.split(",") if url.strip())
        if not servers or not all(url.startswith(("nats://", "tls://")) for url in servers):
            raise ValueError("--ingest-log takes nats://host:port URLs, comma-separated")
        return IngestLog(servers, **options)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Settings:
    database_url: str
    host: str = "127.0.0.1"
    port: int = 8080
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    # With a TLS port, `port` serves plain http and `tls_port` https (same app).
    tls_port: int | None = None
    log_format: str = "plain"
    access_log: bool = True
    # Run the background workers (segments, jobs) inside the server process
    # (`tidings worker` runs them alone).
    background_workers: bool = True
    commit_max_batch: int = 512
    # Writes queued beyond this are refused with 429 rather than buffered.
    max_pending_writes: int = 10_000
    # HTTP limits (tidings.http_protocol, docs/operations.md): requests admitted
    # per process (running or queued; the excess gets 429), requests read ahead
    # on one connection, header bytes (431 past it), seconds for the headers and
    # between two reads of a body (408), open connections (0: from the
    # descriptor limit).
    max_in_flight: int = 256
    max_pipelined: int = 32
    max_header_bytes: int = 64 * 1024
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 0
    public_url: str = ""
    # Seconds between housekeeping rounds of the job worker (None: never).
    housekeeping_every: float | None = 300.0
    # Addresses and host names that fetches of user-supplied URLs (collections,
    # imports) may reach although private: comma-separated CIDRs and names
    # (tidings.fetch.Allowlist).
    fetch_allowlist: str = ""
    # The addresses this deployment sends from, as `GET /v1/info/ip_addresses`
    # lists them for allowlisting (validated IPs; empty: none declared).
    sending_ips: tuple[str, ...] = ()
    # Days a sent message's archive (`GET /v1/messages/{id}/archived_message`)
    # stays readable; 0: as long as the delivery is kept.
    message_archive_days: int = 0
    # Assets (`/v1/assets`): the folder their bytes are kept in (empty: the data
    # folder's `assets/`), or an S3-compatible bucket (path-style; `asset_s3_endpoint`
    # empty: AWS), and the largest file accepted, in bytes.
    asset_dir: str = ""
    asset_max_bytes: int = 2 * 1024 * 1024  # Customer.io's limit
    asset_s3_bucket: str = ""
    asset_s3_endpoint: str = ""
    asset_s3_region: str = "us-east-1"
    asset_s3_access_key: str = ""
    asset_s3_secret_key: str = ""
    # SQLite: commit in a writer process of its own (db/writer_service.py), so
    # the event loop and the writer each have an interpreter lock and a core.
    writer_process: bool = False
    # The socket of a writer process started by someone else (`serve --workers`).
    writer_socket: str = ""
    # PostgreSQL: run the background workers in a `tidings worker` process the
    # server starts, not as threads beside the requests (on SQLite they go with
    # the writer process).
    worker_process: bool = False
    # Publish ingest requests to a replicated log that `tidings worker` applies
    # (PostgreSQL only); None: every write is a direct transaction.
    ingest_log: IngestLog | None = None
    # `tidings emulate`: serve the control API (`/_emulator/...`), run the background
    # workers' passes on one thread it can hold still, and capture every message.
    emulator: bool = False

    @property
    def spawns_worker_process(self) -> bool:
        """Whether this server starts a `tidings worker` of its own."""
        if not self.background_workers or self.writer_socket:
            return False  # none wanted, or a supervisor (`serve --workers`) runs it
        return self.writer_process if self.is_sqlite else self.worker_process

    @property
    def base_url(self) -> str:
        """Where clients reach this server, for links in messages composed without a
        request at hand (campaigns): `public_url`, else the plain http port."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{self.host}:{self.port}"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def settings_from_dict(values: dict[str, Any]) -> Settings:
    """`Settings` again from `dataclasses.asdict` of one (passed as JSON to the server's
    child processes)."""
    log = values.get("ingest_log")
    if isinstance(log, dict):
        values = {**values, "ingest_log": IngestLog(**{**log, "servers": tuple(log["servers"])})}
    if "sending_ips" in values:
        values = {**values, "sending_ips": tuple(values["sending_ips"])}
    return Settings(**values)


def database_url_for(data_dir: str | None, database_url: str | None) -> str:
    """The URL to use: an explicit URL wins, else SQLite inside the data folder."""
    if database_url:
        return normalise_url(database_url)
    path = sqlite_file(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path.resolve()}"


def sqlite_file(data_dir: str | None) -> Path:
    """The embedded store's file inside the data folder (it may not exist yet)."""
    folder = Path(data_dir or os.environ.get("TIDINGS_DATA_DIR") or "./tidings-data")
    return folder / "tidings.sqlite3"


def normalise_url(url: str) -> str:
    """Accept plain `postgresql://` URLs and pick the psycopg 3 driver for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
