"""Hypothesis strategies the property tests of the stores and the score index share."""

from __future__ import annotations

from hypothesis import strategies as st

from providers.model import Category, Grade, Kind
from providers.scoring import Weights
from providers.store import Filters

# Every filter a nearest or score query takes, each free (radius in metres).
filters = st.builds(
    Filters,
    category=st.none() | st.sampled_from(list(Category)),
    min_grade=st.none() | st.sampled_from(list(Grade)),
    kind=st.none() | st.sampled_from(list(Kind)),
    certified_only=st.booleans(),
    radius_m=st.none() | st.floats(50, 30_000),
    include_approximate=st.booleans(),
)
# Score weights: distance never zero (only their ratios matter).
weights = st.builds(Weights, st.floats(0.1, 1.0), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
