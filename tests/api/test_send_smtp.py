"""End to end: the official Python client's `send_email`, the delivery worker, the SMTP
adapter, and a real SMTP server (tests/fakes/smtp.py) that receives and parses the mail."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from customerio import APIClient, SendEmailRequest
from sqlalchemy import select

from tests.fakes.smtp import FakeSmtp
from tests.support import eventually
from tidings.db.schema import deliveries, providers


@pytest.fixture
def smtp_server() -> Iterator[FakeSmtp]:
    with FakeSmtp.running(credentials=("mailer", "pw")) as fake:
        yield fake


@pytest.fixture
def py_api(api: Any, server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[APIClient]:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_path)
    client = APIClient(api.creds.app_api_key, url=server.url)
    yield client
    client.http.close()


def use_smtp(db: Any, workspace_id: int, smtp: FakeSmtp) -> None:
    config = {
        "host": smtp.host,
        "port": smtp.port,
        "security": "none",
        "username": "mailer",
        "password": "pw",
    }
    row = {"kind": "smtp", "config": msgspec.json.encode(config).decode(), "updated_at": 0}
    with db.writer.begin() as conn:
        conn.execute(providers.insert().values(workspace_id=workspace_id, channel="email", **row))


def delivery(conn: Any, delivery_id: str) -> tuple[str, str | None]:
    query = select(deliveries.c.state, deliveries.c.provider_message_id)
    return tuple(conn.execute(query.where(deliveries.c.id == delivery_id)).one())


def test_send_email_arrives_over_smtp(py_api, api, db, query, smtp_server: FakeSmtp) -> None:
    use_smtp(db, api.creds.workspace_id, smtp_server)
    request = SendEmailRequest(
        to="Ann Example <ann@example.com>",
        cc="cy@example.com",
        bcc="audit@example.com",
        identifiers={"id": "smtp-1"},
        _from="Shop <shop@example.net>",
        reply_to="help@example.net",
        subject="Receipt {{ trigger.n }}",
        body="<p>Thanks for order {{ trigger.n }}</p>",
        message_data={"n": 42},
        headers={"X-Campaign": "spring"},
    )
    request.attach("receipt.csv", "sku,qty\nA1,2\n")
    answer = py_api.send_email(request)

    [mail] = smtp_server.wait_for(1, timeout=20)
    message = mail.message
    assert mail.authenticated and mail.mail_from == "shop@example.net"
    assert sorted(mail.rcpt_tos) == ["ann@example.com", "audit@example.com", "cy@example.com"]
    assert message["Message-ID"] == f"<{answer['delivery_id']}@example.net>"
    assert (message["From"], message["To"], message["Cc"]) == (
        "Shop <shop@example.net>",
        "Ann Example <ann@example.com>",
        "cy@example.com",
    )
    assert message["Subject"] == "Receipt 42" and message["X-Campaign"] == "spring"
    assert "Bcc" not in message and b"audit@example.com" not in mail.data
    assert "Thanks for order 42" in message.get_body(("html",)).get_content()
    assert "Thanks for order 42" in message.get_body(("plain",)).get_content()
    [attachment] = message.iter_attachments()
    assert attachment.get_filename() == "receipt.csv"
    assert attachment.get_payload(decode=True) == b"sku,qty\nA1,2\n"
    unsubscribe = message["List-Unsubscribe"]
    assert unsubscribe.startswith("<https://") and "/t/u/" in unsubscribe
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    def sent() -> tuple[str, str | None]:
        found = query(delivery, answer["delivery_id"])
        assert found[0] == "sent"
        return found

    assert eventually(sent, timeout=15) == ("sent", "FAKE1")


def test_a_refused_recipient_fails_the_delivery(
    py_api, api, db, query, smtp_server: FakeSmtp
) -> None:
    use_smtp(db, api.creds.workspace_id, smtp_server)
    smtp_server.refuse("nobody@example.com")
    answer = py_api.send_email(
        {
            "to": "nobody@example.com",
            "identifiers": {"id": "smtp-2"},
            "from": "shop@example.net",
            "subject": "s",
            "body": "<p>x</p>",
        }
    )
    eventually(lambda: query(delivery, answer["delivery_id"])[0] == "failed", timeout=15)
    assert smtp_server.received == []
