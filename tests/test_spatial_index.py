"""GeodesicKNN against brute force, including the fall-back to a full scan."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.geodesy import geodesic_distance_m
from geo.spatial_index import GeodesicKNN


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 3000),
    k=st.integers(1, 30),
    keep_every=st.sampled_from([1, 2, 13, 997]),
    radius=st.none() | st.floats(10, 50_000),
    spread=st.sampled_from([0.001, 0.05, 1.0, 40.0]),
)
def test_matches_brute_force(  # noqa: PLR0917 (hypothesis passes each by name)
    seed: int, n: int, k: int, keep_every: int, radius: float | None, spread: float
) -> None:
    rng = np.random.default_rng(seed)
    lon = np.clip(113.3 + rng.uniform(-spread, spread, n), -180, 180)
    lat = np.clip(23.1 + rng.uniform(-spread, spread, n) / 2, -89, 89)
    qlon, qlat = 113.3 + rng.uniform(-spread, spread), 23.1 + rng.uniform(-spread, spread) / 2
    knn = GeodesicKNN(lon, lat)

    def accept(pos: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        return np.asarray(pos % keep_every == 0)

    got_pos, got_dist = knn.nearest(qlon, qlat, k, accept=accept, max_distance_m=radius)

    dist = geodesic_distance_m(qlon, qlat, lon, lat)
    ok = (np.arange(n) % keep_every == 0) & (True if radius is None else dist <= radius)
    idx = np.nonzero(ok)[0]
    want = idx[np.lexsort((idx, dist[idx]))][:k]
    assert got_pos.tolist() == want.tolist()
    assert np.allclose(got_dist, dist[want])


def test_subset_index_returns_only_its_positions() -> None:
    lon = np.array([113.0, 113.1, 113.2, 113.3])
    lat = np.array([23.0, 23.0, 23.0, 23.0])
    knn = GeodesicKNN(lon, lat, positions=np.array([1, 3]))
    pos, _ = knn.nearest(113.0, 23.0, 4)
    assert pos.tolist() == [1, 3]


def test_empty_index() -> None:
    knn = GeodesicKNN(np.array([]), np.array([]))
    pos, dist = knn.nearest(113.0, 23.0, 3)
    assert pos.size == 0 and dist.size == 0


def test_concurrent_queries_give_the_single_threaded_answers() -> None:
    """The API queries one index from many threads at once; libspatialindex is not safe for
    that on its own (under load a worker died of heap corruption before the lock)."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(7)
    n = 50_000
    knn = GeodesicKNN(113.3 + rng.uniform(-0.3, 0.3, n), 23.1 + rng.uniform(-0.2, 0.2, n))
    queries = [(113.3 + rng.uniform(-0.3, 0.3), 23.1 + rng.uniform(-0.2, 0.2)) for _ in range(400)]
    expected = [knn.nearest(x, y, 10)[0].tolist() for x, y in queries]
    with ThreadPoolExecutor(max_workers=16) as pool:
        for _ in range(5):
            got = list(pool.map(lambda q: knn.nearest(q[0], q[1], 10)[0].tolist(), queries))
            assert got == expected
