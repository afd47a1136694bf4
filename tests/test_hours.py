"""Opening hours: the forms registries write, read into schedules; open-at on holidays,
make-up working days (调休) and across midnight; text not understood is never guessed."""

from __future__ import annotations

import datetime as dt

import pytest

from providers.hours import (
    CITY_TZ,
    CalendarUnknownError,
    OpenState,
    calendar_years,
    day_type,
    open_state,
    parse_hours,
)

NINE_SIX = ((540, 1080),)
WEEK = (0, 1, 2, 3, 4, 5, 6)


def days(**by_day: tuple[tuple[int, int], ...]) -> tuple[tuple[tuple[int, int], ...], ...]:
    names = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    return tuple(by_day.get(name, ()) for name in names)


def every(intervals: tuple[tuple[int, int], ...]) -> tuple[tuple[tuple[int, int], ...], ...]:
    return tuple(intervals for _ in WEEK)


WEEKDAYS_9_6 = days(mon=NINE_SIX, tue=NINE_SIX, wed=NINE_SIX, thu=NINE_SIX, fri=NINE_SIX)
MON_SAT_9_6 = days(
    mon=NINE_SIX, tue=NINE_SIX, wed=NINE_SIX, thu=NINE_SIX, fri=NINE_SIX, sat=NINE_SIX
)

# text -> (week, holiday rule, follows the official calendar)
TABLE: list[tuple[str, object, object, bool]] = [
    ("周一至周五 9:00-18:00", WEEKDAYS_9_6, None, False),
    ("周一至周六 9:00-18:00", MON_SAT_9_6, None, False),
    ("星期一到星期六 09:00~18:00", MON_SAT_9_6, None, False),
    ("周一至周六９：００－１８：００", MON_SAT_9_6, None, False),  # full-width forms
    ("周一-周五 9:00—18:00", WEEKDAYS_9_6, None, False),  # em dash
    ("周一至五 9:00-18:00", WEEKDAYS_9_6, None, False),
    ("Mon-Fri 09:00-18:00", WEEKDAYS_9_6, None, False),
    ("每天 8:00-20:00", every(((480, 1200),)), None, False),
    ("每日8:30-17:30", every(((510, 1050),)), None, False),
    ("8:00-20:00", every(((480, 1200),)), None, False),
    ("24小时", every(((0, 1440),)), None, False),
    ("全天24小时营业", every(((0, 1440),)), None, False),
    ("00:00-24:00", every(((0, 1440),)), None, False),
    ("7x24小时", every(((0, 1440),)), None, False),
    ("9:00-12:00, 14:00-18:00", every(((540, 720), (840, 1080))), None, False),
    (
        "周一至周五 9:00-12:00，14:00-17:30；周六 9:00-12:00",
        days(
            mon=((540, 720), (840, 1050)),
            tue=((540, 720), (840, 1050)),
            wed=((540, 720), (840, 1050)),
            thu=((540, 720), (840, 1050)),
            fri=((540, 720), (840, 1050)),
            sat=((540, 720),),
        ),
        None,
        False,
    ),
    ("22:00-次日6:00", every(((1320, 1800),)), None, False),
    ("20:00-02:00", every(((1200, 1560),)), None, False),
    (
        "周一、三、五 9:00-17:00",
        days(mon=((540, 1020),), wed=((540, 1020),), fri=((540, 1020),)),
        None,
        False,
    ),
    (
        "每天 9:00-18:00，周日休息",
        days(mon=NINE_SIX, tue=NINE_SIX, wed=NINE_SIX, thu=NINE_SIX, fri=NINE_SIX, sat=NINE_SIX),
        None,
        False,
    ),
    ("上午9点-下午6点", every(NINE_SIX), None, False),
    ("9点半-17点", every(((570, 1020),)), None, False),
    ("周一至周五 9:00-18:00，节假日休息", WEEKDAYS_9_6, (), True),
    ("周一至周六 9:00-18:00 法定节假日休息", MON_SAT_9_6, (), True),
    ("每天8:00-20:00，节假日照常营业", every(((480, 1200),)), None, True),
    (
        "工作日 9:00-17:00",
        days(
            mon=((540, 1020),),
            tue=((540, 1020),),
            wed=((540, 1020),),
            thu=((540, 1020),),
            fri=((540, 1020),),
        ),
        None,
        True,
    ),
    (
        "周一至周五 8:30-17:30；周末及节假日 10:00-16:00",
        days(
            mon=((510, 1050),),
            tue=((510, 1050),),
            wed=((510, 1050),),
            thu=((510, 1050),),
            fri=((510, 1050),),
            sat=((600, 960),),
            sun=((600, 960),),
        ),
        ((600, 960),),
        True,
    ),
    ("全年无休 8:00-22:00", every(((480, 1320),)), None, True),
]

