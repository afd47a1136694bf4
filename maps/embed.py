"""The ``/embed`` page: pick the widget's options, copy the ``<iframe>`` snippet, see it live."""

from __future__ import annotations

import html
import json

from geo.crs import CRS
from maps.i18n import Lang, category_label, text
from maps.page import STATIC_URL
from providers.model import Category, Grade, Kind

MESSAGE_EXAMPLE = {
    "source": "jzmap",
    "type": "provider-selected",
    "version": 1,
    "provider": {
        "id": "co-91440101MA59XXXXXX",
        "name": "…",
        "kind": "company",
        "categories": ["elderly_care"],
        "credit_grade": "5A",
        "rank": 1,
        "distance_m": 412.5,
        "score": 0.81,
        "lat": 23.1064,
        "lon": 113.3245,
        "crs": "wgs84",
        "phone": "138****5678",
        "opening_hours": "08:00-20:00",
        "address": "…",
        "approximate": False,
        "url": "https://…/v1/providers/co-91440101MA59XXXXXX",
    },
}


def _select(name: str, label: str, choices: list[tuple[str, str]]) -> str:
    options = "".join(
        f'<option value="{html.escape(v)}">{html.escape(t)}</option>' for v, t in choices
    )
    return f'<label>{html.escape(label)} <select name="{name}">{options}</select></label>'


def render_embed_page(lang: Lang, base_url: str, nonce: str) -> str:
    """The snippet builder; ``base_url`` is this site's public address (``""``: the page
    uses the address its browser loaded it from)."""
    t = text(lang)
    fields = [
        _select(
            "category",
            t["category"],
            [("", t["any_category"])] + [(c.value, category_label(c, lang)) for c in Category],
        ),
        _select("min_grade", t["min_grade"], [("", t["any_grade"])] + [(g, g) for g in Grade]),
        _select("kind", t["kind"], [("", t["any_kind"])] + [(k.value, t[k.value]) for k in Kind]),
        _select("lang", "lang", [("zh", "中文"), ("en", "English")]),
        f'<label>{html.escape(t["lat"])} <input name="lat" type="number" step="any" '
        'min="-90" max="90"></label>',
        f'<label>{html.escape(t["lon"])} <input name="lon" type="number" step="any" '
        'min="-180" max="180"></label>',
        _select("crs", t["coord_crs"], [(c.value, c.value) for c in CRS]),
        f'<label>{html.escape(t["zoom"])} <input name="zoom" type="number" min="0" max="20">'
        "</label>",
    ]
    example = html.escape(json.dumps(MESSAGE_EXAMPLE, ensure_ascii=False, indent=2))
    return f"""<!DOCTYPE html>
<html lang="{"zh-CN" if lang is Lang.ZH else "en"}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(t["embed_title"])}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{STATIC_URL}/embed.css">
<script nonce="{nonce}" src="{STATIC_URL}/embed.js" defer></script>
</head>
<body>
<main data-base="{html.escape(base_url)}">
<h1>{html.escape(t["embed_title"])}</h1>
<p>{html.escape(t["embed_intro"])}</p>
<form id="jz-embed-form">{"".join(fields)}</form>
<h2><label for="jz-snippet">{html.escape(t["embed_code"])}</label></h2>
<textarea id="jz-snippet" rows="4" readonly></textarea>
<h2>{html.escape(t["embed_preview"])}</h2>
<iframe id="jz-preview" title="{html.escape(t["widget_title"])}" width="375" height="600"></iframe>
<h2>message</h2>
<p>{html.escape(t["embed_message"])}</p>
<pre>{example}</pre>
</main>
</body>
</html>
"""
