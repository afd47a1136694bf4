"""Opening hours: registry text to a weekly schedule, and whether a provider is open at a time.

The registries write hours as free text ("周一至周六 9:00-18:00", "24小时", "节假日休息").
:func:`parse_hours` reads the forms they use into a :class:`Schedule`; text it cannot read
whole is never guessed at: it gives ``None`` and says why (the import keeps the text and
warns). Times are local to the city (Asia/Shanghai: China has one time zone and no DST).

How a day is read
-----------------
* Days a text names get its intervals; days it does not name are closed ("周一至周五
  9:00-18:00" is closed at the weekend). A text with no day at all ("9:00-18:00", "24小时")
  means every day.
* An interval may run past midnight ("22:00-次日6:00", "20:00-02:00"): its end is kept
  past 24:00 and the early hours count for the next day.
* A schedule that speaks of public holidays ("节假日休息", "节假日照常营业") or of working
  days ("工作日 9:00-17:00") follows China's official calendar, with its make-up working
  days (调休): on a public holiday it is closed, open as on that weekday, or open the hours
  it gives holidays; on a make-up working day (a Saturday or Sunday worked in exchange for
  a holiday) it keeps a working day's hours (Monday's). A schedule that says nothing of
  holidays is read by the weekday alone, and needs no calendar.
* The official calendar comes from the ``chinese-calendar`` package, which knows the
  years the State Council has published. For a date outside them, a schedule that follows
  the calendar cannot say whether it is open: :meth:`Schedule.state` answers
  :attr:`OpenState.UNKNOWN` and :func:`calendar_years` says which years are known.

Examples
--------
>>> from datetime import datetime
>>> s = parse_hours("周一至周五 9:00-18:00，节假日休息").schedule
>>> s.state(datetime(2026, 10, 9, 10, 0)).value       # a Friday
'open'
>>> s.state(datetime(2026, 10, 1, 10, 0)).value       # National Day, a Thursday
'closed'
>>> s.state(datetime(2026, 10, 10, 10, 0)).value      # a Saturday worked for it (调休)
'open'
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

import chinese_calendar
import numpy as np
import numpy.typing as npt

CITY_TZ = ZoneInfo("Asia/Shanghai")
DAY_MINUTES = 24 * 60

Interval = tuple[int, int]  # minutes from local midnight; the end may pass 1440 (overnight)
Day = tuple[Interval, ...]


class OpenState(StrEnum):
    """Whether a provider is open at a time: ``unknown`` when its hours say nothing usable
    (none given, text not understood, or a date outside the holiday calendar's years)."""

    OPEN = "open"
    CLOSED = "closed"
    UNKNOWN = "unknown"


class CalendarUnknownError(LookupError):
    """The official holiday calendar does not know this date's year."""


@functools.cache
def calendar_years() -> tuple[int, int]:
    """The first and last year the holiday calendar (``chinese-calendar``) knows."""
    years = [d.year for d in chinese_calendar.holidays]
    return min(years), max(years)


class DayType(StrEnum):
    NORMAL = "normal"
    HOLIDAY = "holiday"  # an official public holiday (a day off)
    MAKEUP_WORKDAY = "makeup_workday"  # a Saturday or Sunday worked instead (调休)


@functools.lru_cache(maxsize=4096)
def day_type(day: dt.date) -> DayType:
    """What the official calendar makes of ``day``.

    Raises
    ------
    CalendarUnknownError
        When the calendar does not know ``day``'s year.

    Examples
    --------
    >>> day_type(dt.date(2026, 10, 1)).value, day_type(dt.date(2026, 10, 10)).value
    ('holiday', 'makeup_workday')
    """
    first, last = calendar_years()
    if not first <= day.year <= last:
        raise CalendarUnknownError(
            f"the public-holiday calendar (chinese-calendar) knows {first}–{last}, not {day.year}"
        )
    if day in chinese_calendar.holidays:
        return DayType.HOLIDAY
    if day in chinese_calendar.workdays and day.weekday() >= 5:
        return DayType.MAKEUP_WORKDAY
    return DayType.NORMAL


@dataclass(frozen=True, slots=True)
class Schedule:
    """A weekly schedule: ``week[0]`` is Monday's intervals … ``week[6]`` Sunday's.

    ``holiday`` is what public holidays get: ``None`` for "as on that weekday", ``()`` for
    closed, else its own intervals. ``follows_calendar`` says whether holidays and
    make-up working days apply at all (the text spoke of them).
    """

    week: tuple[Day, Day, Day, Day, Day, Day, Day]
    holiday: Day | None = None
    follows_calendar: bool = False

    def day(self, day: dt.date) -> Day:
        """The intervals that apply on ``day`` (may raise :class:`CalendarUnknownError`)."""
        if not self.follows_calendar:
            return self.week[day.weekday()]
        kind = day_type(day)
        if kind is DayType.HOLIDAY:
            return self.week[day.weekday()] if self.holiday is None else self.holiday
        if kind is DayType.MAKEUP_WORKDAY:
            return self.week[0]
        return self.week[day.weekday()]

    def state(self, at: dt.datetime) -> OpenState:
        """Open or closed at ``at`` (naive: Asia/Shanghai local time; aware: converted)."""
        local = at.astimezone(CITY_TZ) if at.tzinfo is not None else at
        minute = local.hour * 60 + local.minute
        try:
            today = self.day(local.date())
            yesterday = self.day(local.date() - dt.timedelta(days=1))
        except CalendarUnknownError:
            return OpenState.UNKNOWN
        if any(start <= minute < end for start, end in today):
            return OpenState.OPEN
        if any(minute < end - DAY_MINUTES for _, end in yesterday):
            return OpenState.OPEN
        return OpenState.CLOSED

    def today_text(self, at: dt.datetime) -> str | None:
        """The day's intervals as ``09:00–18:00, 19:00–次日02:00`` ("" closed), ``None`` when
        the calendar does not know the day."""
        local = at.astimezone(CITY_TZ) if at.tzinfo is not None else at
        try:
            intervals = self.day(local.date())
        except CalendarUnknownError:
            return None
        return ", ".join(f"{_clock(s)}–{_clock(e)}" for s, e in intervals)


def _clock(minute: int) -> str:
    if minute == DAY_MINUTES:
        return "24:00"
    prefix = "次日" if minute > DAY_MINUTES else ""
    minute %= DAY_MINUTES
    return f"{prefix}{minute // 60:02d}:{minute % 60:02d}"


@dataclass(frozen=True, slots=True)
class ParsedHours:
    """What :func:`parse_hours` made of a text: a schedule, or the reason there is none."""

    schedule: Schedule | None
    problem: str | None = None


_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "七": 6}
_EN_DAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_ALL = frozenset(range(7))
_WEEKDAY_CH = "[一二三四五六日天七]"
_DAY = rf"(?:周|星期|礼拜){_WEEKDAY_CH}"
_EN_DAY = r"(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?"
_TIME = r"(?:(?:上午|早上|中午|下午|晚上|凌晨)\s*)?\d{1,2}(?:[:.]\d{2}|点(?:半|\d{1,2}分?)?|时)?"

