"""Identifiers: classified by shape, emails compared case-insensitively, limits enforced."""

import pytest

from tidings.errors import ApiError
from tidings.people.identifiers import Identifier, check_id, classify, coerce_id, of_type, one_of


@pytest.mark.parametrize(
    ("raw", "kind", "value"),
    [
        ("u1", "id", "u1"),
        ("a@example.com", "email", "a@example.com"),
        ("A+b@Example.COM", "email", "A+b@Example.COM"),
        ("cio_a3000001", "cio_id", "a3000001"),
        ("+15555550100", "id", "+15555550100"),  # a phone number is an id
        ("u 1/é", "id", "u 1/é"),
        ("cio", "id", "cio"),
        ("xcio_1", "id", "xcio_1"),
        ("cio_x@example.com", "email", "cio_x@example.com"),  # @ wins over the prefix
        ("42", "id", "42"),
    ],
)
def test_classify_by_shape(raw, kind, value):
    assert classify(raw) == Identifier(kind, value)


def test_email_key_is_lower_cased_and_other_kinds_are_not():
    assert Identifier("email", "Person@Example.com").key == "person@example.com"
    assert Identifier("id", "User-1").key == "User-1"
    assert Identifier("cio_id", "ABC").key == "ABC"


def test_of_type_strips_the_cio_prefix_and_accepts_numbers():
    assert of_type("cio_id", "cio_abc") == Identifier("cio_id", "abc")
    assert of_type("cio_id", "abc") == Identifier("cio_id", "abc")
    assert of_type("id", 42) == Identifier("id", "42")
    assert of_type("email", "a@b.c") == Identifier("email", "a@b.c")


@pytest.mark.parametrize("kind", ["phone", "", "ID", "anonymous_id"])
def test_of_type_refuses_unknown_kinds(kind):
    with pytest.raises(ApiError) as caught:
        of_type(kind, "x")
    assert caught.value.status == 400


@pytest.mark.parametrize("raw", [None, True, False, 1.5, [], {}, ""])
def test_coerce_id_refuses_non_string_values(raw):
    with pytest.raises(ApiError) as caught:
        coerce_id(raw)
    assert caught.value.status == 400


def test_id_limit_is_150_bytes_not_characters():
    check_id("x" * 150)
    check_id("é" * 75)  # 150 bytes
    for too_long in ("x" * 151, "é" * 76):
        with pytest.raises(ApiError) as caught:
            check_id(too_long)
        assert caught.value.status == 400
        assert "150 bytes" in caught.value.message


def test_empty_id_message_is_customerio_s():
    with pytest.raises(ApiError) as caught:
        check_id("", "id")
    assert caught.value.message == "id attribute cannot be an empty string"


def test_one_of_takes_exactly_one_pair():
    assert one_of({"email": "A@b.c"}) == Identifier("email", "A@b.c")
    assert one_of({"cio_id": "cio_x"}) == Identifier("cio_id", "x")
    for bad in ({}, {"id": "1", "email": "a@b.c"}, None, ["id", "1"], "u1"):
        with pytest.raises(ApiError) as caught:
            one_of(bad, "primary")
        assert caught.value.status == 400
