"""The words of the map pages, in Simplified Chinese (default) and English.

One table for the server-rendered controls and the page script (which receives the
language's table in its configuration), so the two cannot disagree.

Examples
--------
>>> text(Lang.EN)["locate"]
'Near me'
>>> district_label("天河区", Lang.EN)
'Tianhe'
"""

from __future__ import annotations

from enum import StrEnum

from providers.model import Category, Grade, Kind, Precision


class Lang(StrEnum):
    ZH = "zh"
    EN = "en"


_ZH: dict[str, str] = {
    "title": "家政服务地图",
    "widget_title": "附近的家政服务",
    "category": "服务类别",
    "any_category": "全部类别",
    "min_grade": "最低信用等级",
    "any_grade": "不限等级",
    "kind": "机构类型",
    "any_kind": "企业和服务站",
    "certified_only": "只看有安心服务证人员的",
    "locate": "我的附近",
    "search_centre": "搜索地图中心附近",
    "large_text": "大字模式",
    "language": "English",
    "results": "最近的合适机构",
    "results_hint": "点击地图任意位置，或按“我的附近”，列出最近的合适机构。",
    "no_results": "附近没有符合条件的机构，请放宽条件。",
    "loading": "正在加载…",
    "searching": "正在查找…",
    "mode_districts": "按区统计：{total} 家机构。放大地图查看具体位置。",
    "mode_cells": "按网格统计：视野内 {total} 家机构。继续放大查看具体位置。",
    "mode_points": "视野内 {total} 家机构。",
    "error": "出错了：{message}",
    "locate_failed": "无法获取您的位置：{message}。请点击地图选择位置。",
    "distance": "距离",
    "grade": "信用等级",
    "station": "基层服务站",
    "company": "家政企业",
    "score": "综合得分",
    "score_distance": "距离",
    "score_grade": "等级",
    "score_certified": "持证",
    "phone": "电话",
    "hours": "服务时间",
    "address": "地址",
    "certified": "安心服务证持证人员",
    "practitioners": "从业人员",
    "precision_exact": "位置：门牌地址",
    "precision_street": "位置为近似值（街道中心），实际地址请电话确认",
    "precision_district": "位置为近似值（区中心），实际地址请电话确认",
    "synthetic": "演示数据，非真实机构",
    "count": "{count} 家",
    "ungraded": "服务站（不评信用等级）",
    "grade_history": "信用等级为何变动",
    "explanation_field": "explanation_zh",
    "select": "选择",
    "offline": "离线副本：只含统计，查找最近机构请使用在线地图。",
    "you_are_here": "查询位置",
    "embed_title": "在您的应用中嵌入家政服务地图",
    "embed_intro": "选择参数，复制下面的代码放入您的页面。您的网站需先获准嵌入：请运营方用 "
    "jzmap embed-origins add 加入您网站的地址（无需重启）。",
    "embed_code": "嵌入代码",
    "embed_preview": "预览",
    "embed_message": "用户选择机构时，小部件向父页面发送 message 事件：",
    "zoom": "缩放级别",
    "lat": "纬度",
    "lon": "经度",
    "coord_crs": "坐标系",
    "view": "显示",
    "view_providers": "服务机构",
    "view_coverage": "覆盖缺口",
    "covered": "已覆盖",
    "residents": "居民",
    "within_reach": "可达机构",
    "site": "建议新站点 {rank}：新增覆盖 {added} 名居民",
    # issue 16: call, navigate, open now
    "open_now": "只看现在营业的",
    "open_state_open": "营业中",
    "open_state_closed": "已休息",
    "open_state_unknown": "营业时间不详",
    "today": "今天",
    "closed_today": "今天不营业",
    "call": "拨打电话",
    "navigate": "导航",
    "nav_amap": "高德地图",
    "nav_baidu": "百度地图",
    "nav_tencent": "腾讯地图",
    "details": "机构详情",
    # issue 16: find by words, results a person understands
    "place_label": "找地址、小区或街道",
    "place_hint": "例如：天河区、赤岗街道、某某小区",
    "place_none": "没有找到这个地方，换个说法试试。",
    "place_count": "{count} 个地点",
    "place_chosen": "已选择：{name}",
    "place_kind_district": "区",
    "place_kind_street": "街道",
    "place_kind_address": "地址",
    "found": "找到 {count} 家",
    "found_none": "没有找到",
    "sort": "排序",
    "sort_score": "综合推荐",
    "sort_distance": "距离最近",
    "show_map": "看地图",
    "show_list": "看列表",
    "back": "返回列表",
    "why": "为什么排在这里",
    "near": "近",
    "mid": "较近",
    "far": "较远",
    "certified_share": "持证率 {share}",
    "no_practitioners": "无从业人员记录",
    "station_short": "服务站",
    "station_rank": "服务站不评信用等级，排序时按中等（相当于 3A）计算。",
    "score_sum": "综合得分 {score}（满分 1）",
    "score_part": "{name}：{value}，权重 {weight}，得 {points} 分",
    "score_name_distance": "距离",
    "score_name_grade": "信用等级",
    "score_name_certified": "持证率",
    "legend": "图例：颜色和字母的意思",
    "legend_grade_5A": "5A：信用等级最高",
    "legend_grade_4A": "4A",
    "legend_grade_3A": "3A",
    "legend_grade_2A": "2A",
    "legend_grade_A": "A：信用等级最低",
    "legend_station": "基层服务站（不评等级）",
    "legend_ranked": "查找结果的名次",
    "station_mark": "站",
    "hours_verbatim": "登记原文：",
    "err_invalid_parameter": "查询条件有误，请换个条件再试。",
    "err_not_found": "没有找到这家机构，它可能已不在名录中。",
    "err_rate_limited": "请求太频繁，请稍等片刻再试。",
    "err_unavailable": "服务暂时不可用，请稍后再试。",
    "err_outside": "这个位置不在服务范围内，请在城市范围内选择。",
    "err_network": "网络连接失败，请检查网络后再试。",
    "err_generic": "出错了，请稍后再试。",
    "geo_denied": "您没有允许使用位置",
    "geo_unavailable": "暂时无法确定您的位置",
    "geo_timeout": "获取位置超时",
    "geo_unsupported": "这个浏览器不支持定位",
    "zoom_in": "放大",
    "zoom_out": "缩小",
}

