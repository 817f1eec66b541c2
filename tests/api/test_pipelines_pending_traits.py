"""Pending traits over HTTP: an anonymous Pipelines identify, then a Track identify
that gives a person the anonymous id, applies the traits."""

from tests.api.test_pipelines import assert_ok, cdp
from tests.api.test_track_v1_operations import customer


def test_track_identify_with_the_anonymous_id_applies_pending_traits(api):
    traits = {"plan": "free", "ref": "ad"}
    assert_ok(cdp(api, "/v1/identify", {"anonymousId": "anon-pt", "traits": traits}))
    body = {"plan": "pro", "anonymous_id": "anon-pt"}
    assert_ok(api.track("PUT", "/api/v1/customers/pt-1", json=body))
    shown = customer(api, "pt-1")["attributes"]
    assert (shown["plan"], shown["ref"], shown["anonymous_id"]) == ("pro", "ad", "anon-pt")
