"""Links a resident acts on: call a provider, or hand it to a navigation app.

Built here, in the presentation layer, so that the API, the map, the widget and the
provider page all give the same links (the map's script only draws what the API returns).

Each navigation app expects its own datum (see :mod:`geo.crs`):

* **AMap** (高德) takes GCJ-02: its URI API's ``marker`` page
  (``https://uri.amap.com/marker?position=lon,lat&name=…&coordinate=gaode``) and the app's
  route planner (``amapuri://route/plan/?dlat=…&dlon=…&dname=…&dev=0``: ``dev=0`` says the
  point is already GCJ-02);
* **Baidu** (百度) takes BD-09 when told ``coord_type=bd09ll``: the web ``marker`` page
  (``https://api.map.baidu.com/marker?location=lat,lng&title=…&output=html``) and the
  app's ``baidumap://map/marker`` with the same parameters;
* **Tencent** (腾讯) takes GCJ-02 (``coord_type=2``, its own datum): the web
  ``https://apis.map.qq.com/uri/v1/marker?marker=coord:lat,lng;title:…;addr:…`` and the
  app's ``qqmap://map/marker`` with the same parameters.

Coordinates are written to 6 decimals (about 0.1 m), so a link's point, converted back to
WGS-84, lies well within half a metre of the stored one (``tests/test_links.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from urllib.parse import quote

import numpy as np

from geo.crs import CRS, from_wgs84
from providers.model import Provider

# Who asks, as the apps want it named (AMap ``src``/``sourceApplication``, Baidu ``src``,
# Tencent ``referer``): the apps show it and count it, nothing more.
SOURCE = "jzmap"
# 6 decimals of a degree: about 0.1 m, well inside the half metre a link may be off.
_DECIMALS = 6
# ``;`` ``:`` and ``,`` separate the parts of a Tencent marker: a name holding one would
# break it, so they become their full-width forms (a person reads them the same).
_TENCENT_SEPARATORS = str.maketrans({";": "；", ":": "：", ",": "，"})


@functools.lru_cache(maxsize=65_536)
def tel_uri(phone: str) -> str | None:
    """A ``tel:`` URI for a registered business phone, or ``None`` when there is none.

    Only digits and a leading ``+`` are kept: phones dial them, and the separators a
    registry writes (``020-8333 4567``) mean nothing to them.

    Examples
    --------
    >>> tel_uri("020-8333 4567")
    'tel:02083334567'
    >>> tel_uri("+86 (20) 83334567")
    'tel:+862083334567'
    >>> tel_uri("") is None
    True
    """
    digits = "".join(ch for ch in phone if ch.isdigit())
    if not digits:
        return None
    return "tel:" + ("+" if phone.strip().startswith("+") else "") + digits


def _fixed(value: float) -> str:
    return f"{value:.{_DECIMALS}f}"


@functools.lru_cache(maxsize=16_384)
def _quoted(text: str) -> str:
    # Cached: the same providers' names and addresses come back request after request,
    # and percent-encoding CJK text byte by byte is most of a link's cost.
    # %20 rather than +: the apps' URI parsers do not all read + as a space. The parts of
    # the apps' own syntax (``,`` between a pair, ``;``/``:`` in a Tencent marker) stay.
    return quote(text, safe=",:;")


def navigate_links(
    name: str, address: str, gcj02: tuple[float, float], bd09: tuple[float, float]
) -> dict[str, dict[str, str]]:
    """The three apps' links, ``{"amap"|"baidu"|"tencent": {"web": …, "app": …}}``.

    Each text is percent-encoded once and the six links are written around it: this runs
    for every result of every nearest-match answer, and encoding each parameter of each
    link separately (``urlencode``) cost more than the ranking itself (measured with
    py-spy, 2026-12-03).

    Parameters
    ----------
    name
        The destination's label (the provider's name).
    address
        Shown by Baidu and Tencent under the label.
    gcj02, bd09
        The destination as (lon, lat) in GCJ-02 and in BD-09 degrees.

    Examples
    --------
    >>> links = navigate_links("站", "", (113.33, 23.1), (113.336, 23.106))
    >>> links["amap"]["web"]
    'https://uri.amap.com/marker?position=113.330000,23.100000&name=%E7%AB%99&src=jzmap&coordinate=gaode&callnative=1'
    >>> links["baidu"]["app"].split("?")[1].split("&")[0]
    'location=23.106000,113.336000'
    """
    g_lon, g_lat = _fixed(gcj02[0]), _fixed(gcj02[1])
    b_lon, b_lat = _fixed(bd09[0]), _fixed(bd09[1])
    label = _quoted(name)
    shown = _quoted(address or name)
    marker = _quoted(
        f"coord:{g_lat},{g_lon};title:{name.translate(_TENCENT_SEPARATORS)};"
        f"addr:{(address or name).translate(_TENCENT_SEPARATORS)}"
    )
    baidu = (
        f"location={b_lat},{b_lon}&title={label}&content={shown}"
        f"&coord_type=bd09ll&output=html&src=webapp.{SOURCE}.{SOURCE}"
    )
    tencent = f"marker={marker}&coord_type=2&referer={SOURCE}"
    return {
        "amap": {
            "web": f"https://uri.amap.com/marker?position={g_lon},{g_lat}&name={label}"
            f"&src={SOURCE}&coordinate=gaode&callnative=1",
            "app": f"amapuri://route/plan/?sourceApplication={SOURCE}&dlat={g_lat}"
            f"&dlon={g_lon}&dname={label}&dev=0&t=0",
        },
        "baidu": {
            "web": "https://api.map.baidu.com/marker?" + baidu,
            "app": "baidumap://map/marker?" + baidu,
        },
        "tencent": {
            "web": "https://apis.map.qq.com/uri/v1/marker?" + tencent,
            "app": "qqmap://map/marker?" + tencent,
        },
    }


def navigate_links_for(providers: Sequence[Provider]) -> list[dict[str, dict[str, str]]]:
    """:func:`navigate_links` for each provider, its WGS-84 point converted in one
    vectorised call per datum."""
    if not providers:
        return []
    lon = np.fromiter((p.lon for p in providers), np.float64, len(providers))
    lat = np.fromiter((p.lat for p in providers), np.float64, len(providers))
    g_lon, g_lat = from_wgs84(lon, lat, CRS.GCJ02)
    b_lon, b_lat = from_wgs84(lon, lat, CRS.BD09)
    return [
        navigate_links(p.name, p.address, (gx, gy), (bx, by))
        for p, gx, gy, bx, by in zip(
            providers, g_lon.tolist(), g_lat.tolist(), b_lon.tolist(), b_lat.tolist(), strict=True
        )
    ]
