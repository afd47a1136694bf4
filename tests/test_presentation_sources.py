"""The coverage figures' sources in Chinese: the project's own sentences translated part by
part, anything else (an operator's text) kept as written."""

from __future__ import annotations

import pandas as pd
import pytest

from gaps.demand import CENSUS_EVEN_SOURCE, demand_from_census
from geo.boundaries import load_districts
from geo.package_data import REFERENCE_DIR
from jzmap.presentation.sources import demand_source_text


def _source(weights: list[float] | None = None) -> str:
    grid = pd.DataFrame({"cell": [1, 2, 3], "district": ["荔湾区", "荔湾区", "越秀区"]})
    table = demand_from_census(
        grid,
        load_districts(REFERENCE_DIR),
        weights=weights,
        weights_source=None if weights is None else "weight layer footprints.gpkg",
    )
    return str(table["demand_source"].iloc[0])


def test_the_shipped_default_reads_in_chinese_without_english_left() -> None:
    zh = demand_source_text(_source(), "zh")
    assert zh.startswith("默认：2020 年人口普查各区常住人口在区内各网格间均匀分配")
    assert "60 岁及以上：全市比例 11.41%" in zh and "并非各区实际数" in zh
    assert not any(w in zh for w in ("census", "share", "district", "uniform"))


def test_weighted_sources_name_the_layer_and_the_districts_left_uniform() -> None:
    zh = demand_source_text(_source([1.0, 2.0, 0.0]), "zh")
    assert zh.startswith("2020 年人口普查各区常住人口按权重图层 footprints.gpkg分配到网格")
    assert "（越秀区无权重，均匀分配）" in zh


@pytest.mark.parametrize(
    "source",
    [
        "operator layer pop.tif",
        "operator layer pop.tif; aged_60_plus: 区民政局 2025 年统计",
        CENSUS_EVEN_SOURCE + "; women_15_49: survey",
    ],
)
def test_english_is_the_source_itself_and_unknown_text_is_kept(source: str) -> None:
    assert demand_source_text(source, "en") == source.replace("均匀分配 / uniform", "uniform")
    zh = demand_source_text(source, "zh")
    for kept in ("operator layer pop.tif", "区民政局 2025 年统计", "survey"):
        if kept in source:
            assert kept in zh
