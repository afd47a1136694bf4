"""Supply: which providers serve each category, and how much each can serve.

The filters mean exactly what they mean in the nearest-match API
(:class:`providers.store.Filters`): inactive providers never count; ``min_grade`` applies to
companies, so ungraded grassroots stations stay; ``certified_only`` keeps providers with at
least one 安心服务证 holder; providers located only to their district are left out unless
``include_approximate`` (their point is a stand-in, not where they are).

Capacity weights a provider in the accessibility measure: its practitioners, counted as at
least 1 so that a provider with no staff figure on file still counts as a provider; or 1
for every provider (``capacity="count"``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from providers.model import Category, Grade, Kind, Precision, Provider

PROVIDER_COLUMNS: tuple[str, ...] = (
    "id",
    "kind",
    "lon",
    "lat",
    "grade_rank",
    "practitioners",
    "certified_practitioners",
    "active",
    "geocode_precision",
    "district",
    "street",
    *(c.value for c in Category),
)
SUPPLY_COLUMNS: tuple[str, ...] = (
    "category",
    "id",
    "kind",
    "lon",
    "lat",
    "capacity",
    "practitioners",
    "district",
    "street",
)

Capacity = Literal["practitioners", "count"]


def providers_frame(providers: Iterable[Provider]) -> pd.DataFrame:
    """Providers as a table with one boolean column per category.

    Parameters
    ----------
    providers
        :class:`~providers.model.Provider` objects, from any store or none.

    Returns
    -------
    pandas.DataFrame
        The columns of :data:`PROVIDER_COLUMNS`: ``grade_rank`` is 5 (5A) to 1 (A) and
        missing for stations; ``elderly_care``, ``housekeeping``, ``maternal_infant`` and
        ``nursing`` say which categories the provider offers.

    Examples
    --------
    >>> from providers.model import Kind
    >>> p = Provider(id="st-1", kind=Kind.STATION, name="赤岗街道家政服务站", lon=113.3354,
    ...              lat=23.1037, categories=frozenset({Category.NURSING}), practitioners=8)
    >>> providers_frame([p])[["id", "nursing", "elderly_care", "practitioners"]].to_dict("records")
    [{'id': 'st-1', 'nursing': True, 'elderly_care': False, 'practitioners': 8}]
    """
    rows = [
        (
            p.id,
            p.kind.value,
            p.lon,
            p.lat,
            np.nan if p.credit_grade is None else float(p.credit_grade.rank),
            p.practitioners,
            p.certified_practitioners,
            p.active,
            p.geocode_precision.value,
            p.district,
            p.street,
            *(c in p.categories for c in Category),
        )
        for p in providers
    ]
    frame = pd.DataFrame.from_records(rows, columns=list(PROVIDER_COLUMNS))
    return frame.astype(
        {
            "id": object,
            "kind": object,
            "lon": np.float64,
            "lat": np.float64,
            "grade_rank": np.float64,
            "practitioners": np.int64,
            "certified_practitioners": np.int64,
            "active": bool,
            "geocode_precision": object,
            "district": object,
            "street": object,
            **{c.value: bool for c in Category},
        }
    )


def suitable_supply(
    providers: pd.DataFrame | Iterable[Provider],
    categories: Sequence[Category] = tuple(Category),
    *,
    min_grade: Grade | None = None,
    certified_only: bool = False,
    kind: Kind | None = None,
    include_approximate: bool = False,
    capacity: Capacity = "practitioners",
) -> pd.DataFrame:
    """The providers that count as supply for each category, with their capacity.

    Parameters
    ----------
    providers
        A table shaped like :func:`providers_frame`'s (``grade_rank``, ``active`` and
        ``geocode_precision`` may be left out: missing means ungraded, active, exact), or
        the :class:`~providers.model.Provider` objects themselves.
    categories
        The categories to list supply for.
    min_grade, certified_only, kind, include_approximate
        The hard filters of :class:`providers.store.Filters`, with the same meaning.
    capacity
        ``"practitioners"`` (at least 1 per provider) or ``"count"`` (1 per provider).

    Returns
    -------
    pandas.DataFrame
        One row per (category, provider) that passes, in the given category order then the
        providers' order: the columns of :data:`SUPPLY_COLUMNS`.

    Examples
    --------
    >>> table = pd.DataFrame({"id": ["a", "b"], "kind": ["company", "station"],
    ...     "lon": [113.30, 113.31], "lat": [23.10, 23.11], "grade_rank": [2.0, np.nan],
    ...     "practitioners": [12, 0], "certified_practitioners": [0, 0],
    ...     "elderly_care": [True, True]})
    >>> suitable_supply(table, [Category.ELDERLY_CARE], min_grade=Grade.A3)[
    ...     ["category", "id", "capacity"]].to_dict("records")
    [{'category': 'elderly_care', 'id': 'b', 'capacity': 1.0}]
    """
    table = providers if isinstance(providers, pd.DataFrame) else providers_frame(list(providers))
    n = len(table)
    base = _column(table, "active", True).astype(bool)
    if kind is not None:
        base &= table["kind"].astype(object).to_numpy() == kind.value
    if min_grade is not None:
        rank = _column(table, "grade_rank", np.nan).astype(np.float64)
        # Stations (no grade) stay, as in the API: the grade filter is about companies.
        base &= np.isnan(rank) | (rank >= min_grade.rank)
    if certified_only:
        base &= _column(table, "certified_practitioners", 0).astype(np.int64) > 0
    if not include_approximate:
        precision = _column(table, "geocode_precision", Precision.EXACT.value).astype(object)
        base &= precision != Precision.DISTRICT.value

    practitioners = _column(table, "practitioners", 0).astype(np.int64)
    cap = (
        np.maximum(practitioners, 1).astype(np.float64)
        if capacity == "practitioners"
        else np.ones(n, dtype=np.float64)
    )
    parts = []
    for category in categories:
        offers = _offers(table, category)
        keep = np.nonzero(base & offers)[0]
        parts.append(
            pd.DataFrame(
                {
                    "category": pd.Series([category.value] * keep.size, dtype=object),
                    "id": table["id"].astype(object).to_numpy()[keep],
                    "kind": table["kind"].astype(object).to_numpy()[keep],
                    "lon": table["lon"].to_numpy(np.float64)[keep],
                    "lat": table["lat"].to_numpy(np.float64)[keep],
                    "capacity": cap[keep],
                    "practitioners": practitioners[keep],
                    "district": _column(table, "district", None).astype(object)[keep],
                    "street": _column(table, "street", None).astype(object)[keep],
                }
            )
        )
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in SUPPLY_COLUMNS})
    return pd.concat(parts, ignore_index=True)


def _column(table: pd.DataFrame, name: str, default: object) -> npt.NDArray[Any]:
    if name in table.columns:
        return table[name].to_numpy()
    return np.full(len(table), default, dtype=object if default is None else None)


def _offers(table: pd.DataFrame, category: Category) -> npt.NDArray[np.bool_]:
    if category.value in table.columns:
        return table[category.value].to_numpy(dtype=bool)
    if "categories" in table.columns:
        # A table straight from an export: each cell an iterable of category values.
        return np.array(
            [category.value in {str(c) for c in cats} for cats in table["categories"]],
            dtype=bool,
        )
    raise KeyError(f"providers table has neither a {category.value!r} nor a 'categories' column")
