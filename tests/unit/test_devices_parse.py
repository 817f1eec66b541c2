"""Device bodies as each official client sends them (BEHAVIOUR.md section 3.5)."""

import pytest

from tidings.errors import ApiError
from tidings.people.devices import Device, parse_device


def test_python_and_ruby_send_attributes_flat():
    body = {"last_used": 1700000000, "app_version": "1.2", "id": "tok1", "platform": "ios"}
    assert parse_device(body, token_key="id") == Device(
        "tok1", "ios", 1700000000, {"app_version": "1.2"}
    )


def test_node_nests_attributes():
    body = {"id": "tok1", "platform": "android", "attributes": {"device_os": "14"}}
    assert parse_device(body, token_key="id") == Device(
        "tok1", "android", None, {"device_os": "14"}
    )


def test_go_sends_last_used_as_a_string_and_null_attributes():
    body = {"id": "tok1", "platform": "ios", "last_used": "1700000000", "attributes": None}
    assert parse_device(body, token_key="id") == Device("tok1", "ios", 1700000000, {})


def test_flat_and_nested_attributes_merge_nested_winning():
    body = {"id": "t", "platform": "ios", "a": "flat", "b": "flat", "attributes": {"b": "nested"}}
    assert parse_device(body, token_key="id").attributes == {"a": "flat", "b": "nested"}


def test_attribute_values_are_stored_as_strings_and_nulls_dropped():
    body = {"id": "t", "platform": "ios", "attributes": {"push_enabled": True, "n": 3, "x": None}}
    assert parse_device(body, token_key="id").attributes == {"push_enabled": "true", "n": "3"}


@pytest.mark.parametrize("last_used", [None, ""])
def test_missing_last_used_is_left_for_the_server_to_fill(last_used):
    body = {"id": "t", "platform": "ios", "last_used": last_used}
    assert parse_device(body, token_key="id").last_used is None


def test_float_last_used_is_truncated():
    assert (
        parse_device({"id": "t", "platform": "ios", "last_used": 5.7}, token_key="id").last_used
        == 5
    )


def test_v1_accepts_token_and_v2_accepts_id_as_fallbacks():
    assert parse_device({"token": "t", "platform": "ios"}, token_key="id").token == "t"
    assert parse_device({"id": "t", "platform": "ios"}, token_key="token").token == "t"


@pytest.mark.parametrize("token_key", ["id", "token"])
@pytest.mark.parametrize("token", [123, 1.5, True, ["t"], {"a": 1}])
def test_a_token_that_is_not_a_string_is_refused(token_key, token):
    """Both Track schemas type the token as a string; no official client sends a number."""
    with pytest.raises(ApiError) as caught:
        parse_device({token_key: token, "platform": "ios"}, token_key=token_key)
    assert caught.value.errors == [f"device.{token_key} must be a string"]


def test_platform_may_be_optional_for_callers_that_say_so():
    assert parse_device({"token": "t"}, token_key="token", require_platform=False).platform == ""


@pytest.mark.parametrize("body", [None, "tok", [], 5])
def test_device_must_be_an_object(body):
    with pytest.raises(ApiError) as caught:
        parse_device(body, token_key="id")
    assert caught.value.status == 400
    assert caught.value.errors == ["device must be an object"]


def test_every_problem_is_reported_together():
    body = {"platform": "windows", "last_used": "yesterday", "attributes": "x"}
    with pytest.raises(ApiError) as caught:
        parse_device(body, token_key="id")
    assert caught.value.status == 400
    assert caught.value.errors == [
        "device.id is required",
        "device.platform must be one of: ios, android",
        "device.last_used must be a unix timestamp",
        "device.attributes must be an object",
    ]


@pytest.mark.parametrize("token", ["", None])
def test_token_is_required(token):
    with pytest.raises(ApiError, match="device.id is required"):
        parse_device({"id": token, "platform": "ios"}, token_key="id")


@pytest.mark.parametrize(
    "last_used", [True, "12abc", [1], {"t": 1}, "²", 2**63, str(2**63), float("inf"), -(2**63) - 1]
)
def test_last_used_must_be_a_timestamp(last_used):
    with pytest.raises(ApiError, match="last_used"):
        parse_device({"id": "t", "platform": "ios", "last_used": last_used}, token_key="id")


def test_a_token_fits_the_column():
    assert parse_device({"id": "t" * 255, "platform": "ios"}, token_key="id").token == "t" * 255
    with pytest.raises(ApiError) as caught:
        parse_device({"id": "é" * 128, "platform": "ios"}, token_key="id")
    assert caught.value.errors == ["device.id cannot be longer than 255 bytes"]
