"""The subscription center's rules (pure): who is in a topic, how choices merge, and
what a declared topic or channel may say."""

import pytest

from tidings.errors import ApiError
from tidings.subscriptions.preferences import subscribed, with_choices
from tidings.subscriptions.topics import Topic, parse_channel, parse_topic

OPT_OUT = Topic(1, "News", subscribed_by_default=True)
OPT_IN = Topic(2, "Offers", subscribed_by_default=False)
EMAIL = Topic("email", "Email", subscribed_by_default=True)


@pytest.mark.parametrize(
    ("stored", "topic", "unsubscribed", "expected"),
    [
        (None, OPT_OUT, False, True),  # the default of an opt-out topic: in
        (None, OPT_IN, False, False),  # of an opt-in topic: out
        ({"topics": {"topic_1": False}}, OPT_OUT, False, False),  # opted out
        ({"topics": {"topic_2": True}}, OPT_IN, False, True),  # opted in
        ({"topics": {"topic_2": True}}, OPT_OUT, False, True),  # another topic's choice
        ({"topics": {"topic_1": True}}, OPT_OUT, True, False),  # global unsubscribe wins
        ({"topics": {"topic_2": True}}, OPT_IN, True, False),
        ({"topics": {"topic_1": "false"}}, OPT_OUT, False, True),  # not a boolean: default
        ({"topics": "junk"}, OPT_IN, False, False),
        ("junk", OPT_OUT, False, True),
        ({"channels": {"email": False}}, EMAIL, False, False),
        ({"topics": {"email": False}}, EMAIL, False, True),  # channels are their own section
    ],
)
def test_who_is_in_a_topic(stored, topic, unsubscribed, expected):
    assert subscribed(stored, topic, unsubscribed) is expected


def test_choices_merge_into_what_is_stored():
    stored = {"topics": {"topic_1": True, "topic_3": False}, "channels": {"sms": False}}
    assert with_choices(stored, {1: False, 2: True}) == {
        "topics": {"topic_1": False, "topic_2": True, "topic_3": False},
        "channels": {"sms": False},
    }
    assert stored["topics"]["topic_1"] is True  # not changed in place
    assert with_choices(None, {4: True}) == {"topics": {"topic_4": True}}


def test_a_declared_topic_and_channel():
    assert parse_topic({"id": 3, "name": " News ", "subscribed_by_default": True}) == (
        3,
        Topic(3, "News", "", True),
    )
    assert parse_channel({"channel": "in_app"}) == ("in_app", Topic("in_app", "In-app", "", True))
    assert Topic(3, "News", "d", True).json() == {
        "id": 3,
        "identifier": "topic_3",
        "name": "News",
        "description": "d",
        "subscribed_by_default": True,
    }
    assert Topic("sms", "Texts").json() == {
        "id": 2,
        "type": "twilio",  # Customer.io's name for its SMS channel
        "channel": "sms",
        "name": "Texts",
        "description": "",
        "subscribed_by_default": False,
    }


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"id": 0, "name": "x"}, "id"),
        ({"id": True, "name": "x"}, "id"),
        ({"id": "1", "name": "x"}, "id"),
        ({"id": 10_001, "name": "x"}, "id"),
        ({"id": 1}, "name"),
        ({"id": 1, "name": "x" * 256}, "name"),
        ({"id": 1, "name": "x", "description": 5}, "description"),
        ({"id": 1, "name": "x", "description": "d" * 2_001}, "description"),
        ({"id": 1, "name": "x", "subscribed_by_default": "yes"}, "subscribed_by_default"),
        ({"id": 1, "name": "x", "colour": "red"}, "colour"),
    ],
)
def test_a_bad_topic_is_refused_naming_the_field(item, field):
    with pytest.raises(ApiError) as caught:
        parse_topic(item)
    assert (caught.value.status, caught.value.field) == (400, field)


def test_a_channel_must_be_one_customerio_knows():
    with pytest.raises(ApiError) as caught:
        parse_channel({"channel": "fax"})
    assert caught.value.field == "channel"
