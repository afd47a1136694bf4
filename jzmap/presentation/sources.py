"""Where the coverage figures come from, said in the reader's language.

The domain writes one ``demand_source`` sentence per analysis (:mod:`gaps.demand`: the
census spread evenly or by a weight layer, then what each age column is, e.g. the shipped
60+ being a city-wide share). It is English, because operators' layers and logs are; a
district planner reads Chinese. :func:`demand_source_text` renders the sentences the
project itself writes in Chinese, part by part, and leaves any other text (an operator's
layer named in it, a ``<column>_source`` of their own) as it is: a translation that guessed
would misstate where a figure comes from.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final, Literal

from gaps.demand import AGED_60_PLUS, CENSUS_EVEN_SOURCE, UNIFORM

SourceLang = Literal["zh", "en"]

_CENSUS_EVEN_ZH: Final = (
    "默认：2020 年人口普查各区常住人口在区内各网格间均匀分配（未加载人口图层，"
    "不反映区内居民实际分布）"
)
_WEIGHTED_EN: Final = "2020 census population of each district spread over its cells by "
_WEIGHTED = re.compile(
    re.escape(_WEIGHTED_EN)
    + r"(?P<by>.+?)(?: \("
    + re.escape(UNIFORM)
    + r" in (?P<uniform>.+): no weight there\))?$"
)
# How gaps.demand and the coverage service name an operator's layers.
_LAYERS_ZH: Final = (
    ("weight layer ", "权重图层 "),
    ("population raster ", "人口栅格 "),
    ("population grid ", "人口栅格 "),
    ("a weight layer", "权重图层"),
    ("population layer ", "人口图层 "),
)
# "; <column>: ..." starts an age column's note (the basis itself may contain "; ").
_AGE_NOTE = re.compile(r"; (?=[a-z0-9_]+: )")
# The shipped table's 60+ note (data/guangzhou/districts.csv, aged_60_plus_source).
_SHIPPED_AGES: Final = {
    "city-wide share 11.41% (2,130,598 of 18,676,605 aged 60+; Guangzhou 7th census "
    "bulletin no. 4, 2021-05-18) applied to the district: not a district figure": (
        "全市比例 11.41%（广州市第七次全国人口普查公报第四号，2021-05-18：18,676,605 名常住"
        "人口中 60 岁及以上 2,130,598 人）套用到各区：并非各区实际数"
    ),
}
_AGE_COLUMNS_ZH: Final = {
    AGED_60_PLUS: "60 岁及以上",
    "women_15_49": "15–49 岁女性",
    "births": "出生人口",
}


def demand_source_text(
    source: str, lang: SourceLang, place: Callable[[str], str] | None = None
) -> str:
    """``source`` (an analysis' ``demand_source``) for a reader of ``lang``.

    Parameters
    ----------
    source
        The sentence :mod:`gaps.demand` wrote: the residents' basis, then ``"; <column>:
        <what it is>"`` per age column.
    lang
        ``"zh"`` renders the project's own sentences in Chinese; ``"en"`` keeps them; the
        bilingual tag "均匀分配 / uniform" becomes each language's own word.
    place
        How to name a district in ``lang`` (e.g. ``Baiyun (白云区)``); default as written.

    Examples
    --------
    >>> print(demand_source_text(CENSUS_EVEN_SOURCE, "zh"))  # doctest: +ELLIPSIS
    默认：2020 年人口普查各区常住人口在区内各网格间均匀分配（未加载人口图层，...）
    >>> demand_source_text("population layer 人口.gpkg; aged_60_plus: 2025 年统计", "zh")
    '人口图层 人口.gpkg；60 岁及以上：2025 年统计'
    >>> demand_source_text(
    ...     "2020 census population of each district spread over its cells by weight layer "
    ...     "w.gpkg (均匀分配 / uniform in 从化区: no weight there)", "en",
    ...     place=lambda district: f"Conghua ({district})",
    ... ).split("w.gpkg ")[1]
    '(uniform in Conghua (从化区): no weight there)'
    """
    name = place or (lambda district: district)
    basis, *ages = _AGE_NOTE.split(source)
    if lang == "en":
        return "; ".join([_basis_en(basis, name), *ages])
    parts = [_basis_zh(basis, name)]
    for age in ages:
        column, _, what = age.partition(": ")
        if column in _AGE_COLUMNS_ZH and what:
            parts.append(f"{_AGE_COLUMNS_ZH[column]}：{_SHIPPED_AGES.get(what, what)}")
        else:
            parts.append(age)
    return "；".join(parts)


def _basis_en(basis: str, place: Callable[[str], str]) -> str:
    weighted = _WEIGHTED.match(basis)
    if weighted is None:
        return basis.replace(UNIFORM, "uniform")
    text = f"{_WEIGHTED_EN}{weighted['by']}"
    if weighted["uniform"]:
        places = ", ".join(place(d) for d in weighted["uniform"].split(", "))
        text += f" (uniform in {places}: no weight there)"
    return text


def _basis_zh(basis: str, place: Callable[[str], str]) -> str:
    """The residents' basis in Chinese when it is one of the sentences gaps.demand writes."""
    if basis == CENSUS_EVEN_SOURCE:
        return _CENSUS_EVEN_ZH
    weighted = _WEIGHTED.match(basis)
    if weighted is None:
        return _layer_zh(basis)
    text = f"2020 年人口普查各区常住人口按{_layer_zh(weighted['by'])}分配到网格"
    if weighted["uniform"]:
        places = "、".join(place(d) for d in weighted["uniform"].split(", "))
        text += f"（{places}无权重，均匀分配）"
    return text


def _layer_zh(text: str) -> str:
    for en, zh in _LAYERS_ZH:
        if text.startswith(en):
            return zh + text.removeprefix(en)
    return text
