"""Bodies past the server-wide cap are refused in the error format of their surface."""

BIG = b'{"batch": [' + b" " * (5 * 1024 * 1024) + b"]}"


def test_oversize_v2_body_is_413_in_the_v2_format(api):
    response = api.track("POST", "/api/v2/batch", content=BIG)
    assert response.status_code == 413
    assert response.json()["errors"][0]["reason"] == "too_large"


def test_oversize_v1_body_is_413_in_the_meta_format(api):
    response = api.track("PUT", "/api/v1/customers/big", content=BIG)
    assert response.status_code == 413
    assert response.json() == {"meta": {"error": "request body too large"}}
    assert api.attributes("big").status_code == 404