_TOKENS = re.compile(
    "|".join(
        [
            r"(?P<allday>(?:7\s*[x×*]\s*)?24\s*(?:小时|h(?:ours)?\b|hrs?\b)|全天候|全天)",
            rf"(?P<range>(?P<start>{_TIME})\s*(?:-|~|至|到)\s*(?P<next>次日|第二天|翌日)?\s*"
            rf"(?P<end>{_TIME}))",
            rf"(?P<dayrange>{_DAY}\s*(?:-|~|至|到)\s*(?:{_DAY}|{_WEEKDAY_CH}))",
            rf"(?P<endays>{_EN_DAY}\s*(?:-|~|to)\s*{_EN_DAY})",
            rf"(?P<daylist>{_DAY}(?:\s*[、,/和及与]\s*(?:{_DAY}|{_WEEKDAY_CH}))*)",
            rf"(?P<enday>{_EN_DAY})",
            r"(?P<every>每天|每日|天天|daily|every\s*day|全周)",
            r"(?P<workdays>工作日|weekdays?)",
            r"(?P<weekend>周末|双休日|休息日|weekends?)",
            r"(?P<holidays>(?:法定|国家法定|公众)?(?:节假日|假日|假期|节日)|public\s*holidays?|holidays?)",
            r"(?P<yearround>全年无休|全年不休|365\s*天)",
            r"(?P<closed>休息|不营业|闭店|关门|停业|不开放|closed)",
            r"(?P<open>照常营业|正常营业|照常|正常|不休息?|营业|开放|open)",
            r"(?P<filler>营业时间|服务时间|办公时间|开放时间|时间|上班|门店|均|为|是|及|和|"
            r"[\s:;,，、。.()（）/|]+)",
        ]
    ),
    re.IGNORECASE,
)


