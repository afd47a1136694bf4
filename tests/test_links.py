"""Navigate and call links: each app's link, its coordinates converted back to WGS-84,
lands within half a metre of the stored point; the name is the destination's label."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.crs import CRS, to_wgs84
from geo.geodesy import geodesic_distance_m
from jzmap.presentation.links import navigate_links, navigate_links_for, tel_uri
from providers.model import Category
from tests.helpers import station

NAME = "海珠区赤岗街道家政服务站; 二楼:东, 近地铁"
ADDRESS = "广州市海珠区赤岗路1号"


def _point(app: str, kind: str, url: str) -> tuple[float, float, str, str]:
    """(lon, lat, datum, label) a link names."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    if app == "amap" and kind == "web":
        assert query["coordinate"] == "gaode"
        lon, lat = map(float, query["position"].split(","))
        return lon, lat, CRS.GCJ02, query["name"]
    if app == "amap":
        assert query["dev"] == "0"  # the point is GCJ-02 already
        return float(query["dlon"]), float(query["dlat"]), CRS.GCJ02, query["dname"]
    if app == "baidu":
        assert query["coord_type"] == "bd09ll"
        lat, lon = map(float, query["location"].split(","))
        return lon, lat, CRS.BD09, query["title"]
    assert query["coord_type"] == "2"  # Tencent's own datum: GCJ-02
    m = re.fullmatch(r"coord:([-\d.]+),([-\d.]+);title:(.*);addr:(.*)", query["marker"])
    assert m is not None, query["marker"]
    return float(m.group(2)), float(m.group(1)), CRS.GCJ02, m.group(3)


SCHEMES = {
    ("amap", "web"): "https://uri.amap.com/marker?",
    ("amap", "app"): "amapuri://route/plan/?",
    ("baidu", "web"): "https://api.map.baidu.com/marker?",
    ("baidu", "app"): "baidumap://map/marker?",
    ("tencent", "web"): "https://apis.map.qq.com/uri/v1/marker?",
    ("tencent", "app"): "qqmap://map/marker?",
}


@settings(max_examples=60, deadline=None)
@given(lon=st.floats(112.9, 114.1), lat=st.floats(22.5, 23.95))
def test_every_link_lands_within_half_a_metre_of_the_stored_point(lon: float, lat: float) -> None:
    p = station(1, lon, lat, name=NAME, address=ADDRESS, categories=(Category.NURSING,))
    links = navigate_links_for([p])[0]
    assert set(links) == {"amap", "baidu", "tencent"}
    for app, kinds in links.items():
        assert set(kinds) == {"web", "app"}
        for kind, url in kinds.items():
            assert url.startswith(SCHEMES[(app, kind)])
            x, y, datum, label = _point(app, kind, url)
            back_lon, back_lat = to_wgs84(x, y, datum)
            metres = float(geodesic_distance_m(lon, lat, back_lon, back_lat))
            assert metres < 0.5, (app, kind, metres)
            # The label is the name (Tencent's separators in their full-width forms).
            assert label.translate(str.maketrans("；：，", ";:,")) == NAME


def test_the_datums_differ_as_each_app_expects() -> None:
    """A link in the wrong datum would put the destination hundreds of metres off."""
    p = station(2, 113.3245, 23.1064)
    links = navigate_links_for([p])[0]
    amap = _point("amap", "web", links["amap"]["web"])
    baidu = _point("baidu", "web", links["baidu"]["web"])
    off_amap = float(geodesic_distance_m(p.lon, p.lat, amap[0], amap[1]))
    off_baidu = float(geodesic_distance_m(p.lon, p.lat, baidu[0], baidu[1]))
    assert 300 < off_amap < 900 and off_baidu > off_amap


@settings(max_examples=200, deadline=None)
@given(name=st.text(min_size=1, max_size=30), address=st.text(max_size=30))
def test_any_name_reads_back_from_every_link(name: str, address: str) -> None:
    """Whatever a registry writes (``&``, ``=``, ``#``, ``+``, ``%``, spaces, emoji), each
    link's query string decodes to the name as the label: nothing cuts or merges a
    parameter."""
    links = navigate_links(name, address, (113.33, 23.1), (113.336, 23.106))
    for app, kinds in links.items():
        for kind, url in kinds.items():
            parts = urlsplit(url)
            assert "+" not in parts.query.replace("%2B", "")  # spaces are %20, not +
            query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            if app == "tencent":
                assert (
                    query["marker"].count(";title:") == 1 and query["marker"].count(";addr:") == 1
                )
                continue
            label = (
                query["name" if (app, kind) == ("amap", "web") else "dname"]
                if app == "amap"
                else query["title"]
            )
            assert label == name


@pytest.mark.parametrize(
    ("phone", "uri"),
    [
        ("020-83334567", "tel:02083334567"),
        ("020-8333 4567", "tel:02083334567"),
        ("13812345678", "tel:13812345678"),
        ("+86 20 8333 4567", "tel:+862083334567"),
        ("", None),
    ],
)
def test_a_phone_becomes_a_tel_link_of_its_digits(phone: str, uri: str | None) -> None:
    assert tel_uri(phone) == uri
