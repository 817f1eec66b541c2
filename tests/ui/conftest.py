"""A real `tidings serve` per backend, Debian's Chromium driven by Playwright, and users
made with the CLI.

Playwright's own browser download is not reachable from these machines, so the
tests drive the system's Chromium (`executable_path`); they are skipped, saying
so, only when it is not installed (`apt-get install chromium`; `.ci/run` does).
"""

from __future__ import annotations

import json
import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import fresh_database, new_workspace
from tests.support import CLI, free_port, run_cli, wait_healthy
from tidings.db.engine import Database, open_database
from tidings.db.migrate import upgrade
from tidings.workspaces.service import Credentials

CHROMIUM = Path("/usr/bin/chromium")


@dataclass(frozen=True)
class UiServer:
    url: str
    database_url: str


@pytest.fixture(scope="session")
def ui_db(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A database of the UI tests' own, on the session's backend: the server below runs
    housekeeping on the real clock, which would prune rows other tests wrote with
    clocks of their own in the shared one."""
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    with fresh_database(backend, tmp_path_factory.mktemp("ui-db")) as url:
        database = open_database(url)
        upgrade(database)
        yield database
        database.dispose()


@pytest.fixture(scope="session")
def ui_server(ui_db: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    """`tidings serve` as a user starts it, on the UI tests' database."""
    database_url = ui_db.url
    port = free_port()
    log = tmp_path_factory.mktemp("ui-server") / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*CLI, "serve", "--database-url", database_url, "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_healthy(port)
        yield UiServer(f"http://127.0.0.1:{port}", database_url)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


@dataclass(frozen=True)
class User:
    user_id: int
    email: str
    password: str
    workspace_id: int


def create_user(server: UiServer, workspace_id: int, role: str, email: str = "") -> User:
    """`tidings user create`, with the password it generates and prints once."""
    email = email or f"{role}-{uuid.uuid4().hex[:8]}@example.test"
    store = ["--database-url", server.database_url, "--workspace-id", str(workspace_id)]
    made = json.loads(run_cli("user", "create", *store, "--email", email, "--role", role))
    return User(made["user_id"], made["email"], made["password"], workspace_id)


@pytest.fixture
def ws(ui_db: Database) -> Credentials:
    """A workspace of the test's own, with its keys."""
    return new_workspace(ui_db, "ui")


@pytest.fixture
def ui_query(ui_db: Database) -> Callable[..., Any]:
    """Run a read `fn(conn, *args)` on the server's database."""

    def run(fn: Callable[..., Any], *args: Any) -> Any:
        with ui_db.reader.connect() as conn, conn.begin():
            return fn(conn, *args)

    return run


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium, for one module at a time: Playwright's sync API runs an event loop
    on the main thread while it is open, and the tests that follow the UI tests in
    the session call `asyncio.run` (or `uvloop.run`), which refuses to start beside
    a running loop."""
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: `apt-get install chromium` to run the UI tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, ui_server: UiServer) -> Iterator[Any]:
    """A fresh browser context (no cookies) and a page in it."""
    context = browser.new_context(base_url=ui_server.url)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def log_in(page: Any, user: User, password: str | None = None) -> Any:
    """Fill the login form as a person does; the response to the form's POST."""
    page.goto("/login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(user.password if password is None else password)
    with page.expect_response(
        lambda r: r.url.endswith("/login") and r.request.method == "POST"
    ) as posted:
        page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    return posted.value


def settled(page: Any) -> None:
    """Wait until htmx has finished swapping the segment builder in (its new inputs
    are live)."""
    page.wait_for_function(
        "() => !document.querySelector('#builder.htmx-added, #builder .htmx-added,"
        " #builder.htmx-settling, #builder.htmx-swapping')"
    )
