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
        "lat": 23.1039557,
        "lon": 113.3299473,
        "crs": "gcj02",
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


_BUILDER = {
    Lang.ZH: {
        "lang": "语言",
        "height": "高度（像素）",
        "district": "区（名称或代码）",
        "copy": "复制代码",
        "copied": "已复制",
        "messages": "预览收到的消息",
        "messages_none": "还没有消息：在预览中选择一家机构。",
        "sdk": "或者用 SDK（双向消息、坐标系、事件），见文档“Embedding”：",
        "message": "消息",
    },
    Lang.EN: {
        "lang": "Language",
        "height": "Height (px)",
        "district": "District (name or code)",
        "copy": "Copy code",
        "copied": "Copied",
        "messages": "Messages the preview received",
        "messages_none": "No message yet: select a provider in the preview.",
        "sdk": "Or use the SDK (two-way messages, datums, events): see the docs, Embedding:",
        "message": "Message",
    },
}


def _check(name: str, label: str) -> str:
    return (
        f'<label class="check"><input type="checkbox" name="{name}"> {html.escape(label)}</label>'
    )


def render_embed_page(lang: Lang, base_url: str, nonce: str) -> str:
    """The snippet builder; ``base_url`` is this site's public address (``""``: the page
    uses the address its browser loaded it from)."""
    t = text(lang)
    b = _BUILDER[lang]
    fields = [
        _select(
            "category",
            t["category"],
            [("", t["any_category"])] + [(c.value, category_label(c, lang)) for c in Category],
        ),
        _select("min_grade", t["min_grade"], [("", t["any_grade"])] + [(g, g) for g in Grade]),
        _select("kind", t["kind"], [("", t["any_kind"])] + [(k.value, t[k.value]) for k in Kind]),
        _select(
            "lang",
            b["lang"],
            [("zh", "中文"), ("en", "English")]
            if lang is Lang.ZH
            else [("en", "English"), ("zh", "中文")],
        ),
        f'<label>{html.escape(t["lat"])} <input name="lat" type="number" step="any" '
        'min="-90" max="90"></label>',
        f'<label>{html.escape(t["lon"])} <input name="lon" type="number" step="any" '
        'min="-180" max="180"></label>',
        _select("crs", t["coord_crs"], [(c.value, c.value) for c in CRS]),
        f'<label>{html.escape(b["district"])} <input name="district" maxlength="50"></label>',
        f'<label>{html.escape(t["zoom"])} <input name="zoom" type="number" min="0" max="20">'
        "</label>",
        f'<label>{html.escape(b["height"])} <input name="height" data-frame="1" type="number" '
        'min="320" max="2000" value="700"></label>',
        _check("certified_only", t["certified_only"]),
        _check("large_text", t["large_text"]),
    ]
    titles = {lang_.value: text(lang_)["widget_title"] for lang_ in Lang}
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
<main data-base="{html.escape(base_url)}" data-titles="{html.escape(json.dumps(titles))}"
 data-copied="{html.escape(b["copied"])}">
<h1>{html.escape(t["embed_title"])}</h1>
<p>{html.escape(t["embed_intro"])}</p>
<form id="jz-embed-form">{"".join(fields)}</form>
<h2><label for="jz-snippet">{html.escape(t["embed_code"])}</label></h2>
<textarea id="jz-snippet" rows="4" readonly></textarea>
<p><button type="button" id="jz-copy">{html.escape(b["copy"])}</button>
<span id="jz-copy-status" role="status" aria-live="polite"></span></p>
<p>{html.escape(b["sdk"])} <code>{STATIC_URL}/jzmap-embed-v1.js</code></p>
<h2>{html.escape(t["embed_preview"])}</h2>
<iframe id="jz-preview" title="{html.escape(t["widget_title"])}" width="375" height="700"></iframe>
<h2>{html.escape(b["messages"])}</h2>
<ol id="jz-messages" aria-live="polite" data-empty="{html.escape(b["messages_none"])}"></ol>
<h2>{html.escape(b["message"])}</h2>
<p>{html.escape(t["embed_message"])}</p>
<pre>{example}</pre>
</main>
</body>
</html>
"""


_NOT_ALLOWED = {
    Lang.ZH: {
        "title": "该网站尚未获准嵌入家政服务地图",
        "body": "网站 {host} 还不在允许嵌入本地图的名单中，因此这里不显示地图。",
        "ask": "网站开发者请联系：{contact}，告知网站地址 {host}。",
        "ask_unknown": "网站开发者请联系本地图的运营方，告知网站地址 {host}。",
        "open": "在新窗口打开地图",
    },
    Lang.EN: {
        "title": "This site is not yet allowed to embed the domestic services map",
        "body": "The site {host} is not on the list of sites allowed to embed this map, "
        "so the map is not shown here.",
        "ask": "Site developers: ask {contact} to allow {host}.",
        "ask_unknown": "Site developers: ask this map's operator to allow {host}.",
        "open": "Open the map in a new window",
    },
}


def render_not_allowed_page(lang: Lang, host: str, contact: str, nonce: str) -> str:
    """What a site not allowed to embed the widget sees in its frame: which site, whom to
    ask, and a link to the full map. Its one script tells the host page too (an ``error``
    message with code ``origin_not_allowed``, which the SDK hands to ``onError``)."""
    t = _NOT_ALLOWED[lang]
    ask = t["ask"] if contact else t["ask_unknown"]
    message = {
        "source": "jzmap",
        "type": "error",
        "version": 1,
        "code": "origin_not_allowed",
        "message": f"{host} is not allowed to embed this widget",
    }
    # Safe in a script element: json.dumps escapes nothing HTML-special here, so "<" is.
    payload = json.dumps(message).replace("<", "\\u003c")
    return f"""<!DOCTYPE html>
<html lang="{"zh-CN" if lang is Lang.ZH else "en"}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(t["title"])}</title>
<style nonce="{nonce}">
body {{ font-family: system-ui, "PingFang SC", "Microsoft YaHei", sans-serif; margin: 1rem;
  color: #1d232a; background: #fff8e6; }}
h1 {{ font-size: 1.1rem; }} p {{ font-size: 0.95rem; }}
</style>
</head>
<body data-jzmap="origin-not-allowed">
<h1>{html.escape(t["title"])}</h1>
<p>{html.escape(t["body"].format(host=host))}</p>
<p id="jz-ask">{html.escape(ask.format(host=host, contact=contact))}</p>
<p><a href="/map?lang={lang.value}" target="_blank" rel="noopener">{html.escape(t["open"])}</a></p>
<script nonce="{nonce}">
if (window.parent !== window) window.parent.postMessage({payload}, "*");
</script>
</body>
</html>
"""
