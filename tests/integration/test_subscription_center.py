"""The subscription center on a real database: topics declared with `tidings apply`,
a person's preferences, the preferences page's token and save (through the normal
write path, so the reporting webhook hears of it), the suppression of a message in
a topic the person is not in, and the one-click unsubscribe of such a message."""

import msgspec
import pytest
from sqlalchemy import update

from tests.conftest import new_workspace
from tests.factories import add_delivery, recorded_metrics, webhook_bodies
from tidings.db.schema import webhook_posts
from tidings.errors import ApiError
from tidings.people import read, service
from tidings.people.identifiers import classify
from tidings.reporting import links, preference_center, webhooks
from tidings.sending import suppression
from tidings.subscriptions import center
from tidings.workspaces import apply

NOW = 1_700_000_000
BASE = "https://t.example.com"
TOPICS = {
    "subscription_topics": [
        {"id": 1, "name": "News", "description": "Weekly", "subscribed_by_default": True},
        {"id": 2, "name": "Offers"},
    ],
    "subscription_channels": [{"channel": "email", "name": "Email"}],
}


@pytest.fixture(scope="module")
def db(isolated_db):
    """This module's webhook posts are its own: the API test server's poster must not take them."""
    return isolated_db


@pytest.fixture(autouse=True)
def empty_queue(db):
    with db.writer.begin() as conn:
        conn.execute(
            update(webhook_posts).where(webhook_posts.c.state == "queued").values(state="failed")
        )


def declare(tx, ws, document=TOPICS):
    def run(conn):
        steps = apply.plan(apply.parse(document), apply.current(conn, ws))
        return apply.apply_plan(conn, ws, steps, NOW)

    return tx(run)


def identify(tx, ws, ident="p1", at=NOW, **attributes):
    request = service.parse_identify({"email": f"{ident}@example.com", **attributes}, at)
    return tx(service.identify, ws, classify(ident), request, at)


def shown(query, ws, ident="p1"):
    customer = query(center.preferences_of, ws, ident, "id")["customer"]
    topics = {t["id"]: t["subscribed"] for t in customer["topics"]}
    return topics, customer["unsubscribed"]


def test_apply_declares_topics_and_channels_and_changes_only_what_differs(tx, query, workspace):
    ws = workspace.workspace_id
    assert declare(tx, ws) == [
        'create subscription topic "1"',
        'create subscription topic "2"',
        'create subscription channel "email"',
    ]
    assert declare(tx, ws)[0] == 'unchanged subscription topic "1"'
    changed = {**TOPICS, "subscription_topics": [{"id": 2, "name": "Deals"}]}
    assert declare(tx, ws, changed) == [
        'update subscription topic "2": name',
        'unchanged subscription channel "email"',
    ]
    identify(tx, ws)
    customer = query(center.preferences_of, ws, "p1", "id")["customer"]
    assert customer["topics"] == [
        {"id": 1, "identifier": "topic_1", "name": "News", "description": "Weekly",
         "subscribed_by_default": True, "subscribed": True},
        {"id": 2, "identifier": "topic_2", "name": "Deals", "description": "",
         "subscribed_by_default": False, "subscribed": False},
    ]  # fmt: skip
    assert customer["channels"][0]["channel"] == "email"
    assert customer["identifiers"]["email"] == "p1@example.com"


def test_the_customer_attributes_show_the_computed_preferences(tx, query, workspace, db):
    ws = workspace.workspace_id
    bare = new_workspace(db).workspace_id  # declares nothing: nothing computed
    identify(tx, bare)
    assert (
        center.COMPUTED
        not in query(read.attributes_of, bare, "p1", "id", center.computed)["customer"][
            "attributes"
        ]
    )
    declare(tx, ws)
    identify(tx, ws, **{"cio_subscription_preferences.topics.topic_1": False})
    customer = query(read.attributes_of, ws, "p1", "id", center.computed)["customer"]
    assert msgspec.json.decode(customer["attributes"][center.COMPUTED]) == {
        "topics": {"topic_1": False, "topic_2": False},  # a choice, and an opt-in default
        "channels": {"email": True},
    }
    assert customer["timestamps"][center.COMPUTED] == 0
    [many] = query(read.attributes_of_many, ws, ["p1"], "id", center.computed)["customers"]
    assert many["customer"]["attributes"] == customer["attributes"]


