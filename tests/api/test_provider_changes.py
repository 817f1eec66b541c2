"""A provider change made with `tidings apply` (another process) reaches the running
server's delivery worker (a process of its own) with the next send, not after a cache
runs out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.smtp import FakeSmtp
from tests.support import eventually, run_cli
from tidings.paging import PageRequest
from tidings.providers import outbox

# Well under the 30 s the worker used to keep a provider, and ample for one send.
NEXT_SEND = 15


@pytest.fixture
def smtp_server() -> Iterator[FakeSmtp]:
    with FakeSmtp.running() as fake:
        yield fake


def send(api: Any, subject: str) -> None:
    body = {
        "to": "ann@example.com",
        "from": "shop@example.net",
        "subject": subject,
        "body": "<p>hi</p>",
        "identifiers": {"id": "provider-change"},
    }
    assert api.app("POST", "/v1/send/email", json=body).status_code == 200


def test_an_applied_provider_is_used_by_the_next_send(
    api, query, database_url: str, smtp_server: FakeSmtp, tmp_path: Path
) -> None:
    ws = api.creds.workspace_id

    def captured() -> list[str]:
        return [m["subject"] for m in query(outbox.list_captured, ws, PageRequest(10))["messages"]]

    send(api, "before")  # the worker now holds the capture adapter for this channel
    eventually(lambda: captured() == ["before"], timeout=NEXT_SEND)

    plan = tmp_path / "providers.yaml"
    plan.write_text(
        "providers:\n"
        f"  - {{channel: email, kind: smtp, config: {{host: {smtp_server.host},"
        f" port: {smtp_server.port}, security: none}}}}\n"
    )
    args = ["apply", "-f", str(plan), "--database-url", database_url, "--workspace-id", str(ws)]
    assert run_cli(*args).splitlines() == ['create provider "email"']

    send(api, "after")
    [mail] = smtp_server.wait_for(1, timeout=NEXT_SEND)
    assert mail.message["Subject"] == "after"
    assert captured() == ["before"]
