"""ctrview's own timestamp arithmetic (it does not import calendar): the same seconds as
calendar.timegm across leap years, centuries and dates before 1970."""

from __future__ import annotations

import calendar
import random

import pytest

from toolkit.engine.ctrview import days_since_epoch, parse_time


@pytest.mark.parametrize(
    "date",
    [(1970, 1, 1), (1969, 12, 31), (2000, 2, 29), (2100, 3, 1), (2024, 2, 29), (1, 1, 1),
     (9999, 12, 31), (1900, 2, 28), (2026, 11, 28)],
)  # fmt: skip
def test_days_since_epoch_matches_timegm(date):
    assert days_since_epoch(*date) * 86400 == calendar.timegm(date + (0, 0, 0, 0, 0, 0))


def test_days_since_epoch_on_random_dates():
    rng = random.Random(7)
    for _ in range(20000):
        y, m = rng.randint(1, 9999), rng.randint(1, 12)
        d = rng.randint(1, calendar.monthrange(y, m)[1])
        assert days_since_epoch(y, m, d) * 86400 == calendar.timegm((y, m, d, 0, 0, 0, 0, 0, 0))


def test_parse_time_of_the_engine_s_timestamps():
    seconds = calendar.timegm((2024, 1, 2, 3, 4, 5, 0, 0, 0))
    assert parse_time("2024-01-02T03:04:05.123456789Z") == pytest.approx(seconds + 0.123456789)
    assert parse_time("2024-01-02T03:04:05Z") == seconds
    assert parse_time("2024-01-02T04:04:05+01:00") == seconds  # humanize's slower parser
    assert parse_time("yesterday") is None and parse_time("") is None
