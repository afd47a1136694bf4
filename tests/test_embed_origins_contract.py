"""The embed origins contract, run unchanged against both backends; and what an origin is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from providers.embedding import (
    MAX_STORED_ORIGINS,
    EmbedOriginStore,
    normalize_note,
    normalize_origin,
)
from providers.errors import InvalidParameterError, TooLargeError
from providers.stores.embed_origins_embedded import EmbeddedEmbedOrigins


def test_added_origins_list_in_order_with_their_notes(embed_origins: EmbedOriginStore) -> None:
    before = datetime.now(UTC) - timedelta(minutes=1)
    assert embed_origins.list() == []
    assert embed_origins.add("https://b.example.cn", "公交 app") is True
    assert embed_origins.add("http://127.0.0.1:8081") is True
    listed = embed_origins.list()
    assert [o.origin for o in listed] == ["http://127.0.0.1:8081", "https://b.example.cn"]
    assert listed[1].note == "公交 app"
    assert all(before < o.added_at < datetime.now(UTC) + timedelta(minutes=1) for o in listed)


def test_adding_again_keeps_one_row_and_replaces_the_note(
    embed_origins: EmbedOriginStore,
) -> None:
    embed_origins.add("https://a.example.cn", "first")
    added_at = embed_origins.list()[0].added_at
    assert embed_origins.add("https://a.example.cn", "second") is False
    (only,) = embed_origins.list()
    assert (only.note, only.added_at) == ("second", added_at)


def test_remove_says_whether_it_was_there(embed_origins: EmbedOriginStore) -> None:
    embed_origins.add("https://a.example.cn")
    assert embed_origins.remove("https://a.example.cn") is True
    assert embed_origins.remove("https://a.example.cn") is False
    assert embed_origins.list() == []


def test_the_number_of_stored_origins_is_capped(embed_origins: EmbedOriginStore) -> None:
    for n in range(MAX_STORED_ORIGINS):
        embed_origins.add(f"https://app{n}.example.cn")
    with pytest.raises(TooLargeError, match="remove some first"):
        embed_origins.add("https://one-more.example.cn")
    # One already stored may still be re-added (its note changed).
    assert embed_origins.add("https://app0.example.cn", "renamed") is False
    assert embed_origins.delete_all() == MAX_STORED_ORIGINS


def test_the_embedded_origins_outlive_their_process(tmp_path: Path) -> None:
    first = EmbeddedEmbedOrigins(tmp_path)
    first.add("https://a.example.cn", "kept")
    first.close()
    again = EmbeddedEmbedOrigins(tmp_path)
    assert [(o.origin, o.note) for o in again.list()] == [("https://a.example.cn", "kept")]
    again.close()


@pytest.mark.parametrize(
    ("given", "origin"),
    [
        ("https://App.Example.CN", "https://app.example.cn"),
        ("https://app.example.cn/", "https://app.example.cn"),
        ("https://app.example.cn:443", "https://app.example.cn"),
        ("http://app.example.cn:80", "http://app.example.cn"),
        ("http://localhost:8081", "http://localhost:8081"),
        (" http://127.0.0.1:9000 ", "http://127.0.0.1:9000"),
        ("https://[::1]:8443", "https://[::1]:8443"),
        ("https://xn--fiqs8s.cn", "https://xn--fiqs8s.cn"),
    ],
)
def test_an_origin_is_normalised_as_browsers_send_it(given: str, origin: str) -> None:
    assert normalize_origin(given) == origin


@pytest.mark.parametrize(
    "given",
    [
        "",
        "app.example.cn",
        "https://*.example.cn",
        "*",
        "https://app.example.cn/path",
        "https://app.example.cn/?q=1",
        "https://app.example.cn#x",
        "https://user@app.example.cn",
        "ftp://app.example.cn",
        "javascript://app.example.cn",
        "https://app.example.cn:0",
        "https://app.example.cn:99999",
        "https://-bad-.cn",
        "https://a b.cn",
        "https://" + "a" * 300 + ".cn",
        "https://app.example.cn'; script-src *",
    ],
)
def test_what_is_not_an_origin_is_refused_with_what_is(given: str) -> None:
    with pytest.raises(InvalidParameterError, match=r"scheme://host\[:port\]"):
        normalize_origin(given)


def test_a_note_is_capped() -> None:
    assert normalize_note("  who asked  ") == "who asked"
    with pytest.raises(InvalidParameterError, match="note"):
        normalize_note("x" * 201)