def _minutes(text: str) -> int | None:
    """``9:30``, ``9点半``, ``下午6点``, ``18时`` → minutes after midnight (else ``None``)."""
    text = text.replace(" ", "")
    half = 12 * 60 if text.startswith(("下午", "晚上")) else 0
    text = re.sub(r"^(上午|早上|中午|下午|晚上|凌晨)", "", text)
    m = re.fullmatch(r"(\d{1,2})(?:[:.](\d{2})|点(半|(\d{1,2})分?)?|时)?", text)
    if m is None:
        return None
    hour = int(m.group(1))
    minute = int(m.group(2) or m.group(4) or (30 if m.group(3) == "半" else 0))
    if half and hour < 12:
        hour += 12
    if hour > 24 or minute > 59 or (hour == 24 and minute):
        return None
    return hour * 60 + minute


def _day_range(first: int, last: int) -> frozenset[int]:
    """Days ``first`` … ``last``, wrapping past Sunday (周六至周一)."""
    days = {first}
    while first != last:
        first = (first + 1) % 7
        days.add(first)
    return frozenset(days)


def _days_of(kind: str, text: str) -> frozenset[int]:
    lowered = text.lower()
    if kind == "dayrange":
        ends = re.findall(_WEEKDAY_CH, re.sub(r"(周|星期|礼拜)", "", text))
        return _day_range(_WEEKDAYS[ends[0]], _WEEKDAYS[ends[-1]])
    if kind == "endays":
        ends = re.findall(r"mon|tue|wed|thu|fri|sat|sun", lowered)
        return _day_range(_EN_DAYS[ends[0]], _EN_DAYS[ends[-1]])
    if kind == "daylist":
        return frozenset(
            _WEEKDAYS[c] for c in re.findall(_WEEKDAY_CH, re.sub(r"(周|星期|礼拜)", "", text))
        )
    if kind == "enday":
        return frozenset({_EN_DAYS[lowered[:3]]})
    if kind == "workdays":
        return frozenset(range(5))
    if kind == "weekend":
        return frozenset({5, 6})
    return _ALL  # every, yearround


