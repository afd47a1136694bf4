"""Nearest-match ranking: hard filters, then order by metres or by a documented score.

The score is defined in :mod:`providers.scoring`. Ranking by score is exact, not a
heuristic: the store returns the ``limit`` best providers by that score (ties by metres,
then id), found by a threshold search over bands of providers of nearly equal standing
(:mod:`providers.score_index`) whose cost follows the answer, not the size of the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from providers.model import Provider
from providers.scoring import (
    DEFAULT_HALF_DISTANCE_M,
    HALF_DISTANCE_BOUNDS_M,
    ScoreSpec,
    Weights,
    distance_decay,
    grade_value,
)
from providers.store import Candidate, Filters, ProviderStore


class Sort(StrEnum):
    SCORE = "score"
    DISTANCE = "distance"


LIMIT_BOUNDS = (1, 100)
RADIUS_BOUNDS_M = (1.0, 200_000.0)


@dataclass(frozen=True, slots=True)
class NearestQuery:
    """A resident's question, in WGS-84 degrees (lon, lat)."""

    lon: float
    lat: float
    filters: Filters = field(default_factory=Filters)
    limit: int = 10
    sort: Sort = Sort.SCORE
    weights: Weights = field(default_factory=Weights)
    half_distance_m: float = DEFAULT_HALF_DISTANCE_M

    def __post_init__(self) -> None:
        if not LIMIT_BOUNDS[0] <= self.limit <= LIMIT_BOUNDS[1]:
            raise ValueError(f"limit must be within {LIMIT_BOUNDS[0]}..{LIMIT_BOUNDS[1]}")
        low, high = HALF_DISTANCE_BOUNDS_M
        if not low <= self.half_distance_m <= high:
            raise ValueError(f"half_distance_m must be within {low:g}..{high:g}")
        problems = self.weights.out_of_bounds()
        if problems:
            raise ValueError("; ".join(problems))
        if self.filters.radius_m is not None:
            low, high = RADIUS_BOUNDS_M
            if not low <= self.filters.radius_m <= high:
                raise ValueError(f"radius_m must be within {low:g}..{high:g}")


@dataclass(frozen=True, slots=True)
class ScorePart:
    """One term of the score: ``points = weight * value``."""

    weight: float
    value: float
    points: float


@dataclass(frozen=True, slots=True)
class Match:
    provider: Provider
    distance_m: float
    score: float
    score_parts: dict[str, ScorePart]


def score_candidate(c: Candidate, weights: Weights, half_distance_m: float) -> Match:
    """Score one candidate; ``weights`` must already be normalised."""
    parts = {
        "distance": _part(weights.distance, distance_decay(c.distance_m, half_distance_m)),
        "grade": _part(weights.grade, grade_value(c.provider)),
        "certified": _part(weights.certified, c.provider.certified_share),
    }
    score = sum(part.points for part in parts.values())
    return Match(c.provider, c.distance_m, score, parts)


def _part(weight: float, value: float) -> ScorePart:
    return ScorePart(weight=weight, value=value, points=weight * value)


def _by_score(m: Match) -> tuple[float, float, str]:
    return (-m.score, m.distance_m, m.provider.id)


def find_nearest(store: ProviderStore, query: NearestQuery) -> list[Match]:
    """The ranked answer to ``query`` from ``store``.

    Parameters
    ----------
    store
        Any store implementing the :class:`~providers.store.ProviderStore` contract.
    query
        The question; coordinates in WGS-84.

    Returns
    -------
    list[Match]
        At most ``query.limit`` matches, best first: by metres for ``sort=distance``, by
        score (ties by metres, then id) for ``sort=score``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from providers.model import Kind, Category
    >>> from providers.stores.embedded import EmbeddedStore
    >>> store = EmbeddedStore(pathlib.Path(tempfile.mkdtemp()))
    >>> _ = store.upsert([Provider(id="st-1", kind=Kind.STATION, name="赤岗街道家政服务站",
    ...     categories=frozenset({Category.NURSING}), lon=113.3354, lat=23.1037)])
    >>> [(m.provider.id, round(m.distance_m)) for m in
    ...     find_nearest(store, NearestQuery(lon=113.3245, lat=23.1064))]
    [('st-1', 1156)]
    """
    weights = query.weights.normalised()
    if query.sort is Sort.DISTANCE:
        candidates = store.nearest(query.lon, query.lat, query.filters, query.limit)
        return [score_candidate(c, weights, query.half_distance_m) for c in candidates]

    spec = ScoreSpec(weights, query.half_distance_m)
    candidates = store.best_by_score(query.lon, query.lat, query.filters, query.limit, spec)
    return sorted(
        (score_candidate(c, weights, query.half_distance_m) for c in candidates), key=_by_score
    )
