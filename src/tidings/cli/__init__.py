"""The `tidings` command: serve, worker and migrate here; the other groups in their modules."""

from __future__ import annotations

import ipaddress
import json
import os
import threading
from typing import TYPE_CHECKING, Any

import click

from tidings import clock
from tidings.cli.apply import apply_file
from tidings.cli.asset_options import asset_options, asset_settings
from tidings.cli.emulate import emulate
from tidings.cli.imports import import_group
from tidings.cli.log_options import log_level_option
from tidings.cli.outbox import outbox, refusals, rejections
from tidings.cli.store_options import describe, open_store, store_options
from tidings.cli.users import user
from tidings.cli.workspace import workspace
from tidings.config import IngestLog, Settings
from tidings.db.engine import Database
from tidings.ops.heap import limit_malloc_arenas
from tidings.runtime import wiring
from tidings.workspaces import service as workspaces

if TYPE_CHECKING:
    from tidings.app import Worker
    from tidings.ops.metrics_server import MetricsServer


def _allowlist(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from tidings.fetch import Allowlist

    try:
        Allowlist.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    return value


fetch_allow_option = click.option(
    "--fetch-allow",
    envvar="TIDINGS_FETCH_ALLOW",
    show_envvar=True,
    default="",
    callback=_allowlist,
    help="Private addresses (CIDRs) and host names that URL fetches may reach, comma-separated.",
)


def _ips(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[str, ...]:
    found = tuple(part.strip() for part in value.split(",") if part.strip())
    for part in found:
        try:
            ipaddress.ip_address(part)
        except ValueError:
            raise click.BadParameter(f"{part!r} is not an IP address") from None
    return found


sending_ips_option = click.option(
    "--sending-ips",
    envvar="TIDINGS_SENDING_IPS",
    show_envvar=True,
    default="",
    callback=_ips,
    help="The IP addresses this deployment sends from, comma-separated "
    "(listed by GET /v1/info/ip_addresses).",
)


def ingest_log_options(fn: Any) -> Any:
    """`--ingest-log` and the stream's settings (serve and worker)."""
    options = [
        click.option(
            "--ingest-log",
            envvar="TIDINGS_INGEST_LOG",
            show_envvar=True,
            default="",
            help="PostgreSQL: publish ingest requests to this NATS JetStream log "
            "(nats://host:4222[,...]) and apply them in `tidings worker`.",
        ),
        click.option(
            "--ingest-stream",
            envvar="TIDINGS_INGEST_STREAM",
            show_envvar=True,
            default=IngestLog.stream,
            show_default=True,
            help="The ingest log's stream name.",
        ),
        click.option(
            "--ingest-partitions",
            envvar="TIDINGS_INGEST_PARTITIONS",
            show_envvar=True,
            type=click.IntRange(1, 1024),
            default=IngestLog.partitions,
            show_default=True,
            help="Partitions of the stream, when this process creates it (then fixed).",
        ),
        click.option(
            "--ingest-replicas",
            envvar="TIDINGS_INGEST_REPLICAS",
            show_envvar=True,
            type=click.IntRange(1, 5),
            default=IngestLog.replicas,
            show_default=True,
            help="Copies of the stream (3 on a three-node cluster), when this process creates it.",
        ),
        click.option(
            "--ingest-lease",
            envvar="TIDINGS_INGEST_LEASE",
            show_envvar=True,
            type=click.IntRange(2, 3600),
            default=IngestLog.lease,
            show_default=True,
            help="Seconds a worker's claim on a partition lasts unless renewed: a dead "
            "worker's partitions move after it.",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _ingest_log(
    database_url: str | None, urls: str, stream: str, partitions: int, replicas: int, lease: int
) -> IngestLog | None:
    """The ingest log's settings, or None without `--ingest-log`; refused on SQLite."""
    if not urls:
        return None
    if not database_url or database_url.startswith("sqlite"):
        raise click.UsageError(
            "--ingest-log needs PostgreSQL (--database-url postgresql://...): its appliers "
            "claim partitions with row locks SQLite does not have"
        )
    try:
        return IngestLog.parse(
            urls, stream=stream, partitions=partitions, replicas=replicas, lease=lease
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--ingest-log") from exc


@click.group()
def main() -> None:
    """Tidings: a self-hosted server for the Customer.io APIs."""
    limit_malloc_arenas()  # before the threads of `serve` and `worker` start
    wiring.wire()


@main.command()
@store_options
@click.option(
    "--host",
    envvar="TIDINGS_HOST",
    show_envvar=True,
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (0.0.0.0: every interface).",
)
@click.option(
    "--port",
    envvar="TIDINGS_PORT",
    show_envvar=True,
    default=8080,
    show_default=True,
    type=int,
    help="Port to listen on; bound before anything else is done.",
)
@click.option(
    "--ssl-certfile",
    envvar="TIDINGS_SSL_CERTFILE",
    show_envvar=True,
    default=None,
    help="PEM certificate (chain) to serve HTTPS with; needs --ssl-keyfile.",
)
@click.option(
    "--ssl-keyfile",
    envvar="TIDINGS_SSL_KEYFILE",
    show_envvar=True,
    default=None,
    help="PEM private key of --ssl-certfile.",
)
@click.option(
    "--log-format",
    envvar="TIDINGS_LOG_FORMAT",
    show_envvar=True,
    type=click.Choice(["plain", "json"]),
    default="plain",
    show_default=True,
    help="Log lines as plain text or as one JSON object each.",
)
@log_level_option()
@click.option(
    "--workers",
    envvar="TIDINGS_WORKERS",
    show_envvar=True,
    default=1,
    show_default=True,
    type=int,
    help="Server processes sharing the port (use with PostgreSQL).",
)
@click.option(
    "--background-workers/--no-background-workers",
    envvar="TIDINGS_BACKGROUND_WORKERS",
    show_envvar=True,
    default=True,
    show_default=True,
    help="Run the segment and job workers inside the server (else run `tidings worker`).",
)
@click.option(
    "--writer-process/--no-writer-process",
    envvar="TIDINGS_WRITER_PROCESS",
    show_envvar=True,
    default=True,
    show_default=True,
    help="SQLite: commit writes in a process of their own, on a second core.",
)
@click.option(
    "--worker-process/--no-worker-process",
    envvar="TIDINGS_WORKER_PROCESS",
    show_envvar=True,
    default=True,
    show_default=True,
    help="PostgreSQL: run the background workers in a process the server starts, not as "
    "threads beside the requests (on SQLite they go with the writer process).",
)
@click.option(
    "--public-url",
    envvar="TIDINGS_PUBLIC_URL",
    show_envvar=True,
    default="",
    help="Base URL clients use to reach this server (for links and region answers).",
)
@click.option(
    "--tls-port",
    envvar="TIDINGS_TLS_PORT",
    type=int,
    default=None,
    help="Also serve https on this port (needs --ssl-certfile/--ssl-keyfile); "
    "--port then serves plain http.",
    show_envvar=True,
)
@click.option(
    "--max-in-flight",
    envvar="TIDINGS_MAX_IN_FLIGHT",
    type=click.IntRange(1),
    default=Settings.max_in_flight,
    show_default=True,
    help="Requests admitted per server process (running or queued); more are "
    "answered 429 with Retry-After.",
    show_envvar=True,
)
@click.option(
    "--max-connections",
    envvar="TIDINGS_MAX_CONNECTIONS",
    type=click.IntRange(0),
    default=0,
    help="Open connections per server process (0: a cap below its descriptor limit).",
    show_envvar=True,
)
@fetch_allow_option
@sending_ips_option
@click.option(
    "--message-archive-days",
    envvar="TIDINGS_MESSAGE_ARCHIVE_DAYS",
    type=click.IntRange(0),
    default=Settings.message_archive_days,
    show_default=True,
    help="Days a sent message's archive stays readable through the App API (0: no limit).",
    show_envvar=True,
)
@ingest_log_options
@asset_options
def serve(
    data_dir: str,
    database_url: str | None,
    host: str,
    port: int,
    ssl_certfile: str | None,
    ssl_keyfile: str | None,
    log_format: str,
    log_level: str,
    workers: int,
    background_workers: bool,
    writer_process: bool,
    worker_process: bool,
    public_url: str,
    tls_port: int | None,
    max_in_flight: int,
    max_connections: int,
    fetch_allow: str,
    sending_ips: tuple[str, ...],
    message_archive_days: int,
    ingest_log: str,
    ingest_stream: str,
    ingest_partitions: int,
    ingest_replicas: int,
    ingest_lease: int,
    **assets: Any,
) -> None:
    """Serve the Track, App and Pipelines APIs on one port (and a TLS port)."""
    from tidings.ops.logging import configure
    from tidings.server import serve as run

    if bool(ssl_certfile) != bool(ssl_keyfile):
        raise click.UsageError("--ssl-certfile and --ssl-keyfile go together")
    if tls_port is not None and not ssl_certfile:
        raise click.UsageError("--tls-port needs --ssl-certfile and --ssl-keyfile")
    # Bound before anything is created: a first workspace's keys are printed only once.
    sockets = _listen(host, [p for p in (port, tls_port) if p is not None])
    log = _ingest_log(
        database_url, ingest_log, ingest_stream, ingest_partitions, ingest_replicas, ingest_lease
    )
    url, db = open_store(data_dir, database_url, create=True)
    _first_workspace(db)
    db.dispose()
    configure(log_level.upper())
    settings = Settings(
        database_url=url,
        host=host,
        port=port,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        log_format=log_format,
        access_log=log_level.lower() in ("debug", "info"),
        public_url=public_url,
        background_workers=background_workers,
        fetch_allowlist=fetch_allow,
        sending_ips=sending_ips,
        message_archive_days=message_archive_days,
        writer_process=writer_process,
        worker_process=worker_process,
        tls_port=tls_port,
        max_in_flight=max_in_flight,
        max_connections=max_connections,
        ingest_log=log,
        **asset_settings(data_dir, assets),
    )
    scheme = "https" if ssl_certfile and tls_port is None else "http"
    where = f"{scheme}://{host}:{port}"
    if tls_port is not None:
        where += f" and https://{host}:{tls_port}"
    click.echo(f"tidings: serving on {where} ({describe(url)})", err=True)
    run(settings, workers, sockets)


def _listen(host: str, ports: list[int]) -> list[Any]:
    """A listening socket on each port, or a one-line error naming the port taken."""
    from tidings.server import listen

    sockets = []
    for port in ports:
        try:
            sockets.append(listen(host, port))
        except OSError as exc:
            raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    return sockets


@main.command()
@store_options
@log_level_option()
@fetch_allow_option
@click.option(
    "--delivery-lease",
    envvar="TIDINGS_DELIVERY_LEASE",
    type=click.IntRange(2, 3600),
    default=15,
    show_default=True,
    help="Seconds a claimed delivery is held; a dead worker's sends are retried after it.",
)
@click.option(
    "--housekeeping-every",
    envvar="TIDINGS_HOUSEKEEPING_EVERY",
    type=click.FloatRange(0),
    default=300.0,
    show_default=True,
    help="Seconds between prunings of expired keys, links and files (0: never).",
)
@click.option(
    "--writer-socket",
    envvar="TIDINGS_WRITER_SOCKET",
    default="",
    help="SQLite: commit through this writer process (as `tidings serve` starts it).",
)
@click.option(
    "--public-url",
    envvar="TIDINGS_PUBLIC_URL",
    show_envvar=True,
    default="http://127.0.0.1:8080",
    show_default=True,
    help="Base URL clients reach the server at, for tracked links in campaign messages.",
)
@ingest_log_options
@click.option(
    "--metrics-port",
    envvar="TIDINGS_METRICS_PORT",
    show_envvar=True,
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve this worker's Prometheus /metrics on this port (none by default).",
)
@click.option(
    "--metrics-host",
    envvar="TIDINGS_METRICS_HOST",
    default="127.0.0.1",
    show_default=True,
    help="Interface --metrics-port listens on.",
)
@click.option("--exit-with-parent", is_flag=True, hidden=True)
def worker(
    data_dir: str,
    database_url: str | None,
    log_level: str,
    fetch_allow: str,
    delivery_lease: int,
    housekeeping_every: float,
    writer_socket: str,
    public_url: str,
    ingest_log: str,
    ingest_stream: str,
    ingest_partitions: int,
    ingest_replicas: int,
    ingest_lease: int,
    metrics_port: int | None,
    metrics_host: str,
    exit_with_parent: bool,
) -> None:
    """Run the background workers apart from the server processes.

    The segment worker keeps data-driven segments current; the job worker runs
    exports, collection fetches and imports; the journey worker moves campaign
    journeys on; the delivery worker sends messages; the webhook poster sends
    reporting webhooks. Run one or more beside
    `tidings serve --no-background-workers` (PostgreSQL). Stops cleanly on
    SIGTERM or Ctrl-C after the work in progress. With `--ingest-log`, it also
    applies the ingest log's partitions to the database. With `--metrics-port`,
    it serves its own Prometheus `/metrics` (see docs/operations.md).
    """
    import signal

    from tidings.app import create_worker
    from tidings.ops.heap import freeze_startup_heap
    from tidings.ops.logging import configure

    configure(log_level.upper())
    log = _ingest_log(
        database_url, ingest_log, ingest_stream, ingest_partitions, ingest_replicas, ingest_lease
    )
    url, db = open_store(data_dir, database_url)
    db.dispose()
    settings = Settings(
        database_url=url,
        fetch_allowlist=fetch_allow,
        housekeeping_every=housekeeping_every or None,
        writer_socket=writer_socket,
        public_url=public_url,
        ingest_log=log,
    )
    running = create_worker(settings, delivery_lease=delivery_lease)
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    if exit_with_parent:  # a server's worker process: its standard input is the server's pipe
        threading.Thread(target=_wait_for_eof, args=(stopping,), daemon=True).start()
    applying = f", applying {log.stream} from {','.join(log.servers)}" if log else ""
    click.echo(
        f"tidings: segment, job, journey, delivery and webhook workers on {describe(url)}"
        + applying,
        err=True,
    )
    scraped = _metrics_server(running, metrics_host, metrics_port)
    freeze_startup_heap()
    running.start()
    while not stopping.wait(1.0):
        if running.gone:
            click.echo("tidings: the writer process is gone; stopping", err=True)
            break
    if scraped is not None:
        scraped.stop()
    running.stop()


def _metrics_server(running: Worker, host: str, port: int | None) -> MetricsServer | None:
    """`--metrics-port`: the worker's /metrics, started (None without the option)."""
    if port is None:
        return None
    from tidings.ops.metrics_server import MetricsServer

    try:
        server = MetricsServer(host, port, running.metrics)
    except OSError as exc:
        raise click.ClickException(f"--metrics-port {port}: {exc}") from exc
    server.start()
    click.echo(f"tidings: worker metrics on http://{host}:{server.port}/metrics", err=True)
    return server


def _wait_for_eof(stopping: threading.Event) -> None:
    while os.read(0, 4096):  # the raw descriptor: no buffer lock held at interpreter exit
        pass
    stopping.set()


def _first_workspace(db: Database) -> None:
    """On an empty store, create a first workspace and print its keys, once."""
    with db.writer.begin() as conn:
        if workspaces.count_workspaces(conn):
            return
        creds = workspaces.create_workspace(conn, "Default", clock.current().now())
    click.echo("tidings: created the first workspace; its keys are shown only now:", err=True)
    click.echo(json.dumps(creds.public(), indent=2))


@main.command()
@store_options
def migrate(data_dir: str, database_url: str | None) -> None:
    """Create the store, or bring its schema up to date."""
    url, db = open_store(data_dir, database_url, create=True)
    db.dispose()
    click.echo(f"tidings: schema is current ({describe(url)})", err=True)


for _command in (workspace, apply_file, outbox, rejections, refusals, import_group, user, emulate):
    main.add_command(_command)
