"""Which subscription topic a campaign's, broadcast's or newsletter's message carries
into its delivery (the deliverer checks it before the send), and the declaration
of a campaign's topic."""

from types import SimpleNamespace

import pytest

from tidings.campaigns import definitions
from tidings.campaigns.messages import _options
from tidings.campaigns.store import Workflow
from tidings.errors import ApiError
from tidings.templates.definitions import parse_definition


def flow(kind: str, **definition) -> Workflow:
    return Workflow(1, 1, kind, "n", "running", definition, None, {}, frozenset())


@pytest.mark.parametrize("kind", ["campaign", "broadcast", "newsletter"])
def test_a_message_carries_its_flows_topic_and_a_webhook_none(kind):
    email, webhook = SimpleNamespace(type="email"), SimpleNamespace(type="webhook")
    in_topic = flow(kind, subscription_topic_id=3)
    assert _options(in_topic, email) == {"send_to_unsubscribed": False, "subscription_topic_id": 3}
    assert _options(in_topic, webhook) == {"send_to_unsubscribed": True}
    assert _options(flow(kind), email) == {"send_to_unsubscribed": False}
    assert _options(flow(kind, subscription_topic_id=None), email) == {
        "send_to_unsubscribed": False
    }


BROADCAST = {"name": "B", "workflow": [{"email": {"subject": "s", "body": "b"}}]}


def test_a_campaign_declares_its_topic():
    parsed = definitions.parse({**BROADCAST, "subscription_topic_id": 4}, kind="broadcast")
    assert parsed.definition["subscription_topic_id"] == 4
    assert "subscription_topic_id" not in definitions.parse(BROADCAST, kind="broadcast").definition


@pytest.mark.parametrize("topic", [0, -1, "1", True, 1.5])
def test_a_bad_topic_is_refused_naming_the_path(topic):
    with pytest.raises(ApiError) as caught:
        definitions.parse({**BROADCAST, "subscription_topic_id": topic}, kind="broadcast")
    assert caught.value.field == "campaign.subscription_topic_id"
    with pytest.raises(ApiError) as caught:
        parse_definition({"name": "T", "subscription_topic_id": topic})
    assert caught.value.field == "subscription_topic_id"


def test_a_transactional_message_declares_its_topic():
    assert parse_definition({"name": "T", "subscription_topic_id": 2}).subscription_topic_id == 2
    assert parse_definition({"name": "T"}).subscription_topic_id is None
