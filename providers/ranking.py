"""Nearest-match ranking: hard filters, then order by metres or by a documented score.

The score of a provider at distance ``d`` metres is::

    score = w_distance * 0.5 ** (d / half_distance_m)      # distance decay, 1 at the door
          + w_grade    * grade_value                        # 5A 1.0, 4A 0.8, 3A 0.6, 2A 0.4, A 0.2
          + w_certified * certified_share                   # 安心服务证 holders / practitioners

with the weights normalised to sum to 1, so a score lies in [0, 1]. Grassroots stations are
not graded; they get the value of a 3A company (0.6), the middle of the scale, so they
neither win nor lose on a grade they cannot have.

Ranking by score is exact, not a heuristic: candidates are pulled from the store in true
distance order, and the search stops only when no provider farther away could still beat
the ``limit``-th score (its distance term is at most ``w_distance * decay(d_last)`` and
the other two terms at most ``w_grade + w_certified``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from providers.model import Grade, Provider
from providers.store import Candidate, Filters, ProviderStore


class Sort(StrEnum):
    SCORE = "score"
    DISTANCE = "distance"


GRADE_VALUES: dict[Grade, float] = {
    Grade.A5: 1.0,
    Grade.A4: 0.8,
    Grade.A3: 0.6,
    Grade.A2: 0.4,
    Grade.A1: 0.2,
}
STATION_GRADE_VALUE = GRADE_VALUES[Grade.A3]
MAX_GRADE_VALUE = max(GRADE_VALUES.values())

DEFAULT_HALF_DISTANCE_M = 2_000.0
HALF_DISTANCE_BOUNDS_M = (100.0, 50_000.0)
# A request may re-weigh the score, but distance keeps at least this raw weight: with no
# distance term at all "nearest" would mean "best anywhere in the city", a full scan.
WEIGHT_BOUNDS = {"distance": (0.1, 1.0), "grade": (0.0, 1.0), "certified": (0.0, 1.0)}
LIMIT_BOUNDS = (1, 100)
RADIUS_BOUNDS_M = (1.0, 200_000.0)


@dataclass(frozen=True, slots=True)
class Weights:
    """Relative weights of the three score terms (only their ratios matter)."""

    distance: float = 0.6
    grade: float = 0.3
    certified: float = 0.1

    def __post_init__(self) -> None:
        if min(self.distance, self.grade, self.certified) < 0 or self.distance <= 0:
            raise ValueError("weights must be >= 0, and the distance weight > 0")

    def out_of_bounds(self) -> list[str]:
        """The weights outside :data:`WEIGHT_BOUNDS`, as messages."""
        return [
            f"w_{name} must be within {low:g}..{high:g}, got {getattr(self, name):g}"
            for name, (low, high) in WEIGHT_BOUNDS.items()
            if not low <= getattr(self, name) <= high
        ]

    def normalised(self) -> Weights:
        total = self.distance + self.grade + self.certified
        return Weights(self.distance / total, self.grade / total, self.certified / total)


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


def grade_value(p: Provider) -> float:
    """The grade term's value in [0, 1]; stations get the middle of the scale."""
    return STATION_GRADE_VALUE if p.credit_grade is None else GRADE_VALUES[p.credit_grade]


def distance_decay(distance_m: float, half_distance_m: float) -> float:
    """1 at the query point, halving every ``half_distance_m`` metres."""
    return float(0.5 ** (distance_m / half_distance_m))


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

    fetch = max(4 * query.limit, 32)
    while True:
        candidates = store.nearest(query.lon, query.lat, query.filters, fetch)
        matches = sorted(
            (score_candidate(c, weights, query.half_distance_m) for c in candidates),
            key=_by_score,
        )
        if len(candidates) < fetch or _no_farther_provider_can_win(
            matches, candidates, query, weights
        ):
            return matches[: query.limit]
        fetch *= 4


def _no_farther_provider_can_win(
    matches: Sequence[Match],
    candidates: Sequence[Candidate],
    query: NearestQuery,
    weights: Weights,
) -> bool:
    if len(matches) < query.limit:
        return False
    farthest_fetched = candidates[-1].distance_m
    best_unseen = (
        weights.distance * distance_decay(farthest_fetched, query.half_distance_m)
        + weights.grade * MAX_GRADE_VALUE
        + weights.certified * 1.0
    )
    # Strict: an unseen provider tying on score at the same distance could sort first by id.
    return matches[query.limit - 1].score > best_unseen
