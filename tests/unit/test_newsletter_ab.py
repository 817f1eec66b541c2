"""The A/B test's pure rules: who is sampled, which group wins, what a request holds."""

from __future__ import annotations

import pytest

from tidings.campaigns import newsletter_references as references
from tidings.campaigns.newsletter_ab import GroupResult, in_sample, winner
from tidings.errors import ApiError


def result(group: int, content_id: int, sent: int, reached: int) -> GroupResult:
    return GroupResult(group, content_id, (content_id,), sent, reached)


@pytest.mark.parametrize("percent", [1, 10, 50, 90])
def test_the_sample_holds_about_its_share_and_is_stable(percent):
    sampled = [pk for pk in range(1, 20_001) if in_sample(7, pk, percent)]
    assert abs(len(sampled) - 200 * percent) < 0.05 * 200 * percent + 40
    assert sampled == [pk for pk in range(1, 20_001) if in_sample(7, pk, percent)]
    assert all(in_sample(7, pk, 100) for pk in range(1, 1000))


def test_the_seed_is_the_newsletter():
    one = {pk for pk in range(1, 2001) if in_sample(1, pk, 50)}
    two = {pk for pk in range(1, 2001) if in_sample(2, pk, 50)}
    assert one != two


def test_the_highest_rate_wins():
    found = [result(0, 10, 100, 20), result(1, 11, 10, 3), result(2, 12, 50, 5)]
    assert winner(found).group == 1


def test_a_tie_goes_to_the_lowest_content_id_not_the_first_group():
    found = [result(0, 30, 10, 5), result(1, 12, 20, 10), result(2, 20, 4, 2)]
    assert winner(found).content_id == 12


def test_no_data_goes_to_the_lowest_content_id_and_data_beats_none():
    assert winner([result(0, 30, 0, 0), result(1, 12, 0, 0)]).content_id == 12
    assert winner([result(0, 12, 0, 0), result(1, 30, 5, 0)]).content_id == 30


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        ("sms", {"from_id": 1}, "from_id"),
        ("email", {"layout_id": 0}, "layout_id"),
        ("email", {"reply_to_id": "2"}, "reply_to_id"),
        ("email", {"from_id": False}, "from_id"),
    ],
)
def test_references_are_email_ids(kind, body, field):
    with pytest.raises(ApiError) as caught:
        references.parse(kind, body)
    assert caught.value.field == field


def test_references_resolve_and_drop():
    lookups = {key: (lambda n: f"x{n}") for key in references.REFERENCES}
    fields = {"subject": "Hi", "from_id": 3, "layout_id": 4}
    shown = references.resolved(fields, lookups, strict=True)
    assert (shown["from"], shown["layout"], shown["from_id"]) == ("x3", "x4", 3)
    assert references.without_ids(shown) == {"subject": "Hi", "from": "x3", "layout": "x4"}
    gone = {key: (lambda n: None) for key in references.REFERENCES}
    assert references.resolved(fields, gone, strict=False)["from"] == ""
    with pytest.raises(ApiError):
        references.resolved(fields, gone, strict=True)
