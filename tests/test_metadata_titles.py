"""Title spam: keyword stuffing and templated titles."""

from __future__ import annotations

import pytest

from compliance.metadata.titles import (
    DEFAULT_KEYWORDS,
    StuffingScore,
    keyword_stuffing,
    title_template,
)


@pytest.mark.parametrize(
    "title",
    [
        "Rain",
        "Deep Blue Sea",
        "Study in C minor",
        "Best of Me",
        "Chill",
        "Bohemian Rhapsody",
        "Hey Jude - Remastered 2009",
        "Rain, Rain, Go Away",  # one keyword, repeated twice
        "Baby Baby Baby",
        "Money, Money, Money",
        "Stop | Look | Listen",  # a chain without keywords
        "Piano Sonata No. 14 in C-sharp minor, Op. 27 No. 2: I. Adagio sostenuto",
        "",
        "🔥🔥🔥",
    ],
)
def test_ordinary_titles_are_not_stuffed(title):
    result = keyword_stuffing(title)
    assert not result.stuffed
    assert result.reasons == ()
    assert 0.0 <= result.score < 0.5


@pytest.mark.parametrize(
    "title",
    [
        "Lo-Fi Beats to Study/Relax To",
        "Relaxing Piano Music for Sleep, Study and Meditation",
        "Sleep Sounds 8D Bass Boosted (Slowed + Reverb)",
        "Brown Noise for Deep Sleep & Focus - 10 Hours",
        "TikTok Viral Hits 2025 Remix",
    ],
)
def test_keyword_stuffed_titles(title):
    result = keyword_stuffing(title)
    assert result.stuffed
    assert "keywords" in result.reasons
    assert len(result.keywords) >= 4
    assert result.score >= 0.5


def test_keywords_in_order_and_multi_word_keywords_count_once():
    result = keyword_stuffing("White Noise + Sped Up Rain Sounds for Sleep (white noise)")
    assert result.keywords == ("white noise", "sped up", "rain sounds", "sleep")
    assert result.n_words == 10
    assert result.stuffed


def test_separator_chains():
    chained = keyword_stuffing("Rain | Sleep | Study")
    assert chained.stuffed and chained.reasons == ("separator_chain",)
    assert keyword_stuffing("Rain | Sleep | Study | Relax").reasons == (
        "keywords",
        "separator_chain",
    )
    assert keyword_stuffing("Rain • Sleep • Study").stuffed
    assert not keyword_stuffing("Rain | Sleep").stuffed  # two segments are no chain
    # a long chain is stuffed whatever its words
    assert keyword_stuffing("Ocean / Waves / Wind / Forest / Birds / Stream").stuffed


def test_repeated_words():
    result = keyword_stuffing("Rain Sounds Rain Sounds Rain Sounds Rain Sounds")
    assert result.stuffed and result.reasons == ("repeated_word",)
    assert keyword_stuffing("Thunder thunder THUNDER thunder storm").stuffed


def test_custom_keywords_and_min_hits():
    keywords = frozenset({"chill", "rain", "tokyo night"})
    result = keyword_stuffing("Tokyo Night Chill Rain", keywords=keywords, min_hits=3)
    assert result.stuffed and result.keywords == ("tokyo night", "chill", "rain")
    assert not keyword_stuffing("Tokyo Night Chill Rain", keywords=keywords).stuffed
    with pytest.raises(ValueError):
        keyword_stuffing("x", min_hits=0)


def test_empty_title():
    assert keyword_stuffing("") == StuffingScore(score=0.0, keywords=(), n_words=0, stuffed=False)


def test_default_keywords_are_normalised_terms():
    assert {"sleep", "lo-fi", "lofi", "white noise", "bass boosted", "sped up"} <= DEFAULT_KEYWORDS
    assert all(k == k.casefold().strip() for k in DEFAULT_KEYWORDS)


@pytest.mark.parametrize(
    ("title", "key"),
    [
        ("Rain Sounds 1", "rain sounds #"),
        ("Rain Sounds 2", "rain sounds #"),
        ("rain sounds #3", "rain sounds #"),
        ("RAIN SOUNDS (17)", "rain sounds #"),
        ("🌧 Rain Sounds 4 🌧", "rain sounds #"),
        ("Ｒａｉｎ Ｓｏｕｎｄｓ ５", "rain sounds #"),
        ("Sleep Music, Pt. 12", "sleep music pt #"),
        ("Meditation Part IV", "meditation part #"),
        ("Meditation Part I", "meditation part #"),
        ("Rocky II", "rocky #"),
        ("Who Am I", "who am i"),  # a lone "I" is a word unless a part word precedes it
        ("Mix", "mix"),
        ("Track 01 - 1,000 Nights", "track # # nights"),
        ("Café del Mar", "café del mar"),
        ("", ""),
    ],
)
def test_title_template(title, key):
    assert title_template(title) == key