def test_a_bad_declaration_is_refused_naming_its_path(tx, workspace):
    with pytest.raises(ApiError) as caught:
        declare(tx, workspace.workspace_id, {"subscription_topics": [{"id": -1, "name": "x"}]})
    assert caught.value.field == "subscription_topics[0].id"


def test_preferences_follow_the_attribute_track_writes(tx, query, workspace):
    ws = workspace.workspace_id
    declare(tx, ws)
    identify(tx, ws, **{"cio_subscription_preferences.topics.topic_2": True})
    assert shown(query, ws) == ({1: True, 2: True}, False)
    identify(tx, ws, at=NOW + 1, cio_subscription_preferences={"topics": {"topic_1": False}})
    assert shown(query, ws) == ({1: False, 2: False}, False)
    identify(tx, ws, at=NOW + 2, unsubscribed=True)
    assert shown(query, ws) == ({1: False, 2: False}, True)
    with pytest.raises(ApiError) as caught:
        query(center.preferences_of, ws, "nobody", "id")
    assert caught.value.status == 404


def test_saving_the_page_writes_the_attribute_and_posts_the_webhook(tx, query, workspace):
    ws = workspace.workspace_id
    declare(tx, ws)
    events = ["customer_cio_subscription_preferences_changed", "customer_unsubscribed"]
    body = {"endpoint": "http://127.0.0.1:9/hook", "events": events}
    tx(webhooks.create, ws, webhooks.parse(body, partial=False), NOW)
    identify(tx, ws)
    token = tx(preference_center.token_for, ws, "p1", BASE, NOW)["token"]
    state = query(preference_center.page, token)
    assert [(t.key, on) for t, on in state.topics] == [(1, True), (2, False)]
    saved = tx(preference_center.save, token, {2}, False, NOW + 5)
    assert [(t.key, on) for t, on in saved.topics] == [(1, False), (2, True)]
    attributes = query(read.attributes_of, ws, "p1", "id")["customer"]["attributes"]
    assert msgspec.json.decode(attributes["cio_subscription_preferences"]) == {
        "topics": {"topic_1": False, "topic_2": True}
    }
    metrics = [body["metric"] for _, _, body in query(webhook_bodies, ws)]
    assert metrics == ["cio_subscription_preferences_changed"]
    tx(preference_center.save, token, {2}, True, NOW + 6)  # unsubscribe from everything
    assert shown(query, ws) == ({1: False, 2: True}, True)
    metrics = [body["metric"] for _, _, body in query(webhook_bodies, ws)]
    assert metrics == ["cio_subscription_preferences_changed", "unsubscribed"]


def test_a_page_token_is_bound_to_its_kind_and_person(tx, query, workspace):
    ws = workspace.workspace_id
    person = identify(tx, ws)
    token = tx(preference_center.token_for, ws, "p1", BASE, NOW)["token"]
    tx(lambda conn: add_delivery(conn, ws, f"w{ws}-d1", person.pk))
    unsubscribe = tx(links.unsubscribe_url, ws, f"w{ws}-d1", BASE, NOW).rsplit("/", 1)[1]
    for forged in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), unsubscribe, "x"):
        with pytest.raises(ApiError) as caught:
            query(preference_center.page, forged)
        assert caught.value.status == 404
    with pytest.raises(ApiError):
        query(links.verify, token, "u")  # nor is the page's token an unsubscribe
    query(preference_center.page, token)
    tx(service.delete_person, ws, classify("p1"))
    with pytest.raises(ApiError) as caught:
        query(preference_center.page, token)  # the person is gone
    assert caught.value.status == 404