_EN: dict[str, str] = {
    "title": "Domestic services map",
    "widget_title": "Domestic services near you",
    "category": "Service",
    "any_category": "All services",
    "min_grade": "Minimum credit grade",
    "any_grade": "Any grade",
    "kind": "Provider type",
    "any_kind": "Companies and stations",
    "certified_only": "Only with certified workers",
    "locate": "Near me",
    "search_centre": "Search near the map centre",
    "large_text": "Large text",
    "language": "中文",
    "results": "Nearest suitable providers",
    "results_hint": "Tap anywhere on the map, or press “Near me”, to list the nearest providers.",
    "no_results": "No provider matches nearby; try fewer filters.",
    "loading": "Loading…",
    "searching": "Searching…",
    "mode_districts": "Counts per district: {total} providers. Zoom in to see where they are.",
    "mode_cells": "Counts per area: {total} providers in view. Zoom in to see each one.",
    "mode_points": "{total} providers in view.",
    "error": "Something went wrong: {message}",
    "locate_failed": "Could not get your location: {message}. Tap the map to choose a place.",
    "distance": "Distance",
    "grade": "Credit grade",
    "station": "Community service station",
    "company": "Domestic-service company",
    "score": "Score",
    "score_distance": "distance",
    "score_grade": "grade",
    "score_certified": "certified",
    "phone": "Phone",
    "hours": "Hours",
    "address": "Address",
    "certified": "Certified workers",
    "practitioners": "Practitioners",
    "precision_exact": "Location: street address",
    "precision_street": "Approximate location (street centre); call to confirm the address",
    "precision_district": "Approximate location (district centre); call to confirm the address",
    "synthetic": "Demo data, not a real provider",
    "count": "{count}",
    "ungraded": "Station (no credit grade)",
    "grade_history": "Why the grade moved",
    "explanation_field": "explanation_en",
    "select": "Select",
    "offline": "Offline copy: counts only. Use the online map to find the nearest provider.",
    "you_are_here": "Search point",
    "embed_title": "Embed the domestic services map in your app",
    "embed_intro": "Choose the options and copy the code into your page. Your site must be "
    "allowed first: the operator adds its origin with jzmap embed-origins add (no restart).",
    "embed_code": "Code to embed",
    "embed_preview": "Preview",
    "embed_message": "When a resident selects a provider, the widget posts a message event "
    "to the host page:",
    "zoom": "Zoom",
    "lat": "Latitude",
    "lon": "Longitude",
    "coord_crs": "Coordinates",
    "view": "Show",
    "view_providers": "Providers",
    "view_coverage": "Coverage gaps",
    "covered": "Covered",
    "residents": "Residents",
    "within_reach": "Providers in reach",
    "site": "Proposed station {rank}: covers {added} more residents",
    # issue 16: call, navigate, open now
    "open_now": "Open now only",
    "open_state_open": "Open now",
    "open_state_closed": "Closed now",
    "open_state_unknown": "Hours unknown",
    "today": "today",
    "closed_today": "closed today",
    "call": "Call",
    "navigate": "Directions",
    "nav_amap": "AMap",
    "nav_baidu": "Baidu Maps",
    "nav_tencent": "Tencent Maps",
    "details": "Details",
    # issue 16: find by words, results a person understands
    "place_label": "Find an address, estate or street",
    "place_hint": "e.g. Tianhe, a street or an estate",
    "place_none": "No such place found; try other words.",
    "place_count": "{count} places",
    "place_chosen": "Chosen: {name}",
    "place_kind_district": "district",
    "place_kind_street": "street",
    "place_kind_address": "address",
    "found": "Found {count}",
    "found_none": "None found",
    "sort": "Order",
    "sort_score": "Recommended",
    "sort_distance": "Nearest first",
    "show_map": "Show map",
    "show_list": "Show list",
    "back": "Back to the list",
    "why": "Why it ranks here",
    "near": "near",
    "mid": "fairly near",
    "far": "further",
    "certified_share": "{share} certified",
    "no_practitioners": "no practitioners on record",
    "station_short": "station",
    "station_rank": "Stations have no credit grade; the ranking counts them as a middle "
    "grade (like 3A).",
    "score_sum": "Score {score} (out of 1)",
    "score_part": "{name}: {value}, weight {weight}, {points} points",
    "score_name_distance": "Distance",
    "score_name_grade": "Credit grade",
    "score_name_certified": "Certified share",
    "legend": "Key: what colours and letters mean",
    "legend_grade_5A": "5A: highest credit grade",
    "legend_grade_4A": "4A",
    "legend_grade_3A": "3A",
    "legend_grade_2A": "2A",
    "legend_grade_A": "A: lowest credit grade",
    "legend_station": "Community service station (not graded)",
    "legend_ranked": "Rank in the search results",
    "station_mark": "S",
    "hours_verbatim": "As registered: ",
    "err_invalid_parameter": "The search could not be read; try other choices.",
    "err_not_found": "This provider was not found; it may have left the directory.",
    "err_rate_limited": "Too many requests; wait a moment and try again.",
    "err_unavailable": "The service is unavailable for now; try again later.",
    "err_outside": "This place is outside the area served; choose one in the city.",
    "err_network": "No connection; check the network and try again.",
    "err_generic": "Something went wrong; try again later.",
    "geo_denied": "you did not allow access to your location",
    "geo_unavailable": "your location cannot be found right now",
    "geo_timeout": "finding your location took too long",
    "geo_unsupported": "this browser cannot tell its location",
    "zoom_in": "Zoom in",
    "zoom_out": "Zoom out",
}

