"""The provider page ``/p/{id}`` as its HTML says it, on both stores: the grade history
(an accessible inline SVG and the same plain-words sentences as the grade-history API),
and one language per page (zh by default, ``lang=en``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import ClassVar

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from jzmap.settings import Settings
from providers.model import Provider
from providers.stores import Backend
from tests.test_grades_api import AUTH, ST, TOKEN, X, Y, complaint, good_reviews

# Attributes whose values a person reads or hears (a screen reader, the script's messages).
SPOKEN_ATTRIBUTES = {"aria-label", "title", "alt", "placeholder", "data-sent", "data-failed",
                     "data-busy"}  # fmt: skip
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


class _Spoken(HTMLParser):
    """The text and spoken attributes of a page, leaving out what is marked as being in
    another language than ``lang`` (the provider's own name, address and registered hours
    are the registry's words, marked ``lang="zh-CN"``; the language switch is marked too)."""

    VOID: ClassVar[set[str]] = {"meta", "link", "input", "br", "img"}

    def __init__(self, lang: str) -> None:
        super().__init__()
        self.lang = lang
        self.stack: list[bool] = []  # per open element: inside another language?
        self.skip = 0  # inside <style>/<script>/<title> of the head
        self.parts: list[str] = []

    def _other(self) -> bool:
        return any(self.stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        other = values.get("lang") not in (None, self.lang) or self._other()
        if tag in ("style", "script"):
            self.skip += 1
        if not other:
            self.parts += [v or "" for k, v in attrs if k in SPOKEN_ATTRIBUTES]
        if tag not in self.VOID:
            self.stack.append(other)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self.skip -= 1
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if not self.skip and not self._other():
            self.parts.append(data)


def spoken(page: str, lang: str) -> str:
    parser = _Spoken(lang)
    parser.feed(page)
    body = page.split("<body>", 1)[1]
    assert "<title" in page and body  # the page's <title> is the provider's name
    return " ".join(parser.parts)


@pytest.fixture
def client(backend: Backend) -> Iterator[TestClient]:
    backend.store.upsert([X, Y, ST])
    with TestClient(create_app(Settings(admin_token=SecretStr(TOKEN)), backend=backend)) as c:
        items = [*good_reviews(), complaint("verified", "2026-04-20T10:00:00+08:00")]
        r = c.post("/v1/admin/evaluations", json={"evaluations": items}, headers=AUTH)
        assert r.status_code == 200 and r.json()["grade_changes"], r.text
        yield c


def test_the_grade_history_reads_as_a_chart_and_in_plain_words(client: TestClient) -> None:
    api = client.get(f"/v1/providers/{X.id}/grade-history").json()
    assert len(api["changes"]) >= 2
    for lang, key in (("zh", "explanation_zh"), ("en", "explanation_en")):
        page = client.get(f"/p/{X.id}", params={"lang": lang}).text
        svg = re.search(r"<svg[^>]*>.*?</svg>", page, re.S)
        assert svg is not None
        assert 'aria-labelledby="jz-chart-title jz-chart-desc"' in svg[0]
        assert '<title id="jz-chart-title">' in svg[0] and '<desc id="jz-chart-desc">' in svg[0]
        # One dot per point: the baseline and each change.
        assert svg[0].count("<circle") == len(api["changes"]) + 1
        items = re.findall(r'<ul class="jz-changes"[^>]*>(.*?)</ul>', page, re.S)
        sentences = re.findall(r"<li>(.*?)</li>", items[0])
        expected = [c[key] for c in reversed(api["changes"])]
        assert [s.replace("&gt;", ">") for s in sentences] == expected


def test_a_station_page_has_no_chart(client: TestClient) -> None:
    page = client.get(f"/p/{ST.id}").text
    assert "<svg" not in page and "服务站不评信用等级" in page


@pytest.mark.parametrize("provider", [X, ST], ids=["company", "station"])
def test_no_string_of_the_other_language_on_the_page(
    client: TestClient, provider: Provider
) -> None:
    provider_id = provider.id
    zh = spoken(client.get(f"/p/{provider_id}").text, "zh-CN")
    en = spoken(client.get(f"/p/{provider_id}", params={"lang": "en"}).text, "en")
    assert "报告问题" in zh and "Report a problem" in en  # not vacuous
    assert CJK.findall(en) == [], en
    # Latin letters on the zh page: grades (5A … A) and nothing else.
    assert [w for w in LATIN_WORD.findall(zh) if not re.fullmatch(r"\d?A", w)] == [], zh