UNREADABLE = [
    "",
    "   ",
    "电话预约",
    "预约制",
    "见门店公告",
    "9:00-",
    "周一至周五",
    "节假日休息",
    "25:00-26:00",
    "休息",
]


@pytest.mark.parametrize(("text", "week", "holiday", "follows"), TABLE, ids=[t[0] for t in TABLE])
def test_real_world_formats_read_into_the_expected_schedule(
    text: str, week: object, holiday: object, follows: bool
) -> None:
    parsed = parse_hours(text)
    assert parsed.problem is None
    assert parsed.schedule is not None
    assert parsed.schedule.week == week
    assert parsed.schedule.holiday == holiday
    assert parsed.schedule.follows_calendar is follows


@pytest.mark.parametrize("text", UNREADABLE)
def test_text_not_understood_is_kept_unread_with_a_reason(text: str) -> None:
    parsed = parse_hours(text)
    assert parsed.schedule is None
    assert parsed.problem
    assert open_state(text, dt.datetime(2026, 12, 3, 10, 0)) is OpenState.UNKNOWN


OFFICE = "周一至周五 9:00-18:00，节假日休息"
LITERAL = "周一至周五 9:00-18:00"


def test_a_public_holiday_closes_a_schedule_that_says_so() -> None:
    national_day = dt.datetime(2026, 10, 1, 10, 0)  # a Thursday
    assert day_type(national_day.date()).value == "holiday"
    assert open_state(OFFICE, national_day) is OpenState.CLOSED
    # A schedule that says nothing of holidays is read by its weekday alone.
    assert open_state(LITERAL, national_day) is OpenState.OPEN
    assert open_state("每天8:00-20:00，节假日照常营业", national_day) is OpenState.OPEN


def test_a_make_up_working_saturday_opens_an_office_schedule() -> None:
    saturday = dt.datetime(2026, 10, 10, 10, 0)  # worked for National Day (调休)
    assert saturday.weekday() == 5
    assert day_type(saturday.date()).value == "makeup_workday"
    assert open_state(OFFICE, saturday) is OpenState.OPEN
    assert open_state("工作日 9:00-17:00", saturday) is OpenState.OPEN
    assert open_state(LITERAL, saturday) is OpenState.CLOSED
    ordinary_saturday = dt.datetime(2026, 10, 17, 10, 0)
    assert open_state(OFFICE, ordinary_saturday) is OpenState.CLOSED


def test_overnight_hours_count_after_midnight_for_the_next_day() -> None:
    night = "周五 20:00-02:00"
    friday_late = dt.datetime(2026, 12, 4, 23, 30)
    saturday_early = dt.datetime(2026, 12, 5, 1, 30)
    saturday_later = dt.datetime(2026, 12, 5, 2, 0)
    thursday_night = dt.datetime(2026, 12, 4, 1, 30)  # Friday 01:30: Thursday had none
    assert open_state(night, friday_late) is OpenState.OPEN
    assert open_state(night, saturday_early) is OpenState.OPEN
    assert open_state(night, saturday_later) is OpenState.CLOSED
    assert open_state(night, thursday_night) is OpenState.CLOSED


def test_an_aware_time_is_converted_to_the_city_s_time() -> None:
    utc = dt.datetime(2026, 12, 3, 1, 30, tzinfo=dt.UTC)  # 09:30 in Guangzhou
    assert open_state(LITERAL, utc) is OpenState.OPEN
    assert open_state(LITERAL, utc.astimezone(CITY_TZ).replace(tzinfo=None)) is OpenState.OPEN
    assert open_state(LITERAL, dt.datetime(2026, 12, 3, 1, 30)) is OpenState.CLOSED


def test_a_date_outside_the_calendar_s_years_says_so() -> None:
    first, last = calendar_years()
    beyond = dt.date(last + 1, 1, 4)
    with pytest.raises(CalendarUnknownError, match=str(last + 1)):
        day_type(beyond)
    at = dt.datetime(beyond.year, beyond.month, beyond.day, 10, 0)
    # A schedule following the calendar cannot tell; one read by weekday still can.
    assert open_state(OFFICE, at) is OpenState.UNKNOWN
    assert open_state("24小时", at) is OpenState.OPEN
    assert first <= 2026 <= last
