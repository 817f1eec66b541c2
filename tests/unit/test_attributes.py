"""Attribute values and identify bodies: rendering, removal, limits, control keys."""

import pytest

from tidings.attributes import (
    check_attribute,
    check_attributes,
    is_removal,
    is_truthy_flag,
    render,
    restore,
)
from tidings.errors import ApiError
from tidings.people.identifiers import Identifier
from tidings.people.service import parse_identify

NOW = 1_700_000_000


@pytest.mark.parametrize(
    ("value", "shown", "kind"),
    [
        ("pro", "pro", "s"),
        ("", "", "s"),
        (True, "true", "b"),
        (False, "false", "b"),
        (3, "3", "n"),
        (0, "0", "n"),
        (9.5, "9.5", "n"),
        ({"a": [1, "x"]}, '{"a":[1,"x"]}', "j"),
        ([1, 2], "[1,2]", "j"),
        ("é", "é", "s"),
    ],
)
def test_render_shows_strings_and_restore_gives_the_value_back(value, shown, kind):
    assert render(value) == (shown, kind)
    assert restore(shown, kind) == value


def test_a_number_looking_string_stays_a_string():
    assert restore(*render("3")) == "3"
    assert restore(*render("true")) == "true"


@pytest.mark.parametrize(
    ("value", "removes"), [(None, True), ("", True), (0, False), (False, False)]
)
def test_null_and_empty_string_remove(value, removes):
    assert is_removal(value) is removes


@pytest.mark.parametrize(
    ("value", "truthy"),
    [
        (True, True),
        ("TRUE", True),
        ("true", True),
        (" 1 ", True),
        (1, True),
        ("1", True),
        (False, False),
        ("false", False),
        (0, False),
        ("yes", False),
        (None, False),
        (2, False),
    ],
)
def test_unsubscribed_flag_values(value, truthy):
    assert is_truthy_flag(value) is truthy


def test_limits_are_bytes():
    check_attribute("n" * 150, "v" * 1000)
    check_attribute("é" * 75, "é" * 500)
    with pytest.raises(ApiError, match="attribute name cannot be longer than 150 bytes"):
        check_attribute("é" * 76, "v")
    with pytest.raises(ApiError, match="1000 bytes"):
        check_attribute("n", "é" * 501)


def test_a_nested_value_is_measured_as_rendered():
    check_attribute("doc", {"k": "v" * 990})
    with pytest.raises(ApiError, match="1000 bytes"):
        check_attribute("doc", {"k": "v" * 1000})


def test_blank_attribute_name_is_refused():
    with pytest.raises(ApiError):
        check_attribute("", "v")


def test_at_most_300_attributes():
    check_attributes({f"a{i}": i for i in range(300)})
    with pytest.raises(ApiError) as caught:
        check_attributes({f"a{i}": i for i in range(301)})
    assert caught.value.message == "cannot identify more than 300 attributes in one request"


def test_a_null_value_is_not_measured_but_its_name_is():
    assert check_attribute("gone", None) is None
    assert check_attributes({"n" * 150: None, "other": None}) is None
    with pytest.raises(ApiError, match="attribute name cannot be longer than 150 bytes"):
        check_attribute("n" * 151, None)
    with pytest.raises(ApiError, match="attribute name cannot be blank"):
        check_attribute("", None)


class TestParseIdentify:
    def test_control_keys_are_not_attributes(self):
        parsed = parse_identify(
            {"plan": "pro", "_timestamp": 5, "_update": True, "cio_relationships": []}, NOW
        )
        assert parsed.attributes == {"plan": "pro"}
        assert parsed.timestamp == 5
        assert parsed.update_only is True
        assert parsed.relationships == []

    def test_timestamp_defaults_to_now_and_accepts_the_plain_key(self):
        assert parse_identify({}, NOW).timestamp == NOW
        assert parse_identify({"timestamp": 7}, NOW).timestamp == 7
        assert parse_identify({"_timestamp": 8.9}, NOW).timestamp == 8

    @pytest.mark.parametrize("bad", ["1700000000", True, [], {}, 2**63, float("inf"), 1e300])
    def test_timestamp_must_be_a_number(self, bad):
        with pytest.raises(ApiError):
            parse_identify({"_timestamp": bad}, NOW)

    def test_update_only_is_a_boolean(self):
        assert parse_identify({"_update": True}, NOW).update_only is True
        assert parse_identify({"_update": False}, NOW).update_only is False
        assert parse_identify({}, NOW).update_only is False

    @pytest.mark.parametrize("bad", ["true", 1, 0, None, [], {}])
    def test_update_only_refuses_what_is_not_a_boolean(self, bad):
        with pytest.raises(ApiError) as caught:
            parse_identify({"_update": bad}, NOW)
        assert (caught.value.status, caught.value.field) == (400, "_update")

    def test_body_identifiers_are_strings(self):
        parsed = parse_identify({"id": 42, "email": "A@B.c"}, NOW)
        assert parsed.body_ids == {"id": "42", "email": "A@B.c"}
        assert parsed.attributes["id"] == "42"

    def test_removed_body_identifiers_are_not_identifiers(self):
        parsed = parse_identify({"email": None, "id": ""}, NOW)
        assert parsed.body_ids == {}
        assert parsed.attributes == {"email": None, "id": ""}

    @pytest.mark.parametrize("bad", [True, 1.5, ["x"], {"a": 1}])
    def test_body_id_must_be_a_string(self, bad):
        with pytest.raises(ApiError, match="id attribute must be a string value"):
            parse_identify({"id": bad}, NOW)

    def test_body_id_limit(self):
        with pytest.raises(ApiError, match="150 bytes"):
            parse_identify({"id": "x" * 151}, NOW)

    def test_dotted_subscription_preferences_become_one_document(self):
        parsed = parse_identify(
            {
                "cio_subscription_preferences": {"topics": {"topic_2": True}},
                "cio_subscription_preferences.topics.topic_1": False,
            },
            NOW,
        )
        assert parsed.attributes == {
            "cio_subscription_preferences": {"topics": {"topic_1": False, "topic_2": True}}
        }

    def test_limits_apply_to_the_whole_request(self):
        with pytest.raises(ApiError, match="300 attributes"):
            parse_identify({f"a{i}": 1 for i in range(301)}, NOW)
        # control keys do not count towards the 300
        parse_identify({**{f"a{i}": 1 for i in range(300)}, "_timestamp": 1, "_update": True}, NOW)

    def test_a_body_cio_id_names_a_person(self):
        assert parse_identify({"cio_id": "cio_abc"}, NOW).body_cio_id == Identifier("cio_id", "abc")
        assert parse_identify({"cio_id": "abc"}, NOW).attributes == {}
        assert parse_identify({"cio_id": None}, NOW).body_cio_id is None
        with pytest.raises(ApiError):
            parse_identify({"cio_id": ["abc"]}, NOW)