def check(query, ws, person, topic, send_to_unsubscribed=False):
    [reason] = query(
        suppression.reasons_to_skip,
        [(ws, person.pk, "p1@example.com", send_to_unsubscribed, topic)],
    )
    return reason


def test_a_message_in_a_topic_reaches_only_people_in_it(tx, query, workspace):
    ws = workspace.workspace_id
    declare(tx, ws)
    person = identify(tx, ws)
    assert check(query, ws, person, 1) is None  # opt-out topic, no choice made
    assert check(query, ws, person, 2) == "the person is not subscribed to topic 2"  # opt-in
    assert check(query, ws, person, 9) is None  # a topic nobody declared counts as opt-out
    identify(tx, ws, at=NOW + 1, **{"cio_subscription_preferences.topics.topic_1": False})
    assert check(query, ws, person, 1) == "the person is not subscribed to topic 1"
    assert check(query, ws, person, None) is None  # a message in no topic still goes
    identify(tx, ws, at=NOW + 2, **{"cio_subscription_preferences.topics.topic_2": True})
    assert check(query, ws, person, 2) is None
    identify(tx, ws, at=NOW + 3, unsubscribed=True)  # global unsubscribe wins, always
    assert check(query, ws, person, 2, send_to_unsubscribed=True) == "the person is unsubscribed"


def test_one_claim_checks_each_person_against_the_topic_of_their_own_message(
    tx, query, workspace, db
):
    ws = workspace.workspace_id
    other = new_workspace(db).workspace_id  # declares nothing: every topic is opt-out there
    declare(tx, ws)
    out = identify(tx, ws, "out", **{"cio_subscription_preferences.topics.topic_1": False})
    into = identify(tx, ws, "in", **{"cio_subscription_preferences.topics.topic_2": True})
    plain = identify(tx, ws, "plain")
    elsewhere = identify(tx, other, "out")
    checks = [
        (ws, out.pk, "out@example.com", False, 1),
        (ws, out.pk, "out@example.com", False, 2),  # opt-in, never chosen
        (ws, into.pk, "in@example.com", False, 1),  # the default
        (ws, into.pk, "in@example.com", False, 2),
        (ws, plain.pk, "plain@example.com", False, None),
        (other, elsewhere.pk, "out@example.com", False, 2),
    ]
    assert query(suppression.reasons_to_skip, checks) == [
        "the person is not subscribed to topic 1",
        "the person is not subscribed to topic 2",
        None,
        None,
        None,
        None,
    ]


def test_one_click_unsubscribe_of_a_topic_message_leaves_that_topic_only(tx, query, workspace):
    ws = workspace.workspace_id
    declare(tx, ws)
    person = identify(tx, ws, **{"cio_subscription_preferences.topics.topic_2": True})
    options = msgspec.json.encode({"subscription_topic_id": 2}).decode()
    tx(lambda conn: add_delivery(conn, ws, f"w{ws}-t", person.pk, options=options))
    tx(lambda conn: add_delivery(conn, ws, f"w{ws}-g", person.pk))
    topic_token = tx(links.unsubscribe_url, ws, f"w{ws}-t", BASE, NOW).rsplit("/", 1)[1]
    assert query(links.unsubscribe_topic, topic_token).name == "Offers"
    assert tx(links.unsubscribe, topic_token, NOW + 5).key == 2
    assert shown(query, ws) == ({1: True, 2: False}, False)
    metrics = [(row[0], row[1]) for row in query(recorded_metrics, ws)]
    assert (f"w{ws}-t", "topic_unsubscribed") in metrics
    assert (f"w{ws}-t", "unsubscribed") not in metrics
    plain_token = tx(links.unsubscribe_url, ws, f"w{ws}-g", BASE, NOW).rsplit("/", 1)[1]
    assert tx(links.unsubscribe, plain_token, NOW + 6) is None
    assert shown(query, ws) == ({1: True, 2: False}, True)  # the choices kept for a return
