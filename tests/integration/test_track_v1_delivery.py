"""Delivery metrics, push events, unsubscribe links and form submissions: BEHAVIOUR.md 3.9, 3.10."""

import pytest
from sqlalchemy import select

from tests.factories import add_delivery, recorded_metrics
from tidings.db.schema import events, forms
from tidings.errors import ApiError
from tidings.people import forms as forms_service
from tidings.people import read, service, store
from tidings.people.identifiers import classify
from tidings.reporting import metrics

NOW = 1_700_000_000


def test_a_metric_is_recorded_against_its_delivery(tx, query, workspace):
    ws = workspace.workspace_id
    body = {"delivery_id": "dlv1", "metric": "clicked", "href": "https://x.test", "recipient": "r"}
    tx(metrics.record_metric, ws, *metrics.parse_metric(body, NOW))
    body = {"delivery_id": "dlv1", "metric": "opened", "timestamp": NOW - 5}
    tx(metrics.record_metric, ws, *metrics.parse_metric(body, NOW))
    assert query(recorded_metrics, ws) == [
        ("dlv1", "clicked", NOW, {"recipient": "r", "href": "https://x.test"}),
        ("dlv1", "opened", NOW - 5, {}),
    ]


@pytest.mark.parametrize(
    "metric",
    ["bounced", "clicked", "converted", "deferred", "delivered", "dropped", "opened", "spammed"],
)
def test_every_documented_metric_is_accepted(metric):
    assert metrics.parse_metric({"delivery_id": "d", "metric": metric}, NOW)[1] == metric


@pytest.mark.parametrize(
    "body",
    [
        {"metric": "opened"},
        {"delivery_id": "", "metric": "opened"},
        {"delivery_id": "d", "metric": "read"},
        {"delivery_id": "d", "metric": "opened", "timestamp": "soon"},
        {"delivery_id": "d", "metric": ["opened"]},
        {"delivery_id": "d", "metric": {"a": 1}},
    ],
)
def test_bad_metrics_are_refused_in_the_errors_form(body):
    with pytest.raises(ApiError) as caught:
        metrics.parse_metric(body, NOW)
    assert caught.value.status == 400
    assert caught.value.errors


def test_a_push_event_is_recorded_with_its_device(tx, query, workspace):
    ws = workspace.workspace_id
    body = {"delivery_id": "dlv2", "event": "opened", "device_id": "tok1", "timestamp": NOW - 1}
    tx(metrics.record_metric, ws, *metrics.parse_push_event(body, NOW))
    assert query(recorded_metrics, ws) == [("dlv2", "opened", NOW - 1, {"device_id": "tok1"})]


@pytest.mark.parametrize("event", ["bounced", "", None, ["opened"], {"a": 1}])
def test_push_events_are_opened_converted_or_delivered(event):
    with pytest.raises(ApiError):
        metrics.parse_push_event({"delivery_id": "d", "event": event}, NOW)


def test_metrics_stay_in_their_workspace(tx, query, workspace, other_workspace):
    body = {"delivery_id": "dlv1", "metric": "opened"}
    tx(metrics.record_metric, workspace.workspace_id, *metrics.parse_metric(body, NOW))
    assert query(recorded_metrics, other_workspace.workspace_id) == []


def test_unsubscribe_sets_the_recipients_flag_and_records_it(tx, query, workspace):
    ws = workspace.workspace_id
    body = service.parse_identify({"email": "a@example.com"}, NOW)
    person = tx(service.identify, ws, classify("u1"), body, NOW)
    tx(add_delivery, ws, "dlv-unsub", person.pk)
    tx(metrics.unsubscribe, "dlv-unsub", True, NOW + 1)
    customer = query(read.attributes_of, ws, "u1", "id")["customer"]
    assert customer["attributes"]["unsubscribed"] == "true"
    assert customer["unsubscribed"] is True
    tx(metrics.unsubscribe, "dlv-unsub", False, NOW + 2)
    customer = query(read.attributes_of, ws, "u1", "id")["customer"]
    assert customer["attributes"]["unsubscribed"] == "false"
    assert customer["unsubscribed"] is False
    assert [m[1] for m in query(recorded_metrics, ws)] == ["unsubscribed", "resubscribed"]


def test_unsubscribe_for_an_unknown_delivery_is_refused(tx):
    with pytest.raises(ApiError) as caught:
        tx(metrics.unsubscribe, "no-such-delivery", True, NOW)
    assert caught.value.status == 400


@pytest.mark.parametrize(("body", "value"), [({}, True), ({"unsubscribe": False}, False)])
def test_unsubscribe_body(body, value):
    assert metrics.parse_unsubscribe(body) is value


@pytest.mark.parametrize("body", [{"unsubscribe": "yes"}, [], "true"])
def test_unsubscribe_must_be_a_boolean(body):
    with pytest.raises(ApiError):
        metrics.parse_unsubscribe(body)


def submit(tx, ws, form_id, data, now=NOW):
    ident, parsed = forms_service.parse_submission({"data": data}, now)
    tx(forms_service.submit, ws, form_id, ident, parsed, now)


def form_row(conn, ws, form_id):
    return conn.execute(
        select(forms.c.submissions, forms.c.created_at).where(
            forms.c.workspace_id == ws, forms.c.form_id == form_id
        )
    ).first()


def test_a_form_submission_identifies_and_remembers_the_form(tx, query, workspace):
    ws = workspace.workspace_id
    data = {"email": "a@example.com", "name": "Ann", "form_name": "ignored", "form_url": "x"}
    submit(tx, ws, "contact", data)
    submit(tx, ws, "contact", {"email": "A@example.com", "name": "Ann B"}, NOW + 1)
    customer = query(read.attributes_of, ws, "a@example.com", "email")["customer"]
    assert customer["attributes"]["name"] == "Ann B"
    assert "form_name" not in customer["attributes"]
    assert "form_url" not in customer["attributes"]
    assert tuple(query(form_row, ws, "contact")) == (2, NOW)
    person = query(store.find, ws, classify("a@example.com"))
    submitted = query(
        lambda conn: conn.execute(
            select(events.c.name).where(
                events.c.person_id == person.pk, events.c.type == "form_submit"
            )
        ).all()
    )
    assert [r.name for r in submitted] == ["contact", "contact"]


def test_a_form_submission_by_id(tx, query, workspace):
    ws = workspace.workspace_id
    submit(tx, ws, "signup", {"id": "u7", "plan": "trial"})
    assert query(read.attributes_of, ws, "u7", "id")["customer"]["attributes"]["plan"] == "trial"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"data": "x"},
        {"data": {"name": "no identifier"}},
        {"data": {"email": "a@example.com", "age": 3}},
        {"data": {"id": "x" * 151}},
    ],
)
def test_bad_submissions_are_refused_in_the_errors_form(body):
    with pytest.raises(ApiError) as caught:
        forms_service.parse_submission(body, NOW)
    assert caught.value.status == 400
    assert caught.value.errors