class _Reader:
    """The state of one text's reading: which days the next interval is for (weekdays,
    and whether public holidays too), and what each day has got so far."""

    def __init__(self) -> None:
        self.days: frozenset[int] | None = None  # None: no day named yet
        self.for_holiday = False
        self.filled = False  # whether the current days got an interval or a closing
        self.week: list[list[Interval]] = [[] for _ in range(7)]
        self.holiday: list[Interval] | None = None
        self.follows_calendar = False
        self.any_hours = False

    def name_days(self, days: frozenset[int], *, holiday: bool = False) -> None:
        if holiday:
            self.follows_calendar = True
        if self.days is not None and not self.filled:
            # "周末及节假日 10:00-16:00", "周一、周三 …": days named one after another
            # before their hours add up.
            self.days, self.for_holiday = self.days | days, self.for_holiday or holiday
            return
        self.days, self.for_holiday, self.filled = days, holiday, False

    def add(self, interval: Interval) -> None:
        self.any_hours = True
        self.filled = True
        if self.for_holiday and interval not in (self.holiday or []):
            self.holiday = [*(self.holiday or []), interval]
        for day in _ALL if self.days is None else self.days:
            if interval not in self.week[day]:
                self.week[day].append(interval)

    def close(self) -> None:
        self.filled = True
        if self.for_holiday:
            self.holiday = []
        for day in self.days or ():
            self.week[day] = []

    def open_as_usual(self) -> None:
        if self.for_holiday:
            self.filled = True  # "节假日照常营业": holidays as their weekday (holiday None)


def parse_hours(text: str) -> ParsedHours:
    """Read opening-hours text into a :class:`Schedule`, or say why it cannot be read.

    Examples
    --------
    >>> parse_hours("24小时").schedule.week[2]
    ((0, 1440),)
    >>> parse_hours("周一至周五 9:00-12:00，14:00-17:30").schedule.week[0]
    ((540, 720), (840, 1050))
    >>> parse_hours("22:00-次日6:00").schedule.week[0]
    ((1320, 1800),)
    >>> parse_hours("电话预约").problem
    "not read: '电话预约' is not a day, a time range or a holiday rule"
    """
    normal = unicodedata.normalize("NFKC", text).strip()
    normal = re.sub(r"[—–－―‐‑−]+", "-", normal).replace("～", "~")
    if not normal:
        return ParsedHours(None, "no opening hours given")
    reader = _Reader()
    position = 0
    while position < len(normal):
        m = _TOKENS.match(normal, position)
        if m is None or m.end() == position:
            rest = normal[position:][:20]
            return ParsedHours(
                None, f"not read: {rest!r} is not a day, a time range or a holiday rule"
            )
        problem = _read_token(reader, m)
        if problem:
            return ParsedHours(None, problem)
        position = m.end()
    if not reader.any_hours:
        return ParsedHours(None, "no times given")
    week = tuple(tuple(sorted(day)) for day in reader.week)
    holiday = None if reader.holiday is None else tuple(sorted(reader.holiday))
    return ParsedHours(
        Schedule(week=week, holiday=holiday, follows_calendar=reader.follows_calendar)  # type: ignore[arg-type]
    )


def _read_token(reader: _Reader, m: re.Match[str]) -> str | None:
    kind = m.lastgroup
    if kind == "range":
        start, end = _minutes(m.group("start")), _minutes(m.group("end"))
        if start is None or end is None or start >= DAY_MINUTES:
            return f"not read: {m.group(0)!r} is not a time range"
        if m.group("next") or end <= start:
            end += DAY_MINUTES  # overnight
        if end - start > DAY_MINUTES:
            return f"not read: {m.group(0)!r} is longer than a day"
        reader.add((start, end))
    elif kind == "allday":
        reader.add((0, DAY_MINUTES))
    elif kind == "holidays":
        reader.name_days(frozenset(), holiday=True)
    elif kind == "workdays":
        reader.follows_calendar = reader.follows_calendar or m.group(0) == "工作日"
        reader.name_days(_days_of(kind, m.group(0)))
    elif kind == "yearround":
        reader.follows_calendar = True
        reader.holiday = None
        reader.name_days(_ALL)
    elif kind in {"dayrange", "endays", "daylist", "enday", "every", "weekend"}:
        reader.name_days(_days_of(kind, m.group(0)))
    elif kind == "closed":
        if reader.days is None:
            return f"not read: {m.group(0)!r} does not say which days"
        reader.close()
    elif kind == "open":
        reader.open_as_usual()
    return None


