"""Exact best-by-score search over a fixed set of providers, in memory.

The score (:mod:`providers.scoring`) adds a distance term to a provider's *standing* (its
grade and certified-share terms). One distance-ordered stream over all providers can only
stop once the distance term has fallen below the gap between the best score found and the
best standing anywhere, which in a sparse part of a city — or just outside it — means
walking most of the store. So providers are partitioned into bands of nearly equal standing
(grade class × certified-share slice, and whether their point is only approximate), and
the search is a threshold algorithm over the bands:

* a band's bound is ``w_distance * decay(d) + its best standing``, where ``d`` is a lower
  bound on the geodesic distance of everything in it not fetched yet (the chord distance
  of the last fetched: a chord is never longer than the geodesic);
* in rounds, every band whose bound still reaches the ``k``-th best score found so far
  gives its next providers, nearest first, but never beyond the distance at which its best
  standing could still reach that score (:meth:`ScoreSpec.radius_m`);
* the search stops when every band's bound is below the ``k``-th best score.

A band whose standing cannot reach the answer is never read, so the cost tracks the
answer: near the centre of a dense city a few high bands are read for a few hundred
metres; far from any provider, the bands of the best standing answer on their own.

All the bands of a category live in one k-d tree over earth-centred coordinates, each band
lifted apart from the others along a fourth axis, so that one query of the tree visits
every band of a round.

The final order is computed with :meth:`ScoreSpec.score` on plain floats (ties by metres,
then id), exactly as the brute-force definition does; the search keeps a margin of
:data:`SCORE_MARGIN` so that numpy's last bit cannot change which providers are returned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from geo.geodesy import ecef_point, ecef_xyz, geodesic_distance_m, geodesic_upper_bound_m
from providers.model import Category, Kind
from providers.scoring import (
    CERTIFIED_BUCKETS,
    GRADE_CLASS_VALUES,
    STATION_CLASS,
    ScoreSpec,
    certified_bucket,
    certified_share,
)
from providers.store import Filters

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# Scores closer than this are treated as possibly equal while searching (floats from
# numpy and from plain Python may differ in the last bit of a power).
SCORE_MARGIN = 1e-9
# Chord bounds are widened by this many metres: the k-d tree compares squared distances.
_CHORD_SLACK_M = 1e-3


# Bands share one k-d tree per category, each band lifted this far along a fourth axis:
# farther than any two points on the earth, so a query in one band never reaches another.
_BAND_SEPARATION_M = 1e8
# What the first visit fetches from each band: enough for a first k-th best score that is
# nearly the final one, few enough that visiting every band at once stays cheap.
_FIRST_FETCH = 3
# Up to this many admitted providers, scoring every one of them on chord distances (one
# vectorised pass over arrays kept per filter) costs less than the rounds of a band search.
SCAN_ROWS = 4_000
# Filters whose scan arrays a category keeps (each at most SCAN_ROWS rows).
_SCANS_KEPT = 64


class _Group:
    """The bands of one category (or all) in one k-d tree, band by band: band ``j`` is
    rows ``start[j]:start[j] + size[j]`` of the tree, lifted ``j`` separations along the
    fourth axis; ``positions`` maps tree rows back to index positions."""

    def __init__(
        self,
        members: IntArray,
        key: IntArray,
        xyz: FloatArray,
        share: FloatArray,
        scan_rows: int,
    ) -> None:
        self.scan_rows = scan_rows
        order = members[np.argsort(key[members], kind="stable")]
        keys, start, size = np.unique(key[order], return_index=True, return_counts=True)
        band, self.approximate = np.divmod(keys, 2)
        self.approximate = self.approximate.astype(bool)
        self.grade_class, self.bucket = np.divmod(band, CERTIFIED_BUCKETS)
        self.grade_value = np.asarray(GRADE_CLASS_VALUES, dtype=np.float64)[self.grade_class]
        self.start = start.astype(np.int64)
        self.size = size.astype(np.int64)
        self.lift_m = np.arange(keys.size, dtype=np.float64) * _BAND_SEPARATION_M
        self.best_share = np.maximum.reduceat(share[order], start) if order.size else np.empty(0)
        self.positions = order
        points = np.column_stack([xyz[order], np.repeat(self.lift_m, self.size)])
        self.tree = cKDTree(points if order.size else np.empty((0, 4)))
        self._admitted: dict[tuple[object, ...], IntArray] = {}
        self._scans: dict[tuple[object, ...], _Scan | None] = {}

    def admitted(self, filters: Filters) -> IntArray:
        """The bands whose providers pass ``filters`` (all but the radius): with bands cut
        by kind, grade, certified slice and approximation, every other filter is a choice
        of bands. Cached: there are a few hundred combinations at most."""
        key = (filters.kind, filters.min_grade, filters.certified_only, filters.include_approximate)
        found = self._admitted.get(key)
        if found is None:
            station = self.grade_class == STATION_CLASS
            keep = np.ones(self.size.size, dtype=bool)
            if filters.kind is not None:
                keep &= station == (filters.kind is Kind.STATION)
            if filters.min_grade is not None:
                keep &= station | (self.grade_class >= filters.min_grade.rank)
            if filters.certified_only:
                keep &= self.bucket > 0
            if not filters.include_approximate:
                keep &= ~self.approximate
            found = self._admitted[key] = np.flatnonzero(keep)
        return found

    def scan(self, filters: Filters, index: ScoreIndex) -> _Scan | None:
        """What scoring every provider of the bands ``filters`` admits needs, when they are
        few (``scan_rows``), else ``None``. Kept for the last filters used."""
        key = (filters.kind, filters.min_grade, filters.certified_only, filters.include_approximate)
        if key in self._scans:
            return self._scans[key]
        bands = self.admitted(filters)
        found = None
        if int(self.size[bands].sum()) <= self.scan_rows:
            rows = np.concatenate(
                [np.arange(self.start[j], self.start[j] + self.size[j]) for j in bands]
                or [np.empty(0, dtype=np.int64)]
            ).astype(np.int64)
            positions = self.positions[rows]
            found = _Scan(
                rows=rows,
                xyz=np.ascontiguousarray(self.tree.data[rows, :3]),
                grade_value=index.grade_value[positions],
                share=index.share[positions],
            )
        if len(self._scans) >= _SCANS_KEPT:
            self._scans.pop(next(iter(self._scans)))
        self._scans[key] = found
        return found


@dataclass(frozen=True, slots=True)
class _Scan:
    """The admitted providers of a small category, as contiguous arrays (tree rows, their
    earth-centred points, grade values, certified shares)."""

    rows: IntArray
    xyz: FloatArray
    grade_value: FloatArray
    share: FloatArray


class ScoreIndex:
    """The best providers by score, exactly, for any weights, filters and point.

    Parameters
    ----------
    ids
        Provider ids by position: the last tie-break.
    lon, lat
        WGS-84 degrees of each position.
    grade_class
        0 for a station, else the company's grade rank (1 for A … 5 for 5A).
    practitioners, certified_practitioners
        Counts, for the certified share.
    categories
        For each category, which positions offer it.
    approximate
        Which positions are located only to their district.
    scan_rows
        Up to this many admitted providers, a query scores them all instead of searching
        the bands (:data:`SCAN_ROWS`); 0 always searches.

    Examples
    --------
    >>> from providers.scoring import Weights
    >>> index = ScoreIndex(
    ...     ids=["near-A", "far-5A"], lon=np.array([113.3245, 113.3245]),
    ...     lat=np.array([23.1084, 23.1154]), grade_class=np.array([1, 5]),
    ...     practitioners=np.array([10, 10]), certified_practitioners=np.array([0, 10]),
    ...     categories={c: np.array([True, True]) for c in Category},
    ...     approximate=np.array([False, False]))
    >>> positions, metres = index.best(113.3245, 23.1064, Filters(), 2,
    ...                                ScoreSpec.of(Weights(), 2_000.0))
    >>> positions.tolist(), [round(m) for m in metres]
    ([1, 0], [997, 221])
    """

    def __init__(
        self,
        *,
        ids: Sequence[str],
        lon: FloatArray,
        lat: FloatArray,
        grade_class: npt.ArrayLike,
        practitioners: npt.ArrayLike,
        certified_practitioners: npt.ArrayLike,
        categories: Mapping[Category, BoolArray],
        approximate: BoolArray,
        scan_rows: int = SCAN_ROWS,
    ) -> None:
        self.ids = ids
        self.lon = np.asarray(lon, dtype=np.float64)
        self.lat = np.asarray(lat, dtype=np.float64)
        self.size = int(self.lon.size)
        classes = np.asarray(grade_class, dtype=np.int64)
        self.grade_value = np.asarray(GRADE_CLASS_VALUES, dtype=np.float64)[classes]
        self.share = certified_share(practitioners, certified_practitioners)
        bucket = certified_bucket(practitioners, certified_practitioners)
        approx = np.asarray(approximate, dtype=bool)
        key = (classes * CERTIFIED_BUCKETS + bucket) * 2 + approx
        xyz = ecef_xyz(self.lon, self.lat) if self.size else np.empty((0, 3))
        everyone = np.ones(self.size, dtype=bool)
        self._groups: dict[Category | None, _Group] = {
            category: _Group(np.flatnonzero(mask), key, xyz, self.share, scan_rows)
            for category, mask in [(None, everyone), *categories.items()]
        }

    def best(
        self,
        lon: float,
        lat: float,
        filters: Filters,
        k: int,
        spec: ScoreSpec,
        *,
        allowed: BoolArray | None = None,
    ) -> tuple[IntArray, FloatArray]:
        """The ``k`` best positions by ``spec``'s score among those passing ``filters``.

        Parameters
        ----------
        lon, lat
            The query point, WGS-84 degrees.
        filters
            Hard filters; ``radius_m`` in geodesic metres.
        k
            How many to return at most.
        spec
            Weights and half distance.
        allowed
            By position, which providers may be returned at all (a filter the bands do
            not cut by, such as opening hours at a time): the others are fetched like any
            provider, keeping every band's bound true, but never counted or returned.

        Returns
        -------
        (positions, distances_m)
            Best first (ties by metres, then id); shorter than ``k`` only when fewer pass.
        """
        group = self._groups[filters.category]
        bands = group.admitted(filters)
        if k <= 0 or not bands.size:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        search = _Search(
            self, group, bands, lon=lon, lat=lat, radius_m=filters.radius_m, k=k, spec=spec
        )
        search.allowed = allowed
        scan = group.scan(filters, self)
        return search.scan(scan) if scan is not None else search.run()


class _Search:
    """One query's threshold search over the bands (see the module's docstring), in
    rounds: each round visits every band whose bound still reaches the ``k``-th best score
    found so far, with one k-d tree query for all of them.

    While searching, distances are chords, which the k-d tree gives for free: a provider's
    score is at most its score at the chord distance and at least its score at
    :func:`geo.geodesy.geodesic_upper_bound_m` of the chord (a millimetre more at 10 km).
    The ``k``-th best score found so far is taken over the lower bounds; the geodesic
    distances of the few providers whose upper bound still reaches it are computed once,
    at the end.
    """

    def __init__(
        self,
        index: ScoreIndex,
        group: _Group,
        bands: IntArray,
        *,
        lon: float,
        lat: float,
        radius_m: float | None,
        k: int,
        spec: ScoreSpec,
    ) -> None:
        self.index, self.group = index, group
        self.lon, self.lat, self.radius_m, self.k, self.spec = lon, lat, radius_m, k, spec
        self.point = ecef_point(lon, lat)
        w = spec.weights
        # Per admitted band: its best standing, and the bound of everything in it not
        # fetched yet (the whole distance term until it is visited).
        self.band = bands
        self.standing = w.grade * group.grade_value[bands] + w.certified * group.best_share[bands]
        self.bound = self.standing + w.distance
        self.fetched = np.zeros(bands.size, dtype=np.int64)
        self.open = np.ones(bands.size, dtype=bool)
        self.seen: set[int] = set()  # tree rows fetched
        self.rows: list[IntArray] = []
        self.high: list[FloatArray] = []  # score at the chord: an upper bound
        self.low = np.empty(0, dtype=np.float64)  # lower bounds, counted for the k-th
        self.kth_score = -np.inf  # the k-th best lower bound found so far
        self.allowed: BoolArray | None = None  # by position; None: all

    def run(self) -> tuple[IntArray, FloatArray]:
        while True:
            visit = np.flatnonzero(self.open & (self.bound >= self.kth_score - SCORE_MARGIN))
            if not visit.size:
                return self._answer()
            self._round(visit)

    def scan(self, scan: _Scan) -> tuple[IntArray, FloatArray]:
        """Score every provider of ``scan`` on its chord distance, then answer as a search
        does."""
        offset = scan.xyz - self.point
        chords = np.sqrt(np.einsum("ij,ij->i", offset, offset))
        rows, grade, share = scan.rows, scan.grade_value, scan.share
        if self.allowed is not None:
            keep = self.allowed[self.group.positions[rows]]
            rows, chords, grade, share = rows[keep], chords[keep], grade[keep], share[keep]
        if self.radius_m is not None:
            inside = chords <= self.radius_m + _CHORD_SLACK_M
            rows, chords, grade, share = rows[inside], chords[inside], grade[inside], share[inside]
        if rows.size:
            self._add(rows, chords, grade, share)
        return self._answer()

    def _reach_m(self, visit: IntArray) -> FloatArray:
        """How far each band's best standing can still reach the k-th score, in metres
        (:meth:`ScoreSpec.radius_m` over arrays); capped by the query's radius."""
        w_distance = self.spec.weights.distance
        needed = self.kth_score - SCORE_MARGIN - self.standing[visit]
        with np.errstate(divide="ignore", invalid="ignore"):
            reach = self.spec.half_distance_m * np.log2(w_distance / needed)
        reach = np.where(needed <= 0, np.inf, np.where(needed > w_distance, -1.0, reach))
        return reach if self.radius_m is None else np.minimum(reach, self.radius_m)

    def _round(self, visit: IntArray) -> None:
        reach = self._reach_m(visit)
        hopeless = reach < 0
        if hopeless.any():
            self.open[visit[hopeless]] = False
            visit, reach = visit[~hopeless], reach[~hopeless]
            if not visit.size:
                return
        group, band = self.group, self.band[visit]
        sizes = group.size[band]
        # A k-d tree query cannot resume, so each visit fetches twice what the last did
        # (the re-fetched prefix costs no more than the new rows).
        want = int(np.minimum(sizes, np.maximum(2 * self.fetched[visit], _FIRST_FETCH)).max())
        if self.kth_score > -np.inf:
            want = max(want, self.k)
        queries = np.empty((visit.size, 4))
        queries[:, :3] = self.point
        queries[:, 3] = group.lift_m[band]
        # Chord <= geodesic, so a chord bound of a geodesic reach loses nothing.
        limit = min(float(reach.max()) + _CHORD_SLACK_M, _BAND_SEPARATION_M / 2)
        chords, rows = group.tree.query(queries, k=want, distance_upper_bound=limit)
        chords = chords.reshape(visit.size, want)
        rows = rows.reshape(visit.size, want)
        # Rows past the end of the tree stand for "no more" (their chord is infinite).
        inside = chords <= (reach + _CHORD_SLACK_M)[:, None]
        inside &= np.isfinite(chords)
        found = inside.sum(axis=1)
        self.fetched[visit] = found
        # A band returning fewer than asked has nothing more within reach; one returning
        # all it holds has nothing more at all.
        over = (found < want) | (found >= sizes)
        self.open[visit[over]] = False
        more = ~over
        self.bound[visit[more]] = self.standing[visit[more]] + self.spec.weights.distance * (
            np.power(0.5, chords[more, want - 1] / self.spec.half_distance_m)
        )
        # Skip what earlier visits fetched: by identity, as points at equal distances may
        # come back in another order.
        rows, chords = rows[inside], chords[inside]
        seen = self.seen
        fresh = np.fromiter((r not in seen for r in rows.tolist()), bool, rows.size)
        if fresh.any():
            rows, chords = rows[fresh], chords[fresh]
            seen.update(rows.tolist())
            if self.allowed is not None:
                keep = self.allowed[self.group.positions[rows]]
                rows, chords = rows[keep], chords[keep]
            if rows.size:
                self._add(rows, chords)

    def _add(
        self,
        rows: IntArray,
        chords: FloatArray,
        grade: FloatArray | None = None,
        share: FloatArray | None = None,
    ) -> None:
        if grade is None or share is None:
            positions = self.group.positions[rows]
            grade, share = self.index.grade_value[positions], self.index.share[positions]
        farthest = geodesic_upper_bound_m(chords)
        low = self.spec.scores(farthest, grade, share)
        if self.radius_m is not None:
            # Only providers certainly inside the radius count for the k-th score.
            low[farthest > self.radius_m] = -np.inf
        self.rows.append(rows)
        self.high.append(self.spec.scores(chords, grade, share))
        self.low = np.concatenate([self.low, low])
        if self.low.size >= self.k:
            kth = self.low.size - self.k
            self.kth_score = float(np.partition(self.low, kth)[kth])

    def _answer(self) -> tuple[IntArray, FloatArray]:
        # The contenders: everything whose upper bound reaches the k-th lower bound, at
        # their true distances, scored on plain floats and ordered as the definition does.
        if not self.rows:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        rows, high = np.concatenate(self.rows), np.concatenate(self.high)
        index, spec = self.index, self.spec
        positions = self.group.positions[rows[high >= self.kth_score - SCORE_MARGIN]]
        metres = geodesic_distance_m(
            self.lon, self.lat, index.lon[positions], index.lat[positions]
        ).tolist()
        ranked = sorted(
            (-spec.score(d, float(index.grade_value[p]), float(index.share[p])), d, index.ids[p], p)
            for p, d in zip(positions.tolist(), metres, strict=True)
            if self.radius_m is None or d <= self.radius_m
        )[: self.k]
        return (
            np.array([r[3] for r in ranked], dtype=np.int64),
            np.array([r[1] for r in ranked], dtype=np.float64),
        )
