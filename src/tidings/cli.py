"""The `tidings` command: serve, worker, migrate, workspace create | list, apply, import."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from sqlalchemy.exc import OperationalError

from tidings.config import Settings, database_url_for, sqlite_file
from tidings.db.engine import Database, open_database
from tidings.db.migrate import has_schema, upgrade
from tidings.workspaces import service as workspaces


def store_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option(
        "--database-url",
        envvar="TIDINGS_DATABASE_URL",
        show_envvar=True,
        help="SQLAlchemy URL, e.g. postgresql://host/db. Overrides --data-dir.",
    )(fn)
    fn = click.option(
        "--data-dir",
        envvar="TIDINGS_DATA_DIR",
        show_envvar=True,
        default="./tidings-data",
        show_default=True,
        help="Folder of the embedded SQLite store.",
    )(fn)
    return fn


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


log_level_option = click.option(
    "--log-level",
    envvar="TIDINGS_LOG_LEVEL",
    show_envvar=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"], case_sensitive=False),
    default="info",
    show_default=True,
    help="Least severe messages logged; info and debug also log each request.",
)


def _open(data_dir: str, database_url: str | None, *, create: bool = False) -> tuple[str, Database]:
    """Open the store, bringing its schema up to date.

    Only `create` (serve, migrate, workspace create) may make a new store;
    any other command run in the wrong folder stops, naming where it looked,
    rather than making an empty store there.
    """
    if not create:
        _insist_on_sqlite_file(data_dir, database_url)
    url = database_url_for(data_dir, database_url)
    db = open_database(url, pool_size=2)
    try:
        if not create and not has_schema(db):
            raise _no_store(f"no store found in {_describe(url)} (its schema was never created)")
        upgrade(db)
    except OperationalError as exc:
        db.dispose()
        raise click.ClickException(f"cannot open {_describe(url)}: {exc.orig}") from exc
    except click.ClickException:
        db.dispose()
        raise
    return url, db


def _insist_on_sqlite_file(data_dir: str, database_url: str | None) -> None:
    """Opening a missing SQLite file would create it: look first."""
    if not database_url:
        path = sqlite_file(data_dir)
    elif database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))
    else:
        return
    if not path.is_file():
        raise _no_store(f"no store found at {path}")


def _no_store(what: str) -> click.ClickException:
    return click.ClickException(
        f"{what}. Name the store with --data-dir (TIDINGS_DATA_DIR) or --database-url "
        "(TIDINGS_DATABASE_URL); only `tidings serve`, `tidings migrate` and "
        "`tidings workspace create` make a new one."
    )


@click.group()
def main() -> None:
    """Tidings: a self-hosted server for the Customer.io APIs."""


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
@log_level_option
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
) -> None:
    """Serve the Track, App and Pipelines APIs on one port (and a TLS port)."""
    from tidings.ops.logging import configure
    from tidings.server import listen
    from tidings.server import serve as run

    if bool(ssl_certfile) != bool(ssl_keyfile):
        raise click.UsageError("--ssl-certfile and --ssl-keyfile go together")
    if tls_port is not None and not ssl_certfile:
        raise click.UsageError("--tls-port needs --ssl-certfile and --ssl-keyfile")
    sockets = []
    for each in (port, tls_port):  # before anything is created: a first workspace's
        if each is None:  # keys are printed only once
            continue
        try:
            sockets.append(listen(host, each))
        except OSError as exc:
            raise click.ClickException(f"cannot listen on {host}:{each}: {exc.strerror}") from exc
    url, db = _open(data_dir, database_url, create=True)
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
        writer_process=writer_process,
        worker_process=worker_process,
        tls_port=tls_port,
        max_in_flight=max_in_flight,
        max_connections=max_connections,
    )
    scheme = "https" if ssl_certfile and tls_port is None else "http"
    where = f"{scheme}://{host}:{port}"
    if tls_port is not None:
        where += f" and https://{host}:{tls_port}"
    click.echo(f"tidings: serving on {where} ({_describe(url)})", err=True)
    run(settings, workers, sockets)


@main.command()
@store_options
@log_level_option
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
@click.option("--exit-with-parent", is_flag=True, hidden=True)
def worker(
    data_dir: str,
    database_url: str | None,
    log_level: str,
    fetch_allow: str,
    delivery_lease: int,
    housekeeping_every: float,
    writer_socket: str,
    exit_with_parent: bool,
) -> None:
    """Run the background workers apart from the server processes.

    The segment worker keeps data-driven segments current; the job worker runs
    exports, collection fetches and imports; the delivery worker sends
    messages; the webhook poster sends reporting webhooks. Run one or more beside
    `tidings serve --no-background-workers` (PostgreSQL). Stops cleanly on
    SIGTERM or Ctrl-C after the work in progress.
    """
    import signal

    from tidings.clock import SystemClock
    from tidings.ops.heap import freeze_startup_heap
    from tidings.ops.logging import configure
    from tidings.ops.workers import BackgroundWorkers, WriterConnection

    configure(log_level.upper())
    url, db = _open(data_dir, database_url)
    settings = Settings(
        database_url=url,
        fetch_allowlist=fetch_allow,
        housekeeping_every=housekeeping_every or None,
    )
    link = WriterConnection(writer_socket) if writer_socket else None
    workers = BackgroundWorkers(
        db,
        SystemClock(),
        settings,
        write=link.writer.call if link is not None else None,
        delivery_lease=delivery_lease,
    )
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    if exit_with_parent:  # a server's worker process: its standard input is the server's pipe
        threading.Thread(target=_wait_for_eof, args=(stopping,), daemon=True).start()
    click.echo(f"tidings: segment, job, delivery and webhook workers on {_describe(url)}", err=True)
    freeze_startup_heap()
    workers.start()
    while not stopping.wait(1.0):
        if link is not None and link.gone:
            click.echo("tidings: the writer process is gone; stopping", err=True)
            break
    workers.stop()
    if link is not None:
        link.close()
    db.dispose()


def _wait_for_eof(stopping: threading.Event) -> None:
    while os.read(0, 4096):  # the raw descriptor: no buffer lock held at interpreter exit
        pass
    stopping.set()


def _first_workspace(db: Database) -> None:
    """On an empty store, create a first workspace and print its keys, once."""
    with db.writer.begin() as conn:
        if workspaces.count_workspaces(conn):
            return
        creds = workspaces.create_workspace(conn, "Default", time.time())
    click.echo("tidings: created the first workspace; its keys are shown only now:", err=True)
    click.echo(json.dumps(creds.public(), indent=2))


def _describe(url: str) -> str:
    if url.startswith("sqlite"):
        return "SQLite " + url.split("///", 1)[-1]
    return "PostgreSQL " + url.rsplit("@", 1)[-1]


@main.command()
@store_options
@click.option("--workspace-id", type=int, default=None, help="Only this workspace's messages.")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line, with the message.")
def outbox(
    data_dir: str, database_url: str | None, workspace_id: int | None, limit: int, as_json: bool
) -> None:
    """List captured messages (what the capture adapter stored instead of sending), newest first."""
    from tidings.messaging.outbox import list_captured
    from tidings.paging import PageRequest

    _, db = _open(data_dir, database_url)
    with db.reader.connect() as conn:
        found = list_captured(conn, workspace_id, PageRequest(limit))["messages"]
    db.dispose()
    for item in found:
        if as_json:
            click.echo(json.dumps(item))
            continue
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(item["created_at"]))
        subject = f"  {item['subject']}" if item["subject"] else ""
        click.echo(
            f"{when}  ws {item['workspace_id']}  {item['channel']:<8} {item['delivery_id']}"
            f"  {item['recipient']}{subject}"
        )


@main.command()
@store_options
def migrate(data_dir: str, database_url: str | None) -> None:
    """Create the store, or bring its schema up to date."""
    url, db = _open(data_dir, database_url, create=True)
    db.dispose()
    click.echo(f"tidings: schema is current ({_describe(url)})", err=True)


@main.group()
def workspace() -> None:
    """Create and list workspaces, and replace their keys."""


@workspace.command("create")
@store_options
@click.option("--name", required=True)
@click.option("--site-id", default=None)
@click.option("--track-api-key", default=None)
@click.option("--app-api-key", default=None)
@click.option("--cdp-write-key", default=None)
def workspace_create(
    data_dir: str,
    database_url: str | None,
    name: str,
    site_id: str | None,
    track_api_key: str | None,
    app_api_key: str | None,
    cdp_write_key: str | None,
) -> None:
    """Create a workspace and print its keys as one JSON object."""
    from tidings.errors import ApiError

    _, db = _open(data_dir, database_url, create=True)
    try:
        with db.writer.begin() as conn:
            creds = workspaces.create_workspace(
                conn,
                name,
                time.time(),
                site_id=site_id,
                track_api_key=track_api_key,
                app_api_key=app_api_key,
                cdp_write_key=cdp_write_key,
            )
    except ApiError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        db.dispose()
    click.echo(json.dumps(creds.public()))


@workspace.command("list")
@store_options
def workspace_list(data_dir: str, database_url: str | None) -> None:
    """List workspaces (ids, names and site ids; never keys)."""
    _, db = _open(data_dir, database_url)
    with db.reader.connect() as conn:
        rows = workspaces.list_workspaces(conn)
    db.dispose()
    for ws in rows:
        click.echo(json.dumps({"workspace_id": ws.id, "name": ws.name, "site_id": ws.site_id}))


@workspace.command("rotate-keys")
@store_options
@click.option("--workspace-id", type=int, default=None, help="Needed when there are several.")
@click.option(
    "--kind",
    "kinds",
    type=click.Choice(list(workspaces.KEY_KINDS)),
    multiple=True,
    help="Only this kind of key (repeatable): track (Track API key), app (App API key), "
    "cdp (Pipelines write key). Default: all three.",
)
def workspace_rotate_keys(
    data_dir: str, database_url: str | None, workspace_id: int | None, kinds: tuple[str, ...]
) -> None:
    """Replace a workspace's keys and print the new ones as one JSON object, once.

    The old keys stop working at once; a running server may still accept one
    it checked in the last 10 seconds.
    """
    _, db = _open(data_dir, database_url)
    try:
        with db.writer.begin() as conn:
            workspace_id = _one_workspace(conn, workspace_id)
            new = workspaces.rotate_keys(conn, workspace_id, list(kinds or workspaces.KEY_KINDS))
    finally:
        db.dispose()
    click.echo(json.dumps({"workspace_id": workspace_id, **new}))


@main.group()
def rejections() -> None:
    """Pipelines messages refused without strict mode (answered 200, kept for 7 days)."""


@rejections.command("list")
@store_options
@click.option("--workspace-id", type=int, default=None, help="Needed when there are several.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
def rejections_list(
    data_dir: str, database_url: str | None, workspace_id: int | None, limit: int
) -> None:
    """Print a workspace's recent rejections, newest first, one JSON object a line."""
    from tidings.paging import PageRequest
    from tidings.pipelines.rejections import recent

    _, db = _open(data_dir, database_url)
    with db.reader.connect() as conn:
        found = recent(conn, _one_workspace(conn, workspace_id), PageRequest(limit))
    db.dispose()
    for item in found["rejections"]:
        click.echo(json.dumps(item))