_TEXT = {Lang.ZH: _ZH, Lang.EN: _EN}

_DISTRICTS_EN = {
    "荔湾区": "Liwan",
    "越秀区": "Yuexiu",
    "海珠区": "Haizhu",
    "天河区": "Tianhe",
    "白云区": "Baiyun",
    "黄埔区": "Huangpu",
    "番禺区": "Panyu",
    "花都区": "Huadu",
    "南沙区": "Nansha",
    "从化区": "Conghua",
    "增城区": "Zengcheng",
}


def text(lang: Lang) -> dict[str, str]:
    """Every string of the pages in ``lang``."""
    return _TEXT[lang]


def district_label(name: str, lang: Lang) -> str:
    """A district's name in ``lang`` (the Chinese name when no translation is known)."""
    return _DISTRICTS_EN.get(name, name) if lang is Lang.EN else name


def category_label(category: Category, lang: Lang) -> str:
    return category.label_en if lang is Lang.EN else category.label_zh


def kind_label(kind: Kind, lang: Lang) -> str:
    return text(lang)["company" if kind is Kind.COMPANY else "station"]


def grade_label(grade: Grade, lang: Lang) -> str:
    return f"{grade.value} ({'credit grade' if lang is Lang.EN else '信用等级'})"


def precision_label(precision: Precision, lang: Lang) -> str:
    return text(lang)[f"precision_{precision.value}"]


def all_labels(lang: Lang) -> dict[str, dict[str, str]]:
    """Labels of the enums the page script shows, keyed by enum value."""
    return {
        "category": {c.value: category_label(c, lang) for c in Category},
        "kind": {k.value: kind_label(k, lang) for k in Kind},
        "precision": {p.value: precision_label(p, lang) for p in Precision},
        "district": {zh: district_label(zh, lang) for zh in _DISTRICTS_EN},
    }
