"""Identifiers in paths: percent-encoded, routed on the raw path (BEHAVIOUR.md rule 9, 2.3).

Python and Node escape everything (`quote(safe="")`, `encodeURIComponent`); Go's
`url.PathEscape` leaves `@`, `+` and `:` literal. `%2F` must stay inside its
segment, and `+` is never a space in a path.
"""

from urllib.parse import quote

import pytest

from tests.api.test_track_v1_operations import assert_ok


def path_of(ident):
    return "/api/v1/customers/" + quote(ident, safe="")


@pytest.mark.parametrize(
    "ident",
    ["u 1/é", "a/b/c", "名前", "100%", "a?b#c", "tab\there", "emoji-🎉", "x+y", "%41", "a;b=c"],
)
def test_ids_round_trip_through_percent_encoding(api, ident):
    assert_ok(api.track("PUT", path_of(ident), json={"plan": "pro"}))
    shown = api.attributes(ident).json()["customer"]
    assert shown["id"] == ident
    assert shown["attributes"]["plan"] == "pro"


def test_an_escaped_slash_does_not_change_the_route(api):
    assert_ok(api.track("PUT", "/api/v1/customers/u%2Fevents", json={"a": 1}))
    assert_ok(api.track("POST", "/api/v1/customers/a%2Fb/events", json={"name": "e"}))
    assert api.attributes("u/events").json()["customer"]["attributes"]["a"] == "1"
    assert api.attributes("a/b").status_code == 200
    assert api.attributes("u").status_code == 404
    assert api.attributes("a").status_code == 404


@pytest.mark.parametrize(
    "spelling",
    ["a%2Bb%40example.com", "a+b@example.com", "a+b%40example.com", "A%2BB@Example.com"],
)
def test_go_style_literal_at_and_plus_name_the_same_email(api, spelling):
    assert_ok(api.track("PUT", "/api/v1/customers/a%2Bb%40example.com", json={"n": 1}))
    assert_ok(api.track("PUT", "/api/v1/customers/" + spelling, json={"seen": spelling}))
    shown = api.attributes("a+b@example.com", "email").json()["customer"]
    assert shown["attributes"]["seen"] == spelling
    assert shown["attributes"]["n"] == "1"
    assert api.attributes("a b@example.com", "email").status_code == 404


def test_plus_is_not_a_space_in_an_id(api):
    assert_ok(api.track("PUT", "/api/v1/customers/x+y", json={}))
    assert api.attributes("x+y").status_code == 200
    assert api.attributes("x y").status_code == 404


def test_cio_prefixed_path_addresses_the_person_by_cio_id(api):
    assert_ok(api.track("PUT", path_of("u1"), json={}))
    cio_id = api.attributes("u1").json()["customer"]["identifiers"]["cio_id"]
    assert_ok(api.track("PUT", path_of(f"cio_{cio_id}"), json={"via": "cio"}))
    assert api.attributes("u1").json()["customer"]["attributes"]["via"] == "cio"


def test_a_device_token_with_a_slash(api):
    device = {"device": {"id": "tok/1 é", "platform": "ios"}}
    assert_ok(api.track("PUT", path_of("u/1") + "/devices", json=device))
    assert [d["id"] for d in api.attributes("u/1").json()["customer"]["devices"]] == ["tok/1 é"]
    assert_ok(api.track("DELETE", path_of("u/1") + "/devices/" + quote("tok/1 é", safe="")))
    assert api.attributes("u/1").json()["customer"]["devices"] == []


def test_invalid_utf8_in_a_path_is_a_400(api):
    response = api.track("PUT", "/api/v1/customers/%FF%FE", json={})
    assert response.status_code == 400
    assert isinstance(response.json()["meta"]["error"], str)


def test_an_empty_identifier_matches_no_route(api):
    assert api.track("PUT", "/api/v1/customers/", json={}).status_code == 404


def test_unknown_paths_are_404_and_wrong_methods_405(api):
    assert api.track("GET", "/api/v1/nothing-here").status_code == 404
    response = api.track("GET", "/api/v1/customers/u1")
    assert response.status_code == 405
    assert response.json() == {"meta": {"error": "method not allowed"}}


def test_an_email_beginning_with_cio_is_an_email_not_a_cio_id(api):
    """BEHAVIOUR.md rule 10: `@` decides first, so `cio_x@example.com` is an email."""
    assert_ok(api.track("PUT", path_of("cio_x@example.com"), json={"plan": "pro"}))
    assert_ok(api.track("POST", path_of("cio_x@example.com") + "/events", json={"name": "e"}))
    shown = api.attributes("cio_x@example.com", "email").json()["customer"]
    assert shown["identifiers"]["email"] == "cio_x@example.com"
    assert shown["identifiers"]["cio_id"] != "x@example.com"
    assert shown["attributes"]["plan"] == "pro"
    found = api.app("GET", "/v1/customers", params={"email": "cio_x@example.com"}).json()
    assert [r["email"] for r in found["results"]] == ["cio_x@example.com"]


def test_a_cio_prefix_without_at_names_a_cio_id_and_creates_nobody(api):
    assert_ok(api.track("PUT", path_of("cio_nobody"), json={"plan": "pro"}))
    assert api.attributes("cio_nobody").status_code == 404
    assert api.attributes("nobody", "cio_id").status_code == 404
    search = {"filter": {"attribute": {"field": "plan", "operator": "exists"}}}
    assert api.app("POST", "/v1/customers", json=search).json()["ids"] == []
