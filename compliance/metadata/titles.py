"""Title spam: keyword stuffing and templated titles.

Streaming services' spam policies name keyword stuffing -- titles (and artist names)
loaded with search terms to catch searches and algorithmic playlists -- and mass
uploads of near-identical tracks (Spotify's "Spam policy" names both, "keyword
stuffing" and "mass uploads, duplicates"; Deezer and YouTube Music have equivalent
rules). :func:`keyword_stuffing` scores the first, :func:`title_template` gives the key
that groups the second ("Rain Sounds 1", "Rain Sounds 2", ...).

The keyword list and the thresholds here are defaults; the policy YAML overrides them.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

# Generic search, mood and function terms that spam uploads stuff into titles. A starting
# point compiled from the patterns the services' spam policies describe (functional
# "sleep / study / relax" audio, noise and ASMR loops, "slowed + reverb" and "sped up"
# edits, trend and year tags); operators extend it in the policy.
DEFAULT_KEYWORDS: frozenset[str] = frozenset(
    {
        # function / mood
        "sleep", "sleeping", "relax", "relaxing", "relaxation", "study", "studying",
        "focus", "concentration", "meditation", "meditate", "yoga", "spa", "massage",
        "calm", "calming", "chill", "peaceful", "soothing", "stress relief", "anxiety",
        "healing", "insomnia", "baby", "lullaby", "workout", "gym", "running",
        "motivation", "motivational", "party",
        # sounds and genres used as search terms
        "lofi", "lo-fi", "beats", "rain", "rain sounds", "thunder", "ocean waves",
        "sounds", "nature sounds", "white noise", "brown noise", "pink noise", "asmr",
        "8d", "8d audio", "bass boosted", "binaural", "hz", "432hz", "528hz", "piano",
        "ambient", "deep", "background", "instrumental", "music", "playlist", "mix",
        # edits and trend tags
        "remix", "slowed", "reverb", "sped up", "nightcore", "tiktok", "viral", "trending",
        "hits", "best", "top", "new", "official", "2023", "2024", "2025", "2026",
        "hours", "1 hour", "10 hours",
    }
)  # fmt: skip
MIN_HITS = 4
"""Distinct keywords that make a title stuffed."""
CHAIN_MIN_SEGMENTS = 3
"""A title split by separators into this many short segments is a separator chain."""
CHAIN_SEGMENT_MAX_WORDS = 3
"""A chain segment has at most this many words."""
CHAIN_LONG = 6
"""A separator chain of this many segments is stuffed whatever its words."""
REPEAT_MIN = 4
"""A word of 3+ letters repeated this many times makes a title stuffed."""

_WORD = re.compile(r"[^\W_]+")
_CHAIN_SEPARATOR = re.compile(r"\s*(?:[|｜•·/,;~★☆♦♥✦]|\s[-–—:]\s|[–—])\s*")
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_ROMAN = re.compile(r"x{0,3}(?:ix|iv|v?i{0,3})")
_ROMAN_AFTER_WORDS = (
    "part pt vol volume chapter chap no episode ep book act movement mvt op opus track "
    "session scene side level stage day"
)
_ROMAN_AFTER = frozenset(_ROMAN_AFTER_WORDS.split())


@dataclass(frozen=True, slots=True)
class StuffingScore:
    """How much a title looks keyword-stuffed.

    Attributes
    ----------
    score : float
        0..1: ``min(1, hits / min_hits) * (0.5 + 0.5 * share)``, where ``hits`` is the
        number of distinct keywords (plus one for a separator chain; ``min_hits`` for
        a repeated word) and ``share`` the fraction of the title's words that are
        keyword words.
    keywords : tuple of str
        The distinct keywords found, as listed, in title order.
    n_words : int
    stuffed : bool
        ``hits >= min_hits``, or a separator chain of :data:`CHAIN_LONG` segments.
    reasons : tuple of str
        For a stuffed title, the patterns seen: ``keywords`` (at least ``min_hits``),
        ``separator_chain``, ``repeated_word``; empty when not stuffed.
    """

    score: float
    keywords: tuple[str, ...]
    n_words: int
    stuffed: bool
    reasons: tuple[str, ...] = ()


def _words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


@lru_cache(maxsize=16)
def _keyword_table(keywords: frozenset[str]) -> tuple[dict[tuple[str, ...], str], int]:
    """Keyword word tuples -> keyword as listed; the longest keyword in words."""
    table: dict[tuple[str, ...], str] = {}
    for keyword in sorted(keywords):
        words = tuple(_words(keyword))
        if words:
            table.setdefault(words, keyword)
    return table, max((len(w) for w in table), default=0)


def _find_keywords(words: list[str], keywords: frozenset[str]) -> tuple[list[str], int]:
    """Keywords in order of first appearance (longest match first), and words covered."""
    table, longest = _keyword_table(keywords)
    found: list[str] = []
    covered = 0
    i = 0
    while i < len(words):
        for n in range(min(longest, len(words) - i), 0, -1):
            keyword = table.get(tuple(words[i : i + n]))
            if keyword is not None:
                if keyword not in found:
                    found.append(keyword)
                covered += n
                i += n
                break
        else:
            i += 1
    return found, covered


def _chain_segments(title: str) -> int:
    """Number of segments when the title is a chain of short separated segments, else 0."""
    segments = [s for s in _CHAIN_SEPARATOR.split(title) if _words(s)]
    if len(segments) < CHAIN_MIN_SEGMENTS:
        return 0
    if any(len(_words(s)) > CHAIN_SEGMENT_MAX_WORDS for s in segments):
        return 0
    return len(segments)


def keyword_stuffing(
    title: str, *, keywords: frozenset[str] = DEFAULT_KEYWORDS, min_hits: int = MIN_HITS
) -> StuffingScore:
    """Score a title for keyword stuffing.

    Keywords are matched on whole words after NFKC and case folding, longest first, so
    a multi-word keyword ("white noise", "sped up", "lo-fi" as "lo fi") counts once and
    its words are not counted again. A title is stuffed when it has ``min_hits``
    distinct keywords; a chain of short segments between separators ("Rain | Sleep |
    Study") counts as one more hit, and a long chain (:data:`CHAIN_LONG` segments) or a
    word repeated :data:`REPEAT_MIN` times is stuffed on its own. One or two keywords in
    an ordinary title ("Rain", "Deep Blue Sea", "Best of Me") are not.

    Parameters
    ----------
    title : str
    keywords : frozenset of str, optional
        Search terms (default :data:`DEFAULT_KEYWORDS`).
    min_hits : int, optional
        Distinct keywords that make a title stuffed (default :data:`MIN_HITS`).

    Returns
    -------
    StuffingScore
    """
    if min_hits < 1:
        raise ValueError(f"min_hits must be >= 1, got {min_hits}")
    words = _words(title)
    if not words:
        return StuffingScore(score=0.0, keywords=(), n_words=0, stuffed=False)
    found, covered = _find_keywords(words, keywords)
    reasons: list[str] = []
    hits = len(found)
    if hits >= min_hits:
        reasons.append("keywords")
    chain = _chain_segments(title)
    if chain:
        hits += 1
        reasons.append("separator_chain")
    counts = Counter(w for w in words if len(w) >= 3 and not w.isdigit())
    if counts and max(counts.values()) >= REPEAT_MIN:
        hits = max(hits, min_hits)
        reasons.append("repeated_word")
    share = covered / len(words)
    score = min(1.0, hits / min_hits) * (0.5 + 0.5 * share)
    stuffed = hits >= min_hits or chain >= CHAIN_LONG
    return StuffingScore(
        score=round(score, 4),
        keywords=tuple(found),
        n_words=len(words),
        stuffed=stuffed,
        reasons=tuple(reasons) if stuffed else (),
    )


def title_template(title: str) -> str:
    """A key shared by templated titles ("Rain Sounds 1", "rain sounds #3" -> "rain sounds #").

    NFKC and case folding; every number (digit run, with inner ``.``/``,``/``:``) becomes
    ``#``; punctuation, symbols and emoji become spaces; a final Roman numeral up to
    XXXIX becomes ``#`` when it has two or more letters ("Rocky II") or follows a word
    such as part, vol., chapter or no. ("Part I"; "Who Am I" keeps its "i").

    Parameters
    ----------
    title : str

    Returns
    -------
    str
        Words separated by single spaces; empty for a title without letters or digits.
    """
    text = unicodedata.normalize("NFKC", title).casefold().replace("#", " ")
    text = _NUMBER.sub(" # ", text)
    text = "".join(ch if ch == "#" or unicodedata.category(ch)[0] in "LNM" else " " for ch in text)
    words = text.split()
    if words:
        last = words[-1]
        if (
            last
            and _ROMAN.fullmatch(last)
            and (len(last) >= 2 or (len(words) >= 2 and words[-2] in _ROMAN_AFTER))
        ):
            words[-1] = "#"
    return " ".join(words)
