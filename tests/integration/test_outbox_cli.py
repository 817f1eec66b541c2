"""`tidings outbox`: what the capture adapter kept, listed from the CLI, on each store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from tests.conftest import BACKENDS, fresh_database, new_workspace
from tests.support import run_cli
from tidings.clock import FixedClock
from tidings.db.engine import Database, open_database
from tidings.db.migrate import upgrade
from tidings.sending import request as send_request
from tidings.sending.deliverer import DeliveryWorker
from tidings.sending.transactional import new_delivery_id, send_transactional

NOW = 1_800_000_000


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Database]]:
    with fresh_database(request.param, tmp_path) as url:
        db = open_database(url)
        upgrade(db)
        yield url, db
        db.dispose()


def capture(db: Database, workspace_id: int, subject: str) -> str:
    body = {
        "identifiers": {"id": "p1"},
        "to": "p1@example.com",
        "from": "shop@example.net",
        "subject": subject,
        "body": "<p>hi</p>",
    }
    delivery_id = new_delivery_id()
    with db.writer.begin() as conn:
        request = send_request.parse("email", body, NOW)
        send_transactional(conn, workspace_id, request, delivery_id, "https://t.test", NOW)
    DeliveryWorker(db, FixedClock(NOW)).run_once()
    return delivery_id


def test_outbox_lists_captured_messages_newest_first(store) -> None:
    url, db = store
    first, second = new_workspace(db, "one").workspace_id, new_workspace(db, "two").workspace_id
    older = capture(db, first, "older")
    newer = capture(db, second, "newer")

    lines = run_cli("outbox", "--database-url", url, "--json").splitlines()
    shown = [msgspec.json.decode(line) for line in lines]
    assert [(m["delivery_id"], m["workspace_id"], m["subject"]) for m in shown] == [
        (newer, second, "newer"),
        (older, first, "older"),
    ]
    assert shown[0]["recipient"] == "p1@example.com" and shown[0]["channel"] == "email"

    [line] = run_cli("outbox", "--database-url", url, "--workspace-id", str(first)).splitlines()
    assert older in line and "p1@example.com" in line and line.endswith("  older")
    assert len(run_cli("outbox", "--database-url", url, "--limit", "1").splitlines()) == 1
    assert run_cli("outbox", "--database-url", url, "--workspace-id", "999999") == ""
