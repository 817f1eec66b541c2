"""The one backoff formula (`jobs.lease.RetryPolicy`) and the policies the queues declare."""

import pytest

from tidings.jobs import queue as jobs_queue
from tidings.jobs.lease import RetryPolicy
from tidings.jobs.runner import RETRY as JOBS
from tidings.reporting.poster import RETRY as WEBHOOK_POSTS
from tidings.segments.refresher import BUILD_RETRY
from tidings.sending.deliverer import RETRY as DELIVERIES


def lowest(a: float, b: float) -> float:
    return a


def highest(a: float, b: float) -> float:
    return b


@pytest.mark.parametrize(
    ("policy", "attempt", "low", "high"),
    [
        (RetryPolicy(base=10, cap=3600), 1, 5, 10),
        (RetryPolicy(base=10, cap=3600), 2, 10, 20),
        (RetryPolicy(base=10, cap=3600), 3, 20, 40),
        (RetryPolicy(base=10, cap=25), 3, 12, 25),  # capped, then the jitter
        (RetryPolicy(base=10, cap=25), 50, 12, 25),
        (RetryPolicy(base=2, cap=300), 1, 1, 2),
        (RetryPolicy(base=1, cap=300), 1, 1, 1),  # never less than a second
        (RetryPolicy(base=0, cap=0), 1, 1, 1),
        (RetryPolicy(base=10, cap=3600, jitter=0), 2, 20, 20),
        (RetryPolicy(base=10, cap=3600, jitter=1), 2, 1, 20),
        (RetryPolicy(base=60, cap=60, jitter=0), 7, 60, 60),
    ],
)
def test_the_delay_doubles_up_to_the_cap_and_the_jitter_takes_up_to_its_share_off(
    policy, attempt, low, high
):
    assert policy.delay(attempt, uniform=lowest) == low
    assert policy.delay(attempt, uniform=highest) == high
    for _ in range(200):
        assert low <= policy.delay(attempt) <= high


def test_the_jitter_is_drawn_between_one_less_the_jitter_and_one():
    drawn: list[tuple[float, float]] = []

    def uniform(a: float, b: float) -> float:
        drawn.append((a, b))
        return (a + b) / 2

    assert RetryPolicy(base=8, cap=100, jitter=0.25).delay(2, uniform=uniform) == 14
    assert drawn == [(0.75, 1.0)]


def test_a_very_late_attempt_is_capped_not_an_overflow():
    assert RetryPolicy(base=10, cap=3600).delay(10_000, uniform=highest) == 3600


@pytest.mark.parametrize(
    ("max_attempts", "attempt", "exhausted"),
    [
        (None, 1, False),
        (None, 10_000, False),
        (1, 1, True),
        (3, 2, False),
        (3, 3, True),
        (3, 4, True),
    ],
)
def test_the_attempts_are_used_up_at_max_attempts(max_attempts, attempt, exhausted):
    assert RetryPolicy(base=1, cap=1, max_attempts=max_attempts).exhausted(attempt) is exhausted


@pytest.mark.parametrize(
    "arguments",
    [
        {"jitter": -0.1},
        {"jitter": 1.5},
        {"base": -1},
        {"cap": -1},
        {"max_attempts": 0},
    ],
)
def test_a_policy_that_makes_no_sense_is_refused(arguments):
    with pytest.raises(ValueError):
        RetryPolicy(**{"base": 1.0, "cap": 10.0, **arguments})


def test_a_policy_is_frozen():
    with pytest.raises(AttributeError):
        RetryPolicy(base=1, cap=2).base = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("policy", "attempt", "low", "high"),
    [
        # The ranges the queues retried with before they shared the formula.
        (JOBS, 1, 1, 2),
        (JOBS, 4, 8, 16),
        (JOBS, 20, 150, 300),
        (DELIVERIES, 1, 5, 10),
        (DELIVERIES, 9, 1280, 2560),
        (DELIVERIES, 30, 1800, 3600),
        (WEBHOOK_POSTS, 1, 15, 30),
        (WEBHOOK_POSTS, 30, 3 * 3600, 6 * 3600),
        (BUILD_RETRY, 1, 60, 60),
        (BUILD_RETRY, 9, 60, 60),
    ],
)
def test_each_queue_keeps_its_delays(policy, attempt, low, high):
    assert policy.delay(attempt, uniform=lowest) == low
    assert policy.delay(attempt, uniform=highest) == high


def test_jobs_attempts_are_their_own_and_five_unless_enqueued_with_more():
    assert JOBS.max_attempts is None  # counted per job, stored at enqueue
    assert jobs_queue.DEFAULT_MAX_ATTEMPTS == 5
    assert DELIVERIES.max_attempts is None  # retried until the delivery's expires_at
    assert WEBHOOK_POSTS.max_attempts is None  # retried for seven days
