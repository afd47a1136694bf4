"""E2SFCA accessibility through PySAL ``access`` (Luo & Qi 2009), with distance decay.

The enhanced two-step floating catchment area measure, for demand cells ``i`` with
``P_i`` residents and providers ``j`` with capacity ``S_j``, distance ``d_ij`` and decay
weight ``W(d)`` (zero beyond the catchment)::

    R_j = S_j / Σ_i W(d_ij) P_i          step 1: capacity per resident weighed in reach
    A_i = Σ_j W(d_ij) R_j                step 2: what a resident of cell i can reach

``A_i`` is in capacity units (practitioners) per resident. The computation is PySAL's
``access.Access.enhanced_two_stage_fca``; this module only builds its inputs from the grid
(cells and providers by position, geodesic metres as the cost) and fixes two edge cases
``access`` leaves open: a cell with no provider in reach gets 0, and a cell whose reachable
providers have no residents at all in reach (only unpopulated cells) gets NaN, not the
``inf`` of a division by zero.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from access import Access, weights

Decay = Literal["step", "gaussian"]
WeightFunction = Callable[[float], float]

# Luo & Qi's three travel zones and their Gaussian-derived weights, here at a third, two
# thirds and all of the catchment.
STEP_WEIGHTS: tuple[tuple[float, float], ...] = ((1 / 3, 1.0), (2 / 3, 0.68), (1.0, 0.22))


def decay_function(decay: Decay, catchment_m: float) -> WeightFunction:
    """The distance-decay weight of ``access.weights`` for a catchment.

    Parameters
    ----------
    decay
        ``"step"``: 1.0, 0.68, 0.22 in the inner, middle and outer third of the catchment
        (E2SFCA's classic zones); ``"gaussian"``: ``exp(-d² / 2σ²)`` with σ half the
        catchment (0.135 at its edge).
    catchment_m
        The catchment radius, metres; beyond it the weight is 0.

    Returns
    -------
    Callable[[float], float]
        The weight of a distance in metres.

    Examples
    --------
    >>> w = decay_function("step", 900.0)
    >>> [w(0.0), w(300.0), w(450.0), w(900.0), w(901.0)]
    [1.0, 1.0, 0.68, 0.22, 0]
    """
    if catchment_m <= 0:
        raise ValueError("catchment_m must be positive")
    if decay == "step":
        fn: WeightFunction = weights.step_fn(
            {share * catchment_m: weight for share, weight in STEP_WEIGHTS}
        )
        return fn
    if decay == "gaussian":
        gaussian: WeightFunction = weights.gaussian(catchment_m / 2)
        return gaussian
    raise ValueError(f"decay must be 'step' or 'gaussian', got {decay!r}")


def e2sfca(
    demand: npt.ArrayLike,
    capacity: npt.ArrayLike,
    cell_pos: npt.ArrayLike,
    provider_pos: npt.ArrayLike,
    metres: npt.ArrayLike,
    *,
    catchment_m: float,
    decay: Decay = "step",
) -> npt.NDArray[np.float64]:
    """E2SFCA accessibility of every cell, computed by PySAL ``access``.

    Parameters
    ----------
    demand
        Residents of each cell (cell ``i`` is position ``i``).
    capacity
        Capacity of each provider (provider ``j`` is position ``j``).
    cell_pos, provider_pos, metres
        The (cell, provider, geodesic metres) pairs within reach, e.g. from
        :func:`gaps.distances.pairs_within`; pairs beyond ``catchment_m`` are ignored.
    catchment_m
        The catchment radius, metres.
    decay
        The distance decay, see :func:`decay_function`.

    Returns
    -------
    numpy.ndarray
        Per cell, capacity per resident within reach: 0 with no provider in reach, NaN when
        the providers in reach have no residents in reach.

    Examples
    --------
    One provider of 10 practitioners, two cells of 100 and 300 residents at 100 m and 500 m
    (weights 1.0 and 0.68): R = 10 / (100 + 0.68 × 300) = 0.0329, A = (0.0329, 0.0224).

    >>> e2sfca([100, 300], [10], [0, 1], [0, 0], [100.0, 500.0], catchment_m=900).round(4)
    array([0.0329, 0.0224])
    """
    demand_a = np.asarray(demand, dtype=np.float64)
    capacity_a = np.asarray(capacity, dtype=np.float64)
    cost = pd.DataFrame(
        {
            "cell": np.asarray(cell_pos, dtype=np.int64),
            "provider": np.asarray(provider_pos, dtype=np.int64),
            "metres": np.asarray(metres, dtype=np.float64),
        }
    )
    result = np.zeros(demand_a.size, dtype=np.float64)
    if cost.empty or capacity_a.size == 0:
        return result
    model = Access(
        demand_df=pd.DataFrame({"residents": demand_a}).rename_axis("cell"),
        demand_index=True,
        demand_value="residents",
        supply_df=pd.DataFrame({"capacity": capacity_a}).rename_axis("provider"),
        supply_index=True,
        supply_value="capacity",
        cost_df=cost,
        cost_origin="cell",
        cost_dest="provider",
        cost_name="metres",
    )
    _quiet_access_log()
    scores = model.enhanced_two_stage_fca(
        name="e2sfca", max_cost=catchment_m, weight_fn=decay_function(decay, catchment_m)
    )["e2sfca_capacity"]
    reached = scores.dropna()
    values = reached.to_numpy(np.float64)
    # inf (or NaN from inf * 0) only where every provider in reach has no one in reach.
    result[reached.index.to_numpy(np.int64)] = np.where(np.isfinite(values), values, np.nan)
    return result


def _quiet_access_log() -> None:
    # access logs informational notes to stderr at INFO; the service logs warnings only.
    logging.getLogger("access").setLevel(logging.WARNING)
