"""One duration grammar for every setting that takes one (policy SLA, --since, --expires,
--sign-in-window): each caller's units and range, and what each refuses."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from warden.errors import UsageError
from warden.schemas.durations import parse_duration
from warden.schemas.policy import duration_seconds
from warden.service.accounts import SignInLimits, parse_expiry
from warden.service.reading import parse_since


@pytest.mark.parametrize(
    ("text", "units", "compound", "seconds"),
    [
        ("48h", "wdhms", False, 172_800),
        (" 12 H ", "wdhms", False, 43_200),
        ("1d12h", "wdhms", True, 129_600),
        ("1w 2d", "wdhms", True, 777_600),
        ("0m", "mhd", False, 0),
        ("90s", "wdhms", False, 90),
    ],
)
def test_a_duration_is_whole_numbers_each_with_a_unit(
    text: str, units: str, compound: bool, seconds: int
) -> None:
    assert parse_duration(text, units=units, compound=compound) == seconds


@pytest.mark.parametrize(
    ("text", "units", "compound", "max_digits"),
    [
        ("1d12h", "wdhms", False, None),  # two parts where one is asked for
        ("12", "wdhms", False, None),  # no unit
        ("h", "wdhms", False, None),  # no number
        ("3y", "wdhms", True, None),  # an unknown unit
        ("2w", "mhd", False, None),  # a unit this caller does not take
        ("-5m", "wdhms", False, None),
        ("1.5h", "wdhms", False, None),
        ("1234567d", "smhd", False, 6),  # a number longer than the caller allows
        ("", "wdhms", True, None),
    ],
)
def test_what_is_not_a_duration_is_none(
    text: str, units: str, compound: bool, max_digits: int | None
) -> None:
    assert parse_duration(text, units=units, compound=compound, max_digits=max_digits) is None


def test_an_unknown_unit_asked_for_by_a_caller_is_a_bug_not_a_refusal() -> None:
    with pytest.raises(ValueError, match="unknown duration units"):
        parse_duration("3y", units="y")


def test_each_caller_keeps_its_own_units_range_and_refusal() -> None:
    assert duration_seconds("1d12h") == 129_600
    with pytest.raises(ValueError, match="not a positive duration"):
        duration_seconds("0h")
    assert parse_expiry("8w") == timedelta(weeks=8)
    assert parse_expiry("never") is None
    for bad in ("0d", "90s", "123456m"):
        with pytest.raises(UsageError, match="not a duration"):
            parse_expiry(bad)
    assert SignInLimits.parse(window="15m").window == timedelta(minutes=15)
    for bad in ("30s", "1w", "15"):
        with pytest.raises(UsageError) as refused:
            SignInLimits.parse(window=bad)
        assert refused.value.code == "bad_sign_in_limit"
    now = datetime(2026, 12, 7, 12, 0)
    assert parse_since("90m", now=now) == datetime(2026, 12, 7, 10, 30)
    with pytest.raises(UsageError, match="longer than the calendar"):
        parse_since("99999999d", now=now)
    with pytest.raises(UsageError, match="not a date or an age"):
        parse_since("2w", now=now)
