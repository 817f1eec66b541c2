"""`tidings emulate`: a throwaway Tidings for a test suite (docs/emulator.md).

It makes a temporary folder, a SQLite store in it (a copy of an empty store
the migrations made before, kept in `~/.cache/tidings`:
`db.migrate.fresh_sqlite`) with one workspace holding the keys given (or the
documented defaults), a certificate authority and a server certificate for
its https port, then serves the APIs and the control API (`/_emulator/...`)
on loopback until stopped, and removes the folder. When
it answers, it prints one JSON line on standard output with its URLs, the CA
file and the keys, for a test harness to read; what people read goes to
standard error.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from tidings.cli.log_options import log_level_option

if TYPE_CHECKING:
    from tidings.workspaces.apply import Document

# The keys when none are given: fixed, so a test suite can hard-code them.
SITE_ID = "tidings-emulator"
TRACK_API_KEY = "emulator-track-key"
APP_API_KEY = "emulator-app-key"
CDP_WRITE_KEY = "emulator-cdp-write-key"
PORT, TLS_PORT = 4010, 4011
# User-supplied URLs (reporting webhooks, webhook actions, collections, imports) may
# be on this machine: a test's own servers are.
LOOPBACK = "127.0.0.0/8,::1/128,localhost"


F = TypeVar("F", bound=Callable[..., Any])  # a command function, as click decorates it


def _port(name: str, default: int, help_text: str) -> Callable[[F], F]:
    return click.option(
        f"--{name.replace('_', '-')}",
        envvar=f"TIDINGS_{name.upper()}",
        show_envvar=True,
        type=click.IntRange(0, 65535),
        default=default,
        show_default=True,
        help=help_text,
    )


def _key(name: str, default: str, help_text: str) -> Callable[[F], F]:
    return click.option(
        f"--{name.replace('_', '-')}",
        envvar=f"TIDINGS_{name.upper()}",
        show_envvar=True,
        default=default,
        show_default=True,
        help=help_text,
    )


@click.command()
@_port("port", PORT, "Plain http port on 127.0.0.1 (0: any free port; the JSON line says which).")
@_port("tls_port", TLS_PORT, "https port on 127.0.0.1, with a certificate made at start.")
@_key("site_id", SITE_ID, "The workspace's Track site id.")
@_key("track_api_key", TRACK_API_KEY, "The workspace's Track API key.")
@_key("app_api_key", APP_API_KEY, "The workspace's App API key (also the control API's).")
@_key("cdp_write_key", CDP_WRITE_KEY, "The workspace's Pipelines write key.")
@click.option(
    "--apply",
    "apply_path",
    envvar="TIDINGS_APPLY",
    show_envvar=True,
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="A workspace file (as `tidings apply -f` takes) to set the workspace up with: "
    "templates, segments, campaigns. A reset keeps what it made unless told otherwise.",
)
@log_level_option("warning")
def emulate(
    port: int,
    tls_port: int,
    site_id: str,
    track_api_key: str,
    app_api_key: str,
    cdp_write_key: str,
    apply_path: str | None,
    log_level: str,
) -> None:
    """Run a throwaway Tidings for tests: a temporary store, fixed keys, every message
    captured, and the control API (/_emulator/reset, outbox, clock, drain)."""
    from tidings.cli import _listen
    from tidings.cli.apply import read_file

    started = time.monotonic()
    # Until the server takes SIGTERM over, it ends the start here, and the folder goes.
    signal.signal(signal.SIGTERM, _stop_starting)
    desired = read_file(apply_path) if apply_path else None
    host = "127.0.0.1"
    sockets = _listen(host, [port, tls_port])
    port, tls_port = (sock.getsockname()[1] for sock in sockets)
    folder = Path(tempfile.mkdtemp(prefix="tidings-emulator-"))
    try:
        keys = _store(folder, site_id, track_api_key, app_api_key, cdp_write_key, desired)
        _run(folder, host, port, tls_port, sockets, keys, log_level, started)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _cache() -> Path:
    """Where an empty store made by the migrations is kept for the next start."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tidings"


def _stop_starting(_signal: int, _frame: object) -> None:
    raise SystemExit(143)


def _store(
    folder: Path, site_id: str, track: str, app: str, cdp: str, desired: Document | None
) -> dict[str, Any]:
    """The store, with its one workspace, the keys and what `desired` declares; the keys
    as printed."""
    from tidings.db import migrate
    from tidings.db.engine import open_database
    from tidings.errors import ApiError
    from tidings.workspaces import apply
    from tidings.workspaces import service as workspaces

    path = folder / "tidings.sqlite3"
    migrate.fresh_sqlite(path, _cache())
    db = open_database(f"sqlite:///{path}", pool_size=2)
    now = int(time.time())
    try:
        with db.writer.begin() as conn:
            creds = workspaces.create_workspace(
                conn,
                "Emulator",
                now,
                site_id=site_id,
                track_api_key=track,
                app_api_key=app,
                cdp_write_key=cdp,
            )
            if desired is not None:
                ws = creds.workspace_id
                apply.apply_plan(conn, ws, apply.plan(desired, apply.current(conn, ws)), now)
    except ApiError as exc:
        raise click.ClickException(f"--apply: {exc.message}") from exc
    finally:
        db.dispose()
    return creds.public()


def _run(
    folder: Path,
    host: str,
    port: int,
    tls_port: int,
    sockets: list[Any],
    keys: dict[str, Any],
    log_level: str,
    started: float,
) -> None:
    from tidings.clock import OffsetClock, install
    from tidings.config import Settings
    from tidings.emulator import certificates
    from tidings.ops.logging import configure
    from tidings.server import serve

    files = certificates.make(folder)
    configure(log_level.upper())
    settings = Settings(
        database_url=f"sqlite:///{folder / 'tidings.sqlite3'}",
        host=host,
        port=port,
        tls_port=tls_port,
        ssl_certfile=str(files.certificate),
        ssl_keyfile=str(files.key),
        access_log=log_level.lower() in ("debug", "info"),
        public_url=f"http://{host}:{port}",
        fetch_allowlist=LOOPBACK,
        housekeeping_every=None,  # nothing is pruned as the clock moves
        writer_process=False,
        emulator=True,
        asset_dir=str(folder / "assets"),
    )
    clock = OffsetClock()
    install(clock)
    ready = {
        "url": f"http://{host}:{port}",
        "https_url": f"https://{host}:{tls_port}",
        "ca_file": str(files.ca),
        **{name: value for name, value in keys.items() if name != "name"},
    }

    def announce() -> None:
        click.echo(json.dumps(ready), nl=True)
        seconds = time.monotonic() - started
        click.echo(
            f"tidings: emulating on {ready['url']} and {ready['https_url']} "
            f"(CA {files.ca}), ready in {seconds:.2f} s",
            err=True,
        )

    with contextlib.suppress(KeyboardInterrupt):
        serve(settings, 1, sockets, clock=clock, on_ready=announce)
