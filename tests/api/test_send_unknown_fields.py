"""A send field the channel does not read is ignored, as Customer.io does, but named:
in the `X-Tidings-Unknown-Fields` header and in one warning line of the log."""

import logging

import pytest

from tests.api.test_send import captured, inline


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def send_log():
    """The lines of the send logger (attached to it: the server may stop propagation)."""
    handler, logger = Lines(), logging.getLogger("tidings.send")
    logger.addHandler(handler)
    yield handler.lines
    logger.removeHandler(handler)


def test_a_misspelt_field_is_named_in_a_header_and_logged(api, send_log):
    body = inline(mesage_data={"name": "Bo"})
    del body["message_data"]
    response = api.app("POST", "/v1/send/email", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["x-tidings-unknown-fields"] == "mesage_data"
    assert send_log == ["POST /v1/send/email ignored unknown fields: mesage_data"]
    assert captured(api, response.json()["delivery_id"])["subject"] == "Hi "  # no trigger.name


@pytest.mark.parametrize("route", ["push", "sms"])
def test_push_and_sms_name_theirs_even_when_refused(api, route):
    body = {"identifiers": {"id": "u1"}, "transactional_mesage_id": 3}
    response = api.app("POST", f"/v1/send/{route}", json=body)
    assert response.status_code == 400
    assert response.json() == {"meta": {"error": "transactional_message_id is required"}}
    assert response.headers["x-tidings-unknown-fields"] == "transactional_mesage_id"


def test_a_clean_send_has_no_header(api, send_log):
    response = api.app("POST", "/v1/send/email", json=inline(fake_bcc=False))
    assert response.status_code == 200
    assert "x-tidings-unknown-fields" not in response.headers
    assert send_log == []


def test_hostile_field_names_cannot_forge_a_header(api):
    body = inline(**{"a\r\nX-Forged: 1": 1, **{f"f{n:02}": n for n in range(25)}})
    response = api.app("POST", "/v1/send/email", json=body)
    assert response.status_code == 200, response.text
    assert "x-forged" not in response.headers
    shown = response.headers["x-tidings-unknown-fields"]
    assert shown.startswith("a%0D%0AX-Forged%3A%201, f00, f01,")
    assert shown.endswith(", and 6 more")
