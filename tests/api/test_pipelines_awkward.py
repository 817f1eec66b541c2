"""Awkward JSON in any Pipelines field is a 200 (kept, or recorded as rejected) or a 4xx.

Without strict mode every such message is answered 200 (the refused ones are
recorded, which tests/api/test_pipelines.py checks).
"""

import pytest

from tests.api.test_pipelines import STRICT, cdp, rejections

AWKWARD = [
    None,
    True,
    0,
    -1,
    2**63,
    -(2**70),
    1.5e308,
    "",
    " ",
    "x" * 300,
    "é/%2F\u2028",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+23:59",
    [],
    [None, {"a": []}],
    {},
    {"nested": {"deeper": [1, "two", None]}},
]

BASES = {
    "track": {"userId": "u1", "event": "e", "properties": {"a": 1}},
    "identify": {"userId": "u1", "anonymousId": "an1", "traits": {"a": 1}},
    "page": {"anonymousId": "an1", "name": "p", "properties": {"url": "https://x.test"}},
    "group": {"userId": "u1", "groupId": "g1", "traits": {"object_type_id": "1"}},
    "alias": {"userId": "u1", "previousId": "p1"},
}
FIELDS = [
    "userId",
    "anonymousId",
    "messageId",
    "timestamp",
    "sentAt",
    "originalTimestamp",
    "context",
    "integrations",
    "event",
    "name",
    "properties",
    "traits",
    "groupId",
    "previousId",
    "type",
]


@pytest.mark.parametrize("kind", sorted(BASES))
def test_awkward_values_never_cause_a_5xx(api, kind):
    sent = 0
    for field in FIELDS:
        for value in AWKWARD:
            body = {**BASES[kind], field: value}
            for headers in ({}, STRICT):
                response = cdp(api, f"/v1/{kind}", body, headers=headers)
                assert response.status_code < 500, (field, value, response.text)
                assert set(response.json()) <= {"code", "message"}
            sent += 1
    semantic = [
        {"event": "Device Created or Updated", "context": {"device": value}} for value in AWKWARD
    ] + [{"event": "Relationship Deleted", "properties": {"objectId": v}} for v in AWKWARD]
    for extra in semantic:
        response = cdp(api, "/v1/track", {"userId": "u1", **extra})
        assert response.status_code == 200, response.text
    assert sent == len(FIELDS) * len(AWKWARD)


def test_skew_correction_out_of_range_is_refused_not_a_5xx(api):
    body = {
        "userId": "u1",
        "event": "e",
        "originalTimestamp": -(2**63) + 10,  # each storable, their difference is not
        "sentAt": 2**63 - 10,
    }
    assert cdp(api, "/v1/track", body).status_code == 200
    assert cdp(api, "/v1/track", body, headers=STRICT).status_code == 400
    assert [r["reason"] for r in rejections(api)] == ["invalid_request"]


def test_nul_characters_are_refused(api):
    body = b'{"userId": "u1", "event": "e\\u0000"}'
    response = cdp(api, "/v1/track", content=body)
    assert response.status_code == 200
    assert cdp(api, "/v1/track", content=body, headers=STRICT).status_code == 400
    [rejection] = rejections(api)
    assert "\x00" not in rejection["snippet"]