@main.command("apply")
@store_options
@click.option("-f", "--file", "path", required=True, type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option("--workspace-id", type=int, default=None, help="Needed when there are several.")
def apply_file(
    data_dir: str, database_url: str | None, path: str, dry_run: bool, workspace_id: int | None
) -> None:
    """Create or update what a YAML file declares: segments, transactional messages,
    snippets, sender identities, layouts and providers (matched by name)."""
    import yaml  # type: ignore[import-untyped]  # PyYAML ships no annotations

    from tidings.errors import ApiError
    from tidings.workspaces import apply

    try:
        with open(path, encoding="utf-8") as handle:
            desired = apply.parse(yaml.safe_load(handle))
    except (OSError, yaml.YAMLError) as exc:
        raise click.ClickException(f"cannot read {path}: {exc}") from exc
    except ApiError as exc:
        raise click.ClickException(f"{path}: {exc.message}") from exc
    _, db = _open(data_dir, database_url)
    try:
        with db.writer.begin() as conn:
            workspace_id = _one_workspace(conn, workspace_id)
            changes = apply.plan(desired, apply.current(conn, workspace_id))
            lines = [change.describe() for change in changes]
            if not dry_run:
                lines = apply.apply_plan(conn, workspace_id, changes, int(time.time()))
    except ApiError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        db.dispose()
    for line in lines:
        click.echo(line)
    if dry_run:
        click.echo("dry run: nothing changed", err=True)


def _one_workspace(conn: Any, workspace_id: int | None) -> int:
    """The workspace named, or the only one; a usage error otherwise."""
    known = [ws.id for ws in workspaces.list_workspaces(conn)]
    if not known:
        raise click.UsageError(
            "the store has no workspace yet: `tidings workspace create` makes one"
        )
    if workspace_id is None and len(known) == 1:
        return known[0]
    if workspace_id is None:
        raise click.UsageError("several workspaces exist: pass --workspace-id")
    if workspace_id not in known:
        raise click.UsageError(f"no workspace {workspace_id}")
    return workspace_id


@main.group("import")
def import_group() -> None:
    """Import people or events from a CSV or JSON Lines file.

    Every row is validated as the Track API's identify or event call would
    be; bad rows are reported with their line and the others imported. The
    exit status is 0 once the file was processed, bad rows or not (the
    summary says how many failed); 1 when the file cannot be imported at all.
    """


def _import_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in (
        click.option(
            "--workspace-id", type=int, default=None, help="Needed when there are several."
        ),
        click.option(
            "--process",
            type=click.Choice(["all", "only_new", "only_existing"]),
            default="all",
            show_default=True,
            help="Which people to touch.",
        ),
        click.option(
            "--format",
            "fmt",
            type=click.Choice(["csv", "jsonl"]),
            default=None,
            help="Default: jsonl for .jsonl/.ndjson files, else csv.",
        ),
        click.option(
            "--identifier",
            type=click.Choice(["id", "email"]),
            default="id",
            show_default=True,
            help="The column (or key) that names each person.",
        ),
        click.argument("path", type=click.Path(exists=True, dir_okay=False)),
        store_options,
    ):
        fn = option(fn)
    return fn


@import_group.command("people")
@_import_options
def import_people(**options: Any) -> None:
    """Identify one person per row: FILE.csv (one column per attribute) or FILE.jsonl."""
    _import_file("people", **options)


@import_group.command("events")
@_import_options
def import_events(**options: Any) -> None:
    """Track one event per row: FILE.csv (name, timestamp, event_id, data columns) or .jsonl."""
    _import_file("event", **options)


def _import_file(kind: str, *, path: str, fmt: str | None, **options: Any) -> None:
    from tidings.imports import console

    spec = console.spec_for(kind, path, fmt, options["identifier"], options["process"])
    _, db = _open(options["data_dir"], options["database_url"])
    try:
        with db.reader.connect() as conn:
            workspace_id = _one_workspace(conn, options["workspace_id"])
        console.import_file(db, workspace_id, spec, path)
    finally:
        db.dispose()
