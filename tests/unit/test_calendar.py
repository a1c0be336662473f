"""The NSE calendar: trading days, session times, Tuesday expiries and holiday moves."""

from __future__ import annotations

from datetime import UTC, date, datetime

from shared.sim import calendar

TUESDAY = 1
THURSDAY = 3


def test_weekends_and_holidays_do_not_trade() -> None:
    assert calendar.is_trading_day(date(2026, 11, 23))  # a Monday
    assert not calendar.is_trading_day(date(2026, 11, 21))  # Saturday
    assert not calendar.is_trading_day(date(2026, 11, 24))  # Guru Nanak Jayanti
    assert not calendar.is_trading_day(date(2026, 1, 15))  # Maharashtra municipal elections


def test_next_and_previous_trading_day_skip_weekends_and_holidays() -> None:
    assert calendar.next_trading_day(date(2026, 11, 23)) == date(2026, 11, 25)
    assert calendar.previous_trading_day(date(2026, 11, 25)) == date(2026, 11, 23)
    assert calendar.next_trading_day(date(2026, 4, 2)) == date(2026, 4, 6)  # Good Friday, then the weekend
    assert calendar.trading_days(date(2026, 11, 20), date(2026, 11, 25)) == [
        date(2026, 11, 20),
        date(2026, 11, 23),
        date(2026, 11, 25),
    ]


def test_session_bounds_are_0915_and_1530_ist() -> None:
    open_ns = calendar.session_open_ns(date(2026, 11, 23))
    close_ns = calendar.session_close_ns(date(2026, 11, 23))
    assert open_ns == int(datetime(2026, 11, 23, 3, 45, tzinfo=UTC).timestamp()) * 10**9
    assert close_ns - open_ns == (6 * 3600 + 15 * 60) * 10**9


def test_weekly_expiries_are_tuesdays_since_september_2025() -> None:
    weeklies = calendar.weekly_expiries(date(2026, 6, 1), 8)
    assert weeklies == sorted(weeklies) and len(set(weeklies)) == 8
    assert all(d.weekday() == TUESDAY for d in weeklies)
    assert weeklies[0] == date(2026, 6, 2)


def test_weekly_expiry_on_its_own_day_is_included() -> None:
    assert calendar.weekly_expiries(date(2026, 6, 2), 1) == [date(2026, 6, 2)]
    assert calendar.weekly_expiries(date(2026, 6, 3), 1) == [date(2026, 6, 9)]


def test_monthly_expiry_is_the_last_tuesday() -> None:
    assert calendar.monthly_expiry(2026, 6) == date(2026, 6, 30)
    assert calendar.monthly_expiry(2026, 12) == date(2026, 12, 29)
    assert calendar.monthly_expiry(2025, 9) == date(2025, 9, 30)
    assert calendar.is_monthly_expiry(date(2026, 6, 30)) and not calendar.is_monthly_expiry(date(2026, 6, 23))


def test_a_holiday_moves_expiry_to_the_previous_trading_day() -> None:
    assert calendar.monthly_expiry(2026, 11) == date(2026, 11, 23)  # 24 Nov: Guru Nanak Jayanti
    assert calendar.monthly_expiry(2026, 3) == date(2026, 3, 30)  # 31 Mar: Mahavir Jayanti
    assert calendar.weekly_expiries(date(2026, 3, 2), 2) == [date(2026, 3, 2), date(2026, 3, 10)]  # 3 Mar: Holi


def test_thursday_expiries_before_september_2025() -> None:
    assert calendar.monthly_expiry(2025, 8) == date(2025, 8, 28)
    assert calendar.weekly_expiries(date(2025, 8, 18), 4) == [
        date(2025, 8, 21),
        date(2025, 8, 28),
        date(2025, 9, 2),  # the first Tuesday expiry
        date(2025, 9, 9),
    ]
    assert calendar.weekly_expiries(date(2025, 4, 7), 1)[0].weekday() == 2  # 10 Apr 2025 holiday: Wednesday


def test_monthly_expiries_skip_a_month_already_expired() -> None:
    assert calendar.monthly_expiries(date(2026, 11, 25), 2) == [date(2026, 12, 29), date(2027, 1, 26)]
    assert calendar.monthly_expiries(date(2026, 11, 23), 1) == [date(2026, 11, 23)]
