"""The UI's CSRF checks, cookie and post-login redirect, pure."""

import pytest

from tidings.ui import security


def _headers(**values):
    named = {k.replace("_", "-"): v for k, v in values.items()}
    return named.get


@pytest.mark.parametrize(
    ("headers", "refused"),
    [
        ({"sec_fetch_site": "same-origin", "origin": "http://ui.test", "host": "ui.test"}, False),
        ({"sec_fetch_site": "cross-site", "origin": "http://evil.test", "host": "ui.test"}, True),
        ({"sec_fetch_site": "same-site", "host": "ui.test"}, True),
        ({"sec_fetch_site": "none", "host": "ui.test"}, True),
        ({"origin": "http://ui.test", "host": "ui.test"}, False),  # no Sec-Fetch-Site: Origin
        ({"origin": "http://evil.test", "host": "ui.test"}, True),
        ({"origin": "https://ui.test", "host": "ui.test"}, True),  # another scheme
        ({"origin": "null", "host": "ui.test"}, True),
        ({"host": "ui.test"}, False),  # no browser headers at all: the token decides
        ({"origin": "https://tidings.example", "host": "10.0.0.5:8080"}, False),  # public URL
    ],
)
def test_origin_check(headers, refused):
    reason = security.origin_refusal(_headers(**headers), "http", ["https://tidings.example/"])
    assert (reason is not None) is refused


def test_the_token_must_be_the_sessions():
    assert security.token_matches("abc", "abc")
    assert not security.token_matches("abd", "abc")
    assert not security.token_matches(None, "abc")
    assert not security.token_matches("", "")


def test_the_session_cookie_is_httponly_lax_and_secure_over_tls():
    plain = security.session_cookie("v", secure=False, max_age=60).decode()
    assert plain == "tidings_session=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=60"
    assert security.session_cookie("v", secure=True, max_age=60).decode().endswith("; Secure")
    assert "Max-Age=0" in security.cleared_cookie(secure=False).decode()


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/people?q=a", "/people?q=a"),
        (None, "/"),
        ("", "/"),
        ("https://evil.test/", "/"),
        ("//evil.test/", "/"),
        ("/\\evil.test", "/"),
        ("/people\r\nSet-Cookie: x", "/"),
    ],
)
def test_after_login_only_paths_of_this_server(target, expected):
    assert security.safe_next(target) == expected
