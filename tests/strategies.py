"""Hypothesis strategies the property tests of the stores and the score index share."""

from __future__ import annotations

import datetime as dt

from hypothesis import strategies as st

from providers.model import Category, Grade, Kind
from providers.scoring import Weights
from providers.store import Filters

# Opening hours of every kind the open-at filter meets: weekday, overnight, all day,
# following the holiday calendar, and unknown (empty or not understood).
HOURS = [
    "周一至周五 9:00-18:00",
    "周一至周五 9:00-18:00，节假日休息",
    "每天 8:00-20:00",
    "20:00-02:00",
    "24小时",
    "工作日 9:00-17:00",
    "",
    "电话预约",
]
opening_hours = st.sampled_from(HOURS)
# Local times (Asia/Shanghai): a weekday, National Day, a make-up working Saturday, a
# Saturday night, and a date past the holiday calendar's years.
OPEN_TIMES = [
    dt.datetime(2026, 12, 3, 10, 0),
    dt.datetime(2026, 10, 1, 10, 0),
    dt.datetime(2026, 10, 10, 10, 0),
    dt.datetime(2026, 12, 6, 1, 30),
    dt.datetime(2099, 3, 2, 10, 0),
]
# Every filter a nearest or score query takes, each free (radius in metres).
filters = st.builds(
    Filters,
    category=st.none() | st.sampled_from(list(Category)),
    min_grade=st.none() | st.sampled_from(list(Grade)),
    kind=st.none() | st.sampled_from(list(Kind)),
    certified_only=st.booleans(),
    radius_m=st.none() | st.floats(50, 30_000),
    include_approximate=st.booleans(),
    open_at=st.none() | st.sampled_from(OPEN_TIMES),
    include_unknown_hours=st.booleans(),
)
# Score weights: distance never zero (only their ratios matter).
weights = st.builds(Weights, st.floats(0.1, 1.0), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
