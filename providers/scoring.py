"""The score a resident's answer is ranked by, and the bands a search partitions it into.

The score of a provider at distance ``d`` metres is::

    score = w_distance * 0.5 ** (d / half_distance_m)      # distance decay, 1 at the door
          + w_grade    * grade_value                        # 5A 1.0, 4A 0.8, 3A 0.6, 2A 0.4, A 0.2
          + w_certified * certified_share                   # 安心服务证 holders / practitioners

with the weights normalised to sum to 1, so a score lies in [0, 1]. Grassroots stations are
not graded; they get the value of a 3A company (0.6), the middle of the scale, so they
neither win nor lose on a grade they cannot have.

Only the first term depends on where the resident stands. The other two, the provider's
*standing*, are fixed per provider for given weights, so a search for the best scores can
partition providers by standing: a :func:`score_band` holds the providers of one grade class
(a company grade, or "station") and one slice of certified share. Within a band the
standing varies by at most the slice's width, so once a band's nearest unseen provider is
far enough, nothing further in that band can beat a score already found
(:mod:`providers.score_index`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from providers.model import Grade, Provider

GRADE_VALUES: dict[Grade, float] = {
    Grade.A5: 1.0,
    Grade.A4: 0.8,
    Grade.A3: 0.6,
    Grade.A2: 0.4,
    Grade.A1: 0.2,
}
STATION_GRADE_VALUE = GRADE_VALUES[Grade.A3]
# Grade value by grade class: 0 for stations, then a company grade's rank (1 for A … 5 for 5A).
GRADE_CLASS_VALUES: tuple[float, ...] = (
    STATION_GRADE_VALUE,
    *(GRADE_VALUES[g] for g in sorted(Grade, key=lambda g: g.rank)),
)
STATION_CLASS = 0

DEFAULT_HALF_DISTANCE_M = 2_000.0
HALF_DISTANCE_BOUNDS_M = (100.0, 50_000.0)
# A request may re-weigh the score, but distance keeps at least this raw weight: with no
# distance term at all "nearest" would mean "best anywhere in the city", a full scan.
WEIGHT_BOUNDS = {"distance": (0.1, 1.0), "grade": (0.0, 1.0), "certified": (0.0, 1.0)}

# Certified-share slices of a band: none certified, everyone, and (0, 1) cut at these
# percentages. Finer towards 1: where standing decides (far from everyone) the few best
# shares of a slice must not keep the whole slice open (measured on the load benchmark).
CERTIFIED_EDGES_PERCENT: tuple[int, ...] = (25, 50, 75, 90, 97)
CERTIFIED_BUCKETS = len(CERTIFIED_EDGES_PERCENT) + 3
SCORE_BANDS = len(GRADE_CLASS_VALUES) * CERTIFIED_BUCKETS

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


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
class ScoreSpec:
    """How one request scores: normalised weights and the decay's half distance (metres).

    Examples
    --------
    >>> spec = ScoreSpec.of(Weights(), 2_000.0)
    >>> round(spec.score(2_000.0, 0.8, 0.25), 6)   # 0.6 * 0.5 + 0.3 * 0.8 + 0.1 * 0.25
    0.565
    """

    weights: Weights
    half_distance_m: float

    @classmethod
    def of(cls, weights: Weights, half_distance_m: float) -> ScoreSpec:
        return cls(weights.normalised(), half_distance_m)

    def score(self, distance_m: float, grade_value: float, certified_share: float) -> float:
        """The score of one provider, term by term in the documented order."""
        w = self.weights
        return (
            w.distance * distance_decay(distance_m, self.half_distance_m)
            + w.grade * grade_value
            + w.certified * certified_share
        )

    def scores(
        self, distance_m: FloatArray, grade_value: FloatArray, certified_share: FloatArray
    ) -> FloatArray:
        """:meth:`score` over arrays (equal to it up to the last bit of ``0.5 ** x``)."""
        w = self.weights
        decay = np.power(0.5, distance_m / self.half_distance_m)
        return np.asarray(
            w.distance * decay + w.grade * grade_value + w.certified * certified_share,
            dtype=np.float64,
        )

    def standing(self, grade_value: float, certified_share: float) -> float:
        """The two terms that do not depend on distance."""
        return self.weights.grade * grade_value + self.weights.certified * certified_share

    def radius_m(self, score: float, standing: float) -> float:
        """How far a provider of this ``standing`` can be and still score ``score``:
        ``inf`` when its standing alone reaches it, ``-1`` when even at the door it cannot.

        Examples
        --------
        >>> spec = ScoreSpec.of(Weights(), 2_000.0)
        >>> round(spec.radius_m(0.7, 0.4))   # 0.6 * 0.5 ** (d / 2000) = 0.3 at d = 2000
        2000
        >>> spec.radius_m(0.3, 0.4), spec.radius_m(1.1, 0.4)
        (inf, -1.0)
        """
        needed = score - standing
        if needed <= 0:
            return float("inf")
        if needed > self.weights.distance:
            return -1.0
        return float(self.half_distance_m * np.log2(self.weights.distance / needed))


def grade_value(p: Provider) -> float:
    """The grade term's value in [0, 1]; stations get the middle of the scale."""
    return STATION_GRADE_VALUE if p.credit_grade is None else GRADE_VALUES[p.credit_grade]


def distance_decay(distance_m: float, half_distance_m: float) -> float:
    """1 at the query point, halving every ``half_distance_m`` metres."""
    return float(0.5 ** (distance_m / half_distance_m))


def certified_bucket(
    practitioners: npt.ArrayLike, certified_practitioners: npt.ArrayLike
) -> IntArray:
    """The certified-share slice of each provider: 0 when none is certified, the last when
    all are, and between them one per interval of :data:`CERTIFIED_EDGES_PERCENT`. Integer
    arithmetic, so that every store agrees.

    Examples
    --------
    >>> certified_bucket([10, 10, 10, 10, 100, 10, 0], [0, 1, 5, 9, 97, 10, 0]).tolist()
    [0, 1, 3, 5, 6, 7, 0]
    """
    total = np.asarray(practitioners, dtype=np.int64)
    certified = np.asarray(certified_practitioners, dtype=np.int64)
    slice_ = 1 + sum(
        (100 * certified >= edge * total).astype(np.int64) for edge in CERTIFIED_EDGES_PERCENT
    )
    return np.where(
        certified <= 0, 0, np.where(certified >= total, CERTIFIED_BUCKETS - 1, slice_)
    ).astype(np.int64)


def certified_share(
    practitioners: npt.ArrayLike, certified_practitioners: npt.ArrayLike
) -> FloatArray:
    """:attr:`Provider.certified_share <providers.model.Provider.certified_share>` over arrays."""
    total = np.asarray(practitioners, dtype=np.float64)
    certified = np.asarray(certified_practitioners, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(total > 0, np.minimum(1.0, certified / np.maximum(total, 1.0)), 0.0)
    return np.asarray(share, dtype=np.float64)
