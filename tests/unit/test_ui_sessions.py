"""Session expiry (idle and absolute) and ids stored only as digests, pure."""

import hashlib

import pytest

from tidings.users.sessions import ABSOLUTE_SECONDS, IDLE_SECONDS, alive, hash_id, new_secret

START = 1_700_000_000


@pytest.mark.parametrize(
    ("seen_after", "now_after", "expected"),
    [
        (0, 0, True),
        (0, IDLE_SECONDS - 1, True),
        (0, IDLE_SECONDS, False),  # idle for the whole idle limit
        (3600 * 5, 3600 * 5 + IDLE_SECONDS - 1, True),  # used again: idle counts from then
        (ABSOLUTE_SECONDS - 60, ABSOLUTE_SECONDS - 1, True),
        (ABSOLUTE_SECONDS - 60, ABSOLUTE_SECONDS, False),  # used a minute ago, but too old
    ],
)
def test_a_session_expires_when_idle_or_old(seen_after, now_after, expected):
    assert alive(START, START + seen_after, START + now_after) is expected


def test_the_limits_are_an_hour_idle_and_twelve_hours_in_all():
    assert (IDLE_SECONDS, ABSOLUTE_SECONDS) == (3600, 12 * 3600)


def test_ids_are_random_and_stored_as_their_sha256():
    first, second = new_secret(), new_secret()
    assert first != second and len(first) >= 43  # 32 random bytes
    assert hash_id(first) == hashlib.sha256(first.encode()).hexdigest()
    assert first not in hash_id(first)