@functools.lru_cache(maxsize=65_536)
def schedule_of(text: str) -> Schedule | None:
    """:func:`parse_hours`'s schedule for ``text``, cached: a city's providers share a few
    hundred distinct texts, and the stores ask for each on every open-at query."""
    return parse_hours(text).schedule


def open_state(text: str, at: dt.datetime) -> OpenState:
    """Whether hours written as ``text`` are open at ``at`` (unknown when not readable).

    Examples
    --------
    >>> open_state("20:00-02:00", dt.datetime(2026, 12, 4, 1, 30)).value
    'open'
    >>> open_state("", dt.datetime(2026, 12, 4, 1, 30)).value
    'unknown'
    """
    schedule = schedule_of(text)
    return OpenState.UNKNOWN if schedule is None else schedule.state(at)


def admits_hours(text: str, at: dt.datetime, include_unknown: bool) -> bool:
    """Whether a provider with hours ``text`` passes an open-at filter."""
    state = open_state(text, at)
    return state is OpenState.OPEN or (include_unknown and state is OpenState.UNKNOWN)


class HoursIndex:
    """The opening hours of a store's providers by position, for open-at masks.

    A city's providers share few distinct texts (a few hundred among a million), so a
    mask costs one schedule check per distinct text and one gather over the positions.

    Examples
    --------
    >>> index = HoursIndex(["24小时", "", "周一至周五 9:00-18:00", "24小时"])
    >>> index.mask(dt.datetime(2026, 12, 5, 10, 0), include_unknown=False).tolist()
    [True, False, False, True]
    >>> index.mask(dt.datetime(2026, 12, 5, 10, 0), include_unknown=True).tolist()
    [True, True, False, True]
    """

    _KEPT = 32  # masks kept: the current minute's, for a few filter variants

    def __init__(self, texts: Sequence[str]) -> None:
        distinct, code = np.unique(np.array(list(texts), dtype=object), return_inverse=True)
        self.texts: list[str] = [str(t) for t in distinct]
        self.code = code.astype(np.intp).reshape(-1)
        self._masks: dict[tuple[dt.datetime, bool], npt.NDArray[np.bool_]] = {}
        self._by_text: dict[tuple[dt.datetime, bool], npt.NDArray[np.bool_]] = {}
        self._lock = threading.Lock()

    def open_texts(self, at: dt.datetime, *, include_unknown: bool) -> list[str]:
        """The distinct texts that pass an open-at filter at ``at``."""
        admitted = self._admitted(at, include_unknown)
        return [t for t, ok in zip(self.texts, admitted.tolist(), strict=True) if ok]

    def mask(self, at: dt.datetime, *, include_unknown: bool) -> npt.NDArray[np.bool_]:
        """Which positions pass an open-at filter at ``at`` (hours are kept to the minute)."""
        key = (at.replace(second=0, microsecond=0), include_unknown)
        found = self._masks.get(key)
        if found is None:
            by_text = self._admitted(at, include_unknown)
            found = by_text[self.code] if self.code.size else np.zeros(0, dtype=bool)
            self._keep(self._masks, key, found)
        return found

    def _admitted(self, at: dt.datetime, include_unknown: bool) -> npt.NDArray[np.bool_]:
        """Whether each distinct text passes at ``at``'s minute: one schedule check per
        text, kept for the minute (every open-at search of that minute asks the same)."""
        key = (at.replace(second=0, microsecond=0), include_unknown)
        found = self._by_text.get(key)
        if found is None:
            found = np.fromiter(
                (admits_hours(t, key[0], include_unknown) for t in self.texts),
                bool,
                len(self.texts),
            )
            self._keep(self._by_text, key, found)
        return found

    def _keep(
        self,
        kept: dict[tuple[dt.datetime, bool], npt.NDArray[np.bool_]],
        key: tuple[dt.datetime, bool],
        value: npt.NDArray[np.bool_],
    ) -> None:
        with self._lock:
            if len(kept) >= self._KEPT:
                kept.pop(next(iter(kept)))
            kept[key] = value
