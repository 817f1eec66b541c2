"""Errors a new user meets first say what was sent and what was expected."""

import pytest

from tests.api.test_send import inline

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_an_invalid_to_is_quoted_whole_with_the_reason(api):
    response = api.app("POST", "/v1/send/email", json=inline(to="not an email"))
    assert response.status_code == 400
    assert response.json()["meta"]["error"] == (
        'to holds an invalid email address: "not an email" (an address needs an @;'
        ' write name@example.com or "Name <name@example.com>")'
    )


@pytest.mark.parametrize(
    ("surface", "method", "path"),
    [
        ("app", "POST", "/v1/send/email"),
        ("app", "POST", "/v1/segments"),
        ("track", "PUT", "/api/v1/customers/f1"),
        ("track", "POST", "/api/v1/customers/f1/events"),
    ],
)
def test_a_form_body_is_told_to_be_json(api, surface, method, path):
    send = api.app if surface == "app" else api.track
    response = send(method, path, content=b"name=x&to=a%40b.co", headers=FORM)
    assert response.status_code == 400
    assert response.json()["meta"]["error"] == (
        "the request body must be JSON (Content-Type: application/json);"
        " this one was sent as application/x-www-form-urlencoded"
    )


def test_json_under_another_content_type_is_still_read(api):
    headers = {"Content-Type": "text/plain"}
    assert api.track("PUT", "/api/v1/customers/f2", content=b'{"a":1}', headers=headers).is_success
    assert api.attributes("f2").status_code == 200


def test_malformed_json_still_says_so(api):
    response = api.track("PUT", "/api/v1/customers/f3", content=b'{"a":', headers={})
    assert response.status_code == 400
    assert response.json()["meta"]["error"].startswith("malformed JSON: ")
