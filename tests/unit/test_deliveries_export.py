"""The request of a deliveries export (pure): window defaults, clipping, filters."""

import pytest

from tidings.errors import ApiError
from tidings.exports.deliveries_csv import DeliveriesExport, parse_request

NOW = 1_700_000_000
DAY = 86_400


def test_defaults_to_the_last_six_months():
    export = parse_request({}, 1, NOW, ())
    assert (export.start, export.end) == (NOW - 183 * DAY, NOW)
    assert (export.metric, export.drafts, export.nothing) == (None, False, False)


def test_a_window_longer_than_twelve_months_is_cut_to_the_last_twelve():
    export = parse_request({"start": 0, "end": NOW}, 1, NOW, ())
    assert export.start == NOW - 365 * DAY


def test_campaign_filters_match_nothing_and_the_spec_round_trips():
    export = parse_request({"campaign_id": 3, "metric": "opened"}, 1, NOW, ("plan",))
    assert export.nothing and export.metric == "opened"
    assert DeliveriesExport.from_spec(1, export.spec()) == export


def test_a_newsletter_filter_is_kept_and_round_trips():
    export = parse_request({"newsletter_id": "3"}, 1, NOW, ())
    assert export.newsletter_id == 3 and not export.nothing
    assert DeliveriesExport.from_spec(1, export.spec()) == export
    old = '{"start":1,"end":2,"metric":null,"drafts":false,"transactional_message_id":null,'
    old += '"attributes":[],"nothing":false}'
    assert DeliveriesExport.from_spec(1, old).newsletter_id is None  # stored before it existed


@pytest.mark.parametrize(
    "body",
    [
        {"start": "yesterday"},
        {"end": -1},
        {"metric": "read"},
        {"drafts": 1},
        {"transactional_message_id": "7"},
        {"newsletter_id": "x"},
    ],
)
def test_bad_requests(body):
    with pytest.raises(ApiError):
        parse_request(body, 1, NOW, ())
