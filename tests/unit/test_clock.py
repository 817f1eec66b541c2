"""The clocks (`tidings.clock`): the emulator's `OffsetClock` and the process's clock."""

from __future__ import annotations

import threading
import time

import pytest

from tidings import clock

DAY = 86400


def test_an_offset_clock_runs_with_the_system_clock():
    moving = clock.OffsetClock()
    before = time.time()
    read = moving.now()
    assert before <= read <= time.time()


def test_advance_moves_it_ahead_and_it_keeps_running():
    moving = clock.OffsetClock()
    moving.advance(3 * DAY)
    before = time.time()
    read = moving.now()
    assert before + 3 * DAY <= read <= time.time() + 3 * DAY


def test_advance_refuses_to_go_back():
    moving = clock.OffsetClock()
    moving.advance(DAY)
    with pytest.raises(ValueError, match="forward only"):
        moving.advance(-1)
    before = time.time()
    assert before + DAY <= moving.now() <= time.time() + DAY  # unchanged


def test_set_goes_to_that_time_backwards_too():
    moving = clock.OffsetClock()
    moving.set(2_000_000_000)
    assert 2_000_000_000 <= moving.now() < 2_000_000_000 + 5
    moving.set(1_000_000_000)
    assert 1_000_000_000 <= moving.now() < 1_000_000_000 + 5


def test_concurrent_advances_all_count():
    moving = clock.OffsetClock()
    threads = [
        threading.Thread(target=lambda: [moving.advance(1) for _ in range(1000)]) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    before = time.time()
    assert before + 8000 <= moving.now() <= time.time() + 8000


def test_the_process_clock_is_the_system_clock_until_one_is_installed():
    assert isinstance(clock.current(), clock.SystemClock)
    fixed = clock.FixedClock(1_900_000_000)
    previous = clock.install(fixed)
    try:
        assert clock.current() is fixed
        assert isinstance(previous, clock.SystemClock)
    finally:
        clock.install(previous)
    assert clock.current() is previous


def test_the_offset_clock_fixture_installs_one_for_the_test(offset_clock):
    assert clock.current() is offset_clock


def test_a_process_clock_reads_whichever_is_installed_when_read(offset_clock):
    process = clock.ProcessClock()  # made before the clock moves or changes
    offset_clock.set(1_900_000_000)
    assert 1_900_000_000 <= process.now() < 1_900_000_000 + 5
    fixed = clock.FixedClock(1_950_000_000)
    clock.install(fixed)  # the fixture puts the system clock back afterwards
    assert process.now() == 1_950_000_000
