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
from typing import Final, Literal

from gaps.demand import AGED_60_PLUS, CENSUS_EVEN_SOURCE, UNIFORM

SourceLang = Literal["zh", "en"]

_CENSUS_EVEN_ZH: Final = (
    f"默认：2020 年人口普查各区常住人口在区内各网格间均匀分配（{UNIFORM}：未加载人口图层，"
    "不反映区内居民实际分布）"
)
_WEIGHTED = re.compile(
    r"^2020 census population of each district spread over its cells by (?P<by>.+?)"
    r"(?: \(" + re.escape(UNIFORM) + r" in (?P<uniform>.+): no weight there\))?$"
)
# "; <column>: ..." starts an age column's note (the basis itself may contain "; ").
_AGE_NOTE = re.compile(r"; (?=[a-z0-9_]+: )")
_WEIGHT_LAYER = re.compile(r"^weight layer (?P<name>.+)$")
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


def demand_source_text(source: str, lang: SourceLang) -> str:
    """``source`` (an analysis' ``demand_source``) for a reader of ``lang``.

    Parameters
    ----------
    source
        The sentence :mod:`gaps.demand` wrote: the residents' basis, then ``"; <column>:
        <what it is>"`` per age column.
    lang
        ``"zh"`` renders the project's own sentences in Chinese; ``"en"`` returns ``source``.

    Examples
    --------
    >>> print(demand_source_text(CENSUS_EVEN_SOURCE, "zh"))  # doctest: +ELLIPSIS
    默认：2020 年人口普查各区常住人口在区内各网格间均匀分配（均匀分配 / uniform：...）
    >>> demand_source_text("weights.tif; aged_60_plus: office survey 2025", "zh")
    'weights.tif；60 岁及以上：office survey 2025'
    >>> demand_source_text("anything", "en")
    'anything'
    """
    if lang == "en":
        return source
    basis, *ages = _AGE_NOTE.split(source)
    parts = [_basis_zh(basis)]
    for age in ages:
        column, _, what = age.partition(": ")
        if column in _AGE_COLUMNS_ZH and what:
            parts.append(f"{_AGE_COLUMNS_ZH[column]}：{_SHIPPED_AGES.get(what, what)}")
        else:
            parts.append(age)
    return "；".join(parts)


def _basis_zh(basis: str) -> str:
    """The residents' basis in Chinese when it is one of the sentences gaps.demand writes."""
    if basis == CENSUS_EVEN_SOURCE:
        return _CENSUS_EVEN_ZH
    weighted = _WEIGHTED.match(basis)
    if weighted is None:
        return basis
    by = weighted["by"]
    layer = _WEIGHT_LAYER.match(by)
    weights = by if layer is None else f"权重图层 {layer.group('name')}"
    text = f"2020 年人口普查各区常住人口按{weights}分配到网格"
    if weighted["uniform"]:
        text += f"（{weighted['uniform'].replace(', ', '、')}无权重，{UNIFORM}）"
    return text
