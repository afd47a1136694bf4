"""The workbench page as the server renders it (``/map?view=coverage``), before any script
runs: the distance control offers only what the API will measure (walking needs
``JZMAP_STREET_NETWORK``, and the page says so when it is missing), the sites are planned
among the office's rooms when ``JZMAP_CANDIDATE_SITES`` is set, every control is a labelled
``<select>`` or ``<button>``, in Chinese and in English. The browser side is
tests/test_coverage_workbench_browser.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from jzmap.settings import Settings
from tests.helpers import embedded_backend_at, station
from tests.osm_fixtures import rooms_csv, street_grid

TIANHE = (113.36, 23.13)  # lon, lat (WGS-84): a point in 天河区


@dataclass
class _Select:
    name: str
    label: str
    described_by: str | None
    options: list[tuple[str, str, bool]] = field(default_factory=list)


class _Page(HTMLParser):
    """The selects (with their label text and options), the buttons, the text of every
    element with an id, and the page's JSON config."""

    VOID = frozenset({"meta", "link", "input", "br", "img"})

    def __init__(self) -> None:
        super().__init__()
        self.selects: dict[str, _Select] = {}
        self.buttons: list[str] = []
        self.text: dict[str, str] = {}
        self.summary_terms: list[str] = []
        self.config: dict[str, Any] = {}
        self._open: list[tuple[str, str | None]] = []  # (tag, id)
        self._label: list[str] | None = None
        self._option: tuple[str, bool] | None = None
        self._in_dt = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "label":
            self._label = []
        elif tag == "select":
            name = a.get("id") or ""
            label = "".join(self._label or [])
            self.selects[name] = _Select(name, label, a.get("aria-describedby"))
        elif tag == "option":
            self._option = (a.get("value") or "", "selected" in a)
        elif tag == "button":
            self.buttons.append(a.get("id") or "")
        elif tag == "dt":
            self._in_dt = True
        if tag not in self.VOID:
            self._open.append((tag, a.get("id")))
            if a.get("id"):
                self.text.setdefault(a["id"] or "", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self._label = None
        elif tag == "option":
            self._option = None
        elif tag == "dt":
            self._in_dt = False
        if tag not in self.VOID and self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        ids = [i for _, i in self._open if i]
        for i in ids:
            self.text[i] += data
        if ids and ids[-1] == "jz-wb-config":
            self.config = json.loads(data)
        if self._option is not None:
            value, selected = self._option
            select = list(self.selects.values())[-1]
            select.options.append((value, data, selected))
        elif self._label is not None and not any(t == "select" for t, _ in self._open):
            self._label.append(data)
        if self._in_dt:
            self.summary_terms.append(data)


def _served(tmp: Path, **settings: Any) -> Iterator[TestClient]:
    with embedded_backend_at(tmp / "data") as backend:
        backend.store.upsert([station(1, *TIANHE)])
        app = create_app(Settings(data_dir=tmp / "data", database_url=None, **settings), backend)
        with TestClient(app) as client:
            yield client


@pytest.fixture(scope="module")
def crow_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    yield from _served(tmp_path_factory.mktemp("workbench-crow"))


@pytest.fixture(scope="module")
def walking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    places = tmp_path_factory.mktemp("workbench-walk")
    yield from _served(
        places,
        street_network=street_grid(TIANHE).write(places / "streets.osm"),
        candidate_sites=rooms_csv(places / "rooms.csv", TIANHE),
        network_cache_dir=places / "networks",
    )


def _page(client: TestClient, **query: str) -> _Page:
    answer = client.get("/map", params={"view": "coverage", **query})
    assert answer.status_code == 200, answer.text
    page = _Page()
    page.feed(answer.text)
    return page


def test_without_a_network_only_crow_fly_is_offered_and_the_page_says_why(
    crow_only: TestClient,
) -> None:
    page = _page(crow_only, mode="walk")  # asked for, but not on offer: crow-fly
    mode = page.selects["jz-wb-mode"]
    assert mode.label == "距离" and mode.options == [("crow", "直线距离", True)]
    assert mode.described_by == "jz-wb-mode-why"
    why = page.text["jz-wb-mode-why"]
    assert "JZMAP_STREET_NETWORK" in why and "jzmap network build" in why
    # Gap cells are the candidates, left out by their H3 cell.
    assert page.config["sitesPath"] == "/v1/coverage/candidates"
    assert page.config["siteKey"] == "cell" and page.config["maxExcluded"] == 200
    assert "缺口网格" in page.text["jz-wb-sites-source"]


def test_with_a_network_walking_is_the_default_and_crow_fly_a_choice(
    walking: TestClient,
) -> None:
    page = _page(walking)
    mode = page.selects["jz-wb-mode"]
    assert mode.options == [("walk", "步行路网", True), ("crow", "直线距离", False)]
    assert mode.described_by is None and "jz-wb-mode-why" not in page.text
    crow = _page(walking, mode="crow").selects["jz-wb-mode"]
    assert [o[0] for o in crow.options if o[2]] == ["crow"]


def test_with_candidate_rooms_the_sites_are_her_rooms(walking: TestClient) -> None:
    page = _page(walking)
    assert page.config["sitesPath"] == "/v1/coverage/sites"
    assert page.config["siteKey"] == "id"
    heads = page.text["jz-wb-sites"]
    for heading in ("名称", "编号", "地址", "容量（人）", "操作"):
        assert heading in heads
    assert "JZMAP_CANDIDATE_SITES" in page.text["jz-wb-sites-source"]


def test_every_control_is_a_labelled_select_or_a_button(crow_only: TestClient) -> None:
    page = _page(crow_only)
    labels = {s.name: s.label for s in page.selects.values()}
    assert labels == {
        "jz-wb-district": "区",
        "jz-wb-category": "服务类别",
        "jz-wb-minutes": "生活圈",
        "jz-wb-speed": "步速",
        "jz-wb-mode": "距离",
        "jz-wb-res": "网格",
        "jz-wb-kind": "机构类型",
        "jz-wb-k": "建议站点数",
    }
    assert "jz-wb-print" in page.buttons
    # The exclusion list starts empty and says so; the print view's summary has a line
    # for each choice, the distance, the exclusions and the date.
    assert page.text["jz-wb-excluded-none"] == "无"
    assert page.summary_terms == [
        "区", "服务类别", "生活圈", "步速", "距离", "网格", "机构类型", "建议站点数", "已排除",
        "居民分布", "日期", "数据版本",
    ]  # fmt: skip


def test_the_controls_speak_english_too(crow_only: TestClient, walking: TestClient) -> None:
    page = _page(crow_only, lang="en")
    mode = page.selects["jz-wb-mode"]
    assert mode.label == "Distance" and mode.options == [("crow", "crow-fly", True)]
    assert page.text["jz-wb-mode-why"].startswith("No street network is configured")
    assert page.config["text"]["exclude"] == "exclude"
    assert page.config["text"]["excluded"] == "Excluded"
    walk = _page(walking, lang="en").selects["jz-wb-mode"]
    assert walk.options == [("walk", "walking (street network)", True), ("crow", "crow-fly", False)]
    assert "Excluded" in _page(walking, lang="en").summary_terms


def _strict(constant: str) -> None:
    raise AssertionError(f"{constant} is not JSON")


def test_walked_cells_without_a_reachable_provider_are_json(walking: TestClient) -> None:
    """The page parses /v1/coverage/cells as JSON: a cell no walk reaches a provider from
    has ``nearest_id`` null (pandas' string column held NaN, written as ``NaN``)."""
    ask = {"category": "elderly_care", "district": "天河区", "mode": "walk"}
    answer = walking.get("/v1/coverage/cells", params=ask)
    assert answer.status_code == 200, answer.text
    body = json.loads(answer.text, parse_constant=_strict)
    nearest = [f["properties"]["nearest_id"] for f in body["features"]]
    assert None in nearest and "st-test000001" in nearest


def test_the_grid_is_life_circle_sized_by_default_and_the_overview_a_choice(
    crow_only: TestClient,
) -> None:
    """Resolution 9 (~300 m between centres) unless the planner asks for the overview: a
    480 m life circle reaches several r9 cells but one r8 cell."""
    res = _page(crow_only).selects["jz-wb-res"]
    assert [(v, selected) for v, _, selected in res.options] == [("9", True), ("8", False)]
    assert "H3 r9" in res.options[0][1] and "区级概览" in res.options[1][1]
    overview = _page(crow_only, res="8").selects["jz-wb-res"]
    assert [v for v, _, selected in overview.options if selected] == ["8"]
    assert [v for v, _, s in _page(crow_only, res="7").selects["jz-wb-res"].options if s] == ["9"]
    english = _page(crow_only, lang="en").selects["jz-wb-res"]
    assert english.label == "Grid" and "H3 r9" in english.options[0][1]


def test_the_panel_leaves_the_district_and_coordinates_to_the_files(
    crow_only: TestClient, walking: TestClient
) -> None:
    """The district is chosen above the tables and the coordinates are on the map: the
    panel does not repeat them (the Excel and GeoPackage files keep every column)."""
    cells = _page(crow_only)
    for table in ("jz-wb-streets", "jz-wb-sites"):
        assert "区" not in cells.text[table].replace("街道", "")
    assert "纬度" not in cells.text["jz-wb-sites"] and "经度" not in cells.text["jz-wb-sites"]
    assert "地址" in cells.text["jz-wb-sites"] and "地址来源" in cells.text["jz-wb-sites"]
    shown = [k for k, _ in cells.config["siteFields"]]
    assert "district" not in shown and "lat" not in shown and "lon" not in shown
    assert "district" not in [k for k, _ in cells.config["streetFields"]]
    assert cells.config["sites"] == "cells"
    rooms = _page(walking)
    assert "纬度" not in rooms.text["jz-wb-sites"] and "地址来源" in rooms.text["jz-wb-sites"]
    assert rooms.config["sites"] == "rooms"


def test_address_sources_and_the_population_counted_are_words(crow_only: TestClient) -> None:
    zh = _page(crow_only).config
    assert zh["addressSources"] == {
        "file": "文件", "amap": "高德逆地理编码", "nearest_way": "最近道路", "none": "无",
    }  # fmt: skip
    assert zh["demandWords"]["aged_60_plus"] == "60 岁及以上居民"
    en = _page(crow_only, lang="en").config
    assert en["addressSources"]["nearest_way"] == "nearest way"
    assert en["demandWords"]["aged_60_plus"] == "residents aged 60+"
