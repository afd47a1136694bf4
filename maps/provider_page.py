"""The provider page ``/p/{id}``: one provider, phone first, readable with scripts off.

Everything a resident needs is in the HTML the server sends (no script at all): name,
kind, categories, grade with its history (a small SVG step chart), the 安心服务证 share,
hours and whether open now, the phone as a ``tel:`` link, the three navigate links,
address and how precise the location is. ``og:`` meta tags give chat apps a preview.
The values come from the public presenters (:mod:`jzmap.presentation`), so the page shows
exactly what the API shows.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from jzmap.presentation.schemas import ProviderOut
from maps.i18n import Lang, category_label, kind_label, precision_label, text
from providers.model import Grade

_PAGE_TEXT = {
    Lang.ZH: {
        "grade": "信用等级",
        "ungraded": "服务站不评信用等级",
        "history": "等级变化",
        "no_history": "暂无变化记录",
        "certified_share": "安心服务证持证率",
        "of": "{certified} / {total} 人持证",
        "hours": "服务时间",
        "phone": "电话",
        "no_phone": "未登记电话",
        "address": "地址",
        "location": "位置",
        "map": "在地图上查看",
        "legend": "5A 最高 … A 最低",
        "other_lang": "English",
        "verified": "信息核验于 {date}",
        "chart_desc": "{first} 为 {first_grade}，{last} 为 {last_grade}，共 {n} 个记录点。",
        "report": "报告问题",
        "report_kind": "哪里不对？",
        "report_wrong_phone": "电话不对",
        "report_closed": "已停业",
        "report_moved": "已搬迁",
        "report_other": "其他",
        "report_text": "补充说明（选填，最多 300 字；请勿填写个人姓名或电话）",
        "report_send": "提交",
        "report_sent": "谢谢！已收到，工作人员会核实。",
        "report_failed": "提交失败，请稍后再试。",
        "report_busy": "提交太频繁，请稍后再试。",
        "next_day": "次日",
    },
    Lang.EN: {
        "grade": "Credit grade",
        "ungraded": "Service stations are not graded",
        "history": "Grade changes",
        "no_history": "No change recorded yet",
        "certified_share": "Safe-service certificate holders",
        "of": "{certified} of {total} practitioners",
        "hours": "Hours",
        "phone": "Phone",
        "no_phone": "No phone registered",
        "address": "Address",
        "location": "Location",
        "map": "See on the map",
        "legend": "5A highest … A lowest",
        "other_lang": "中文",
        "verified": "Record verified on {date}",
        "chart_desc": "{first_grade} on {first}, {last_grade} on {last}; {n} points in all.",
        "report": "Report a problem",
        "report_kind": "What is wrong?",
        "report_wrong_phone": "Wrong phone",
        "report_closed": "Closed down",
        "report_moved": "Moved",
        "report_other": "Something else",
        "report_text": "More detail (optional, up to 300 characters; no names or phone "
        "numbers of people, please)",
        "report_send": "Send",
        "report_sent": "Thank you: received; staff will check it.",
        "report_failed": "Could not send; please try again later.",
        "report_busy": "Too many reports from here; please try again later.",
        "next_day": "next day ",
    },
}
_GRADE_Y = {Grade.A5: 5, Grade.A4: 4, Grade.A3: 3, Grade.A2: 2, Grade.A1: 1}

# The page's own style, sent with a nonce: large, phone-first, no external resource.
_STYLE = """
body{font-family:system-ui,"PingFang SC","Microsoft YaHei","Noto Sans CJK SC",sans-serif;
margin:0 auto;max-width:40rem;padding:0.75rem 1rem 2rem;font-size:18px;line-height:1.5;
color:#1d232a}
h1{font-size:1.4rem;margin:0.25rem 0}
.jz-sub{color:#46505a;margin:0 0 0.75rem}
a.jz-call{display:flex;align-items:center;justify-content:center;min-height:3.25rem;
background:#1b7f3b;color:#fff;font-weight:700;font-size:1.2rem;border-radius:0.5rem;
text-decoration:none;margin:0.5rem 0}
.jz-nav{display:flex;flex-wrap:wrap;gap:0.5rem;margin:0.5rem 0}
.jz-nav a{display:inline-flex;align-items:center;min-height:3rem;padding:0 0.8rem;
border:1px solid #1f5f99;border-radius:0.5rem;color:#1f5f99;text-decoration:none}
dl{margin:0.75rem 0}dt{font-weight:600;color:#46505a;font-size:0.9rem;margin-top:0.5rem}
dd{margin:0}.jz-open{color:#1b7f3b;font-weight:700}.jz-closed{color:#8a3b00;font-weight:700}
svg{max-width:100%;height:auto}footer{margin-top:1.5rem;font-size:0.9rem}
.jz-changes{padding-left:1.2rem;font-size:0.95rem}
.jz-report fieldset{border:0;padding:0;margin:0}.jz-report label{display:flex;
align-items:center;gap:0.5rem;min-height:3rem}.jz-report input[type=radio]{width:1.5rem;
height:1.5rem}.jz-report textarea{width:100%;box-sizing:border-box;font:inherit;
min-height:5rem}.jz-report button{min-height:3rem;min-width:6rem;font:inherit;
margin-top:0.5rem}.jz-notice{background:#e8f4ea;border-left:4px solid #1b7f3b;
padding:0.5rem 0.75rem}.jz-notice.jz-error{background:#fbeee6;border-color:#8a3b00}
"""
REPORT_KINDS = ("wrong_phone", "closed", "moved", "other")

# With scripts on, the form posts to the JSON API and says so in place; with them off,
# it posts as a plain form and the server redirects back with ?reported=1.
_REPORT_SCRIPT = """
(function(){var f=document.querySelector('form.jz-report');if(!f||!window.fetch)return;
var out=f.querySelector('.jz-report-status');
f.addEventListener('submit',function(ev){ev.preventDefault();var d=new FormData(f);
var kind=d.get('kind');if(!kind)return;var text=(d.get('text')||'').trim();
out.className='jz-report-status';
fetch(f.dataset.api,{method:'POST',headers:{'Content-Type':'application/json'},
body:JSON.stringify({kind:kind,text:text||null})}).then(function(r){
if(r.ok){out.textContent=f.dataset.sent;out.className+=' jz-notice';f.reset();}
else{out.textContent=r.status===429?f.dataset.busy:f.dataset.failed;
out.className+=' jz-notice jz-error';}}).catch(function(){
out.textContent=f.dataset.failed;out.className+=' jz-notice jz-error';});});})();
"""


@dataclass(frozen=True, slots=True)
class GradePoint:
    """One step of a company's grade history: from ``at`` on, ``grade``."""

    at: dt.datetime
    grade: Grade


def grade_chart_svg(points: Sequence[GradePoint], lang: Lang) -> str:
    """A small step chart of the grade over time (5A at the top), as inline SVG.

    Examples
    --------
    >>> svg = grade_chart_svg([GradePoint(dt.datetime(2026, 1, 1), Grade.A3),
    ...                        GradePoint(dt.datetime(2026, 6, 1), Grade.A4)], Lang.ZH)
    >>> svg.count("<circle"), "3A" in svg and "4A" in svg
    (2, True)
    """
    if not points:
        return ""
    width, height, left, top, step = 320, 130, 34, 10, 22
    first, last = points[0].at.timestamp(), points[-1].at.timestamp()
    span = max(last - first, 1.0)

    def x(at: dt.datetime) -> float:
        if len(points) == 1:
            return left + 10
        return left + 10 + (width - left - 20) * (at.timestamp() - first) / span

    def y(grade: Grade) -> float:
        return top + (5 - _GRADE_Y[grade]) * step

    labels = "".join(
        f'<text x="2" y="{y(g) + 4:.0f}" font-size="11">{g.value}</text>' for g in Grade
    )
    path = [f"M{x(points[0].at):.1f},{y(points[0].grade):.1f}"]
    for p in points[1:]:
        path.append(f"H{x(p.at):.1f} V{y(p.grade):.1f}")
    path.append(f"H{width - 10}")
    dots = "".join(
        f'<circle cx="{x(p.at):.1f}" cy="{y(p.grade):.1f}" r="4" fill="#1f5f99">'
        f"<title>{p.at.date().isoformat()} {p.grade.value}</title></circle>"
        for p in points
    )
    title = _PAGE_TEXT[lang]["history"]
    desc = _PAGE_TEXT[lang]["chart_desc"].format(
        first=points[0].at.date().isoformat(),
        first_grade=points[0].grade.value,
        last=points[-1].at.date().isoformat(),
        last_grade=points[-1].grade.value,
        n=len(points),
    )
    return (
        f'<svg role="img" aria-labelledby="jz-chart-title jz-chart-desc" '
        f'viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="jz-chart-title">{html.escape(title)}</title>'
        f'<desc id="jz-chart-desc">{html.escape(desc)}</desc>'
        f"{labels}"
        f'<path d="{" ".join(path)}" fill="none" stroke="#1f5f99" stroke-width="2"/>'
        f"{dots}</svg>"
    )


def _hours_html(p: ProviderOut, lang: Lang) -> str:
    t = text(lang)
    state = p.hours.state if p.hours else "unknown"
    css = {"open": "jz-open", "closed": "jz-closed"}.get(state, "")
    today = ""
    if p.hours is not None and p.hours.today is not None:
        intervals = p.hours.today.replace("次日", _PAGE_TEXT[lang]["next_day"])
        today = f" · {t['today']} {intervals}" if intervals else f" · {t['closed_today']}"
    # The registry's own words, in its language (marked so, for screen readers).
    return (
        f'<span class="{css}">{html.escape(t["open_state_" + state])}</span>'
        f'{html.escape(today)}<br><span lang="zh-CN">{html.escape(p.opening_hours)}</span>'
    )


def _report_form(p: ProviderOut, lang: Lang) -> str:
    """The "report a problem" form: a plain HTML form (scripts off), which the page's
    script turns into a call of the JSON API with the answer shown in place."""
    pt, e = _PAGE_TEXT[lang], html.escape
    kinds = "".join(
        f'<label><input type="radio" name="kind" value="{k}" required> '
        f"{e(pt['report_' + k])}</label>"
        for k in REPORT_KINDS
    )
    provider = quote(p.id, safe="")
    return (
        f'<section aria-labelledby="jz-report-h"><h2 id="jz-report-h">{e(pt["report"])}</h2>'
        f'<form class="jz-report" method="post" action="/p/{provider}/report?lang={lang.value}"'
        f' data-api="/v1/providers/{provider}/reports" data-sent="{e(pt["report_sent"])}"'
        f' data-failed="{e(pt["report_failed"])}" data-busy="{e(pt["report_busy"])}">'
        f"<fieldset><legend>{e(pt['report_kind'])}</legend>{kinds}</fieldset>"
        f'<label for="jz-report-text">{e(pt["report_text"])}</label>'
        f'<textarea id="jz-report-text" name="text" maxlength="300" rows="3"></textarea>'
        f'<button type="submit">{e(pt["report_send"])}</button>'
        '<p class="jz-report-status" role="status" aria-live="polite"></p></form></section>'
    )


def report_notice(lang: Lang, outcome: str) -> str:
    """The sentence a report's outcome gets on the page (``sent``, ``busy``, ``failed``)."""
    return _PAGE_TEXT[lang][f"report_{outcome}"]


@dataclass(frozen=True, slots=True)
class GradeTrail:
    """A company's grade history for the page: the chart's points and one plain sentence
    per change, in the page's language, newest first."""

    points: Sequence[GradePoint] = ()
    changes: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class PageNotice:
    """A sentence at the top of the page (a report received, or refused)."""

    text: str
    error: bool = False


def render_provider_page(
    p: ProviderOut,
    trail: GradeTrail,
    lang: Lang,
    *,
    page_url: str,
    nonce: str,
    notice: PageNotice | None = None,
) -> str:
    """The page's HTML (``page_url``: this page's own address, for ``og:url``; ``nonce``:
    the Content-Security-Policy's, for the inline style sheet and script)."""
    t, pt = text(lang), _PAGE_TEXT[lang]
    e = html.escape
    categories = "、".join(category_label(c, lang) for c in p.categories)
    kind = kind_label(p.kind, lang)
    grade = p.credit_grade.value if p.credit_grade is not None else None
    summary = f"{kind} · {categories}" + (f" · {t['grade']} {grade}" if grade else "")
    call = (
        f'<a class="jz-call" href="{e(p.tel)}">{e(t["call"])} {e(p.phone)}</a>'
        if p.tel
        else f"<p>{e(t['phone'])}: {e(p.phone or pt['no_phone'])}</p>"
    )
    nav = ""
    if p.navigate is not None:
        links = [
            (t["nav_amap"], p.navigate.amap.web),
            (t["nav_baidu"], p.navigate.baidu.web),
            (t["nav_tencent"], p.navigate.tencent.web),
        ]
        nav = (
            '<div class="jz-nav">'
            + "".join(
                f'<a class="jz-nav-link" href="{e(url)}" rel="noopener noreferrer">'
                f"{e(t['navigate'])} · {e(name)}</a>"
                for name, url in links
            )
            + "</div>"
        )
    share = (
        f"{round(100 * p.certified_practitioners / p.practitioners)}% · "
        + pt["of"].format(certified=p.certified_practitioners, total=p.practitioners)
        if p.practitioners
        else "—"
    )
    if grade is None:
        grade_html = e(pt["ungraded"])
    else:
        chart = grade_chart_svg(trail.points, lang)
        grade_html = f"<strong>{e(grade)}</strong> ({e(pt['legend'])})" + (
            f"<br>{chart}" if chart else f"<br>{e(pt['no_history'])}"
        )
        if trail.changes:
            grade_html += (
                f'<ul class="jz-changes" aria-label="{e(pt["history"])}">'
                + "".join(f"<li>{e(c)}</li>" for c in trail.changes)
                + "</ul>"
            )
    other = Lang.EN if lang is Lang.ZH else Lang.ZH
    rows = [
        (t["hours"], _hours_html(p, lang)),
        (pt["grade"], grade_html),
        (pt["certified_share"], e(share)),
        (pt["address"], f'<span lang="zh-CN">{e(p.address or "—")}</span>'),
        (pt["location"], e(precision_label(p.geocode_precision, lang))),
    ]
    body = "".join(f"<dt>{e(k)}</dt><dd>{v}</dd>" for k, v in rows)
    # How fresh the record is (the last import that held it); nothing when never dated.
    verified = ""
    if p.verified_at is not None:
        when = pt["verified"].format(date=p.verified_at.isoformat())
        verified = f'<p class="jz-verified">{e(when)}</p>'
    description = f"{summary} · {p.address}".strip(" ·")
    banner = ""
    if notice is not None:
        css = "jz-notice jz-error" if notice.error else "jz-notice"
        banner = f'<p class="{css}" role="status">{e(notice.text)}</p>'
    return (
        (
            f'<!DOCTYPE html><html lang="{"zh-CN" if lang is Lang.ZH else "en"}"><head>'
            '<meta charset="utf-8"><meta name="viewport" content="width=device-width, '
            'initial-scale=1">'
            '<link rel="icon" href="data:,">'
            f'<title lang="zh-CN">{e(p.name)}</title>'
            f'<meta name="description" content="{e(description)}">'
            f'<meta property="og:type" content="place">'
            f'<meta property="og:title" content="{e(p.name)}">'
            f'<meta property="og:description" content="{e(description)}">'
            f'<meta property="og:url" content="{e(page_url)}">'
            f'<meta property="og:locale" content="{"zh_CN" if lang is Lang.ZH else "en_US"}">'
            f'<style nonce="{e(nonce)}">{{STYLE}}</style></head><body>'
            f'<main data-provider-id="{e(p.id)}">{banner}<h1 lang="zh-CN">{e(p.name)}</h1>'
            f'<p class="jz-sub">{e(summary)}</p>{call}{nav}<dl>{body}</dl>{verified}'
            f"{_report_form(p, lang)}</main>"
            f'<footer><a href="/map?lang={lang.value}&amp;lat={p.lat:.6f}&amp;lon={p.lon:.6f}'
            f'&amp;crs={p.crs.value}">{e(pt["map"])}</a> · '
            f'<a href="?lang={other.value}" lang="{other.value}">{e(pt["other_lang"])}</a></footer>'
            f'<script nonce="{e(nonce)}">{{SCRIPT}}</script></body></html>'
        )
        .replace("{STYLE}", _STYLE)
        .replace("{SCRIPT}", _REPORT_SCRIPT)
    )
