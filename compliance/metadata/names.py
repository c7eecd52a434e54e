"""Artist-name impersonation: uploads credited to a look-alike of a protected artist.

Two string forms are compared:

* :func:`normalise` -- what a reader sees: compatibility-folded, invisible characters
  and Latin/Greek/Cyrillic diacritics removed, case-folded, punctuation collapsed to
  single spaces, emoji dropped. Two names with equal normal forms are the *same* name.
* :func:`skeleton` -- what a reader could mistake for it: the normal form with
  look-alike letters of other scripts and leetspeak folded to Latin and all spaces
  removed. Two names with equal skeletons look alike; a small edit distance between
  skeletons is a near-spelling ("Taylor Swiift"). The distance is the optimal string
  alignment distance (Levenshtein plus adjacent transpositions at cost 1: "The Weeknd"
  -> "The Weenkd" is one typo, not two).

:class:`ProtectedNames` indexes a protected-artist list by skeleton and finds the closest
protected name to an uploaded artist credit, whole-name (a shared word is not a match),
after stripping channel decorations ("VEVO", "Official") and bracketed parts, and testing
each artist of a collaboration credit ("A feat. B", "A & B", "A x B", "A, B") on its own.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import process
from rapidfuzz.distance import OSA

MIN_SIMILARITY = 0.75
"""Default floor on ``1 - distance / max(len)`` of the two skeletons."""
SHORT_MAX = 3
"""Skeletons up to this length match only when equal (exact or homoglyph)."""
MEDIUM_MAX = 7
"""Skeletons of ``SHORT_MAX + 1 .. MEDIUM_MAX`` characters allow one edit; longer ones two."""
MAX_PARTS = 16
"""At most this many pieces of one credit are compared (the whole credit first)."""
MAX_CREDIT_CHARS = 1000
"""Only the first this many characters of a credit are split into pieces."""

# Invisible characters removed before anything else. Category Cf (format: zero-width
# space/joiners, bidi controls, U+2060-U+2064, U+FEFF, ...) is removed by category; these
# are the invisible ones of other categories that show up in disguised names.
_INVISIBLE_EXTRA = frozenset(
    "\u034f"  # COMBINING GRAPHEME JOINER (Mn)
    "\u115f\u1160\u3164\uffa0"  # HANGUL (HALFWIDTH) FILLERs (Lo): render blank
    "\u2800"  # BRAILLE PATTERN BLANK (So)
    "\u180e"  # MONGOLIAN VOWEL SEPARATOR (Cf since Unicode 6.3; listed for older data)
)
_INVISIBLE_RANGES = ((0x200B, 0x200F), (0x2060, 0x2064), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF))

# Look-alike letters folded to Latin by :func:`skeleton`. Hand-picked from Unicode's
# confusables.txt (UTS #39, https://www.unicode.org/Public/security/latest/confusables.txt):
# the Cyrillic, Greek, Armenian and Latin small-capital/stroked letters whose prototype
# there is a single ASCII letter, plus a few lower-case Cyrillic letters that look like
# Latin small capitals (к, м, т, н, в), which confusables.txt lists only in upper case.
# Upper-case forms are folded before case folding because some differ from their lower
# case (Greek Η looks like H, η like n). Fullwidth and mathematical letters need no entry:
# NFKC already maps them to ASCII.
_UPPER_LOOKALIKES = {
    # Cyrillic
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P",
    "С": "C", "Т": "T", "Х": "X", "Ѕ": "S", "І": "I", "Ј": "J", "Ү": "Y", "Һ": "H",
    "Ԛ": "Q", "Ԝ": "W", "Ӏ": "l",
    # Greek
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M",
    "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "Ϲ": "C", "Ϳ": "J",
}  # fmt: skip
_LOWER_LOOKALIKES = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ј": "j", "ԁ": "d",
    "һ": "h", "ԛ": "q", "ԝ": "w", "ӏ": "l", "ү": "y", "ь": "b",
    # Greek
    "α": "a", "γ": "y", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
    "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ϲ": "c", "ϳ": "j",
    # Armenian
    "հ": "h", "ո": "n", "ս": "u", "օ": "o", "ց": "g", "զ": "q",
    # Latin: script g/a, dotless i/j, small capitals, stroked letters
    "ɡ": "g", "ɑ": "a", "ı": "i", "ȷ": "j", "ɩ": "i", "ᴀ": "a", "ʙ": "b", "ᴄ": "c",
    "ᴅ": "d", "ᴇ": "e", "ɢ": "g", "ʜ": "h", "ɪ": "i", "ᴊ": "j", "ᴋ": "k", "ʟ": "l",
    "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ʀ": "r", "ꜱ": "s", "ᴛ": "t", "ᴜ": "u",
    "ᴠ": "v", "ᴡ": "w", "ʏ": "y", "ᴢ": "z", "ø": "o", "ł": "l", "đ": "d", "ħ": "h",
    "ŧ": "t", "ƀ": "b", "ɵ": "o",
    # leetspeak digits (always folded: they are folded the same way in protected names)
    "0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t",
}  # fmt: skip
# Leetspeak symbols, folded only next to a letter or digit ("Ke$ha", "@dele"); "!" only
# before one ("P!nk"), so a trailing exclamation mark stays punctuation ("Wham!").
_LEET_SYMBOLS = {"$": "s", "@": "a", "|": "l", "!": "i"}

# Collaboration separators between artists of one credit.
_SEPARATORS = re.compile(
    r"\s+(?:feat\.?|ft\.?|featuring|with|vs\.?|x|×)\s+|\s*[&,+;]\s*", re.IGNORECASE
)
_BRACKETED = re.compile(r"[(\[{【]([^)\]}】]*)[)\]}】]")
_COLLAB_LEAD = re.compile(r"^\s*(?:feat\.?|ft\.?|featuring|with)\s+", re.IGNORECASE)
# Channel / page decorations around an artist name ("Taylor Swift - Official", "Drake VEVO").
_DECORATION = r"(?:official|music|vevo|tv|topic|channel)"
_LEADING_DECORATION = re.compile(rf"^(?:[\W_]*\b{_DECORATION}\b)+[\W_]*", re.IGNORECASE)
_TRAILING_DECORATION = re.compile(rf"(?:[\W_]*\b{_DECORATION}\b)+[\W_]*$", re.IGNORECASE)
_GLUED_VEVO = re.compile(r"(?<=[^\W\d_])vevo$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class NameMatch:
    """An uploaded artist credit that looks like a protected artist name.

    Attributes
    ----------
    name : str
        The credit as uploaded.
    protected : str
        The protected name as listed.
    distance : int
        Edit distance (optimal string alignment: insertions, deletions, substitutions
        and adjacent transpositions) between the skeletons of ``part`` and ``protected``.
    similarity : float
        ``1 - distance / max(len)`` of the two skeletons, in 0..1.
    exact : bool
        ``part`` and ``protected`` have equal normal forms (:func:`normalise`).
    homoglyph : bool
        Equal skeletons but different normal forms: the difference is only look-alike
        characters, leetspeak or spacing.
    mixed_script : bool
        ``part`` has letters of more than one script (e.g. Latin and Cyrillic).
    part : str
        The piece of ``name`` that was compared: ``name`` itself or one artist of a
        collaboration credit, with brackets and channel decorations removed.
    """

    name: str
    protected: str
    distance: int
    similarity: float
    exact: bool
    homoglyph: bool
    mixed_script: bool
    part: str


@lru_cache(maxsize=8192)
def _invisible(ch: str) -> bool:
    if ch in _INVISIBLE_EXTRA or unicodedata.category(ch) == "Cf":
        return True
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _INVISIBLE_RANGES)


@lru_cache(maxsize=4096)
def _script(ch: str) -> str:
    """Coarse script of a letter from its Unicode name ("LATIN", "CYRILLIC", "HAN", ...)."""
    word = unicodedata.name(ch, "").split(" ", 1)[0]
    if word in {"CJK", "HIRAGANA", "KATAKANA", "KATAKANA-HIRAGANA", "HANGUL", "BOPOMOFO"}:
        return "HAN"  # Japanese and Korean names mix these legitimately
    return word


_STRIP_MARKS_AFTER = frozenset({"LATIN", "GREEK", "CYRILLIC"})


def _visible(name: str) -> str:
    """NFKC with invisible characters removed; case and diacritics kept."""
    if name.isascii():  # NFKC leaves ASCII alone; no ASCII character is Cf
        return name
    return "".join(ch for ch in unicodedata.normalize("NFKC", name) if not _invisible(ch))


def _prepare(name: str) -> str:
    """:func:`_visible`, then diacritics of Latin, Greek and Cyrillic letters removed.

    Combining marks of other scripts (Devanagari vowel signs, Thai tone marks, ...) are
    part of the spelling and are kept; the text is recomposed (NFC) afterwards.
    """
    out: list[str] = []
    base_script = ""
    text = _visible(name)
    if text.isascii():
        return text
    for ch in unicodedata.normalize("NFKD", text):
        if unicodedata.category(ch).startswith("M"):
            if base_script in _STRIP_MARKS_AFTER:
                continue
        else:
            base_script = _script(ch) if ch.isalpha() else ""
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


def _collapse(text: str, *, keep_spaces: bool) -> str:
    """Letters, digits and marks kept; symbols (So/Sk) dropped; anything else a separator."""
    out: list[str] = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat[0] in "LNM":
            out.append(ch)
        elif cat in {"So", "Sk"}:
            continue
        elif keep_spaces:
            out.append(" ")
    return " ".join("".join(out).split()) if keep_spaces else "".join(out)


def normalise(name: str) -> str:
    """The normal form of a name: what a reader sees, without presentation differences.

    NFKC (fullwidth and mathematical letters become ASCII), invisible characters removed
    (category Cf: zero-width spaces and joiners, bidi controls, U+2060-U+2064, U+FEFF;
    also variation selectors and blank-rendering fillers), diacritics of Latin, Greek and
    Cyrillic letters removed ("Beyoncé" -> "beyonce"), case-folded, emoji and other
    symbols (So/Sk) dropped, and runs of punctuation, separators and spaces collapsed to
    one space. Letters and digits of every script are kept.

    Parameters
    ----------
    name : str

    Returns
    -------
    str
        Empty when nothing readable remains.
    """
    return _collapse(_prepare(name).casefold(), keep_spaces=True)


def _fold_leet_symbols(text: str) -> str:
    chars = list(text)
    n = len(chars)
    for i, ch in enumerate(chars):
        if ch not in _LEET_SYMBOLS:
            continue
        after = i + 1 < n and chars[i + 1].isalnum()
        before = i > 0 and chars[i - 1].isalnum()
        if after or (before and ch != "!"):
            chars[i] = _LEET_SYMBOLS[ch]
    return "".join(chars)


def skeleton(name: str) -> str:
    """The look-alike key of a name: equal skeletons look the same to a reader.

    :func:`normalise`, with look-alike letters folded to Latin (Cyrillic ``а е о р с у х``,
    Greek ``ο α ν ρ τ``, Latin small capitals, ...: a hand-picked subset of Unicode's
    confusables.txt, UTS #39, see ``_LOWER_LOOKALIKES``), leetspeak folded
    (``0 1 3 4 5 7`` -> ``o l e a s t``; ``$ @ | !`` -> ``s a l i`` next to a letter or
    digit), and all spaces removed, so "Tay lor Swift", "TaylorSwift" and "Тaylor Swift"
    (Cyrillic Т) share the skeleton ``taylorswift``. Repeated letters are kept (they are
    edits the distance counts).

    Parameters
    ----------
    name : str

    Returns
    -------
    str
        Empty when nothing readable remains.
    """
    text = "".join(_UPPER_LOOKALIKES.get(ch, ch) for ch in _prepare(name)).casefold()
    text = _fold_leet_symbols(text)
    text = "".join(_LOWER_LOOKALIKES.get(ch, ch) for ch in text)
    return _collapse(text, keep_spaces=False)


def _mixed_script(text: str) -> bool:
    scripts = {_script(ch) for ch in unicodedata.normalize("NFKC", text) if ch.isalpha()}
    scripts.discard("")
    return len(scripts) > 1


def _allowed_distance(length: int, max_distance: int) -> int:
    if length <= SHORT_MAX:
        return 0
    if length <= MEDIUM_MAX:
        return min(1, max_distance)
    return min(2, max_distance)


def _undecorate(part: str) -> str:
    """``part`` without leading/trailing channel decorations, unless nothing would remain."""
    stripped = _TRAILING_DECORATION.sub("", _LEADING_DECORATION.sub("", part)).strip()
    stripped = _GLUED_VEVO.sub("", stripped).strip()
    return stripped if normalise(stripped) else part.strip()


def credit_parts(name: str) -> list[str]:
    """The pieces of an artist credit compared against protected names, whole credit first.

    Bracketed parts are removed ("Drake (Official)" -> "Drake"); a bracket opening with
    feat./ft./featuring/with contributes its artists ("Song (feat. Drake)" -> "Drake").
    The rest is split at collaboration separators (feat., ft., featuring, with, vs., x,
    ×, &, comma, +, ;) and every piece is compared on its own as well as the whole, so
    a protected name that contains a separator ("Simon & Garfunkel") still matches.
    Each piece is compared as written and without leading and trailing channel
    decorations (official, music, VEVO, TV, topic, channel). At most
    :data:`MAX_PARTS` pieces, without duplicates, from the first
    :data:`MAX_CREDIT_CHARS` characters.

    Parameters
    ----------
    name : str

    Returns
    -------
    list of str
    """
    text = _visible(name[:MAX_CREDIT_CHARS])
    collab: list[str] = []
    for inner in _BRACKETED.findall(text):
        if _COLLAB_LEAD.match(inner):
            collab.extend(_SEPARATORS.split(_COLLAB_LEAD.sub("", inner)))
    main = _BRACKETED.sub(" ", text)
    if not normalise(main):  # the whole credit is bracketed: keep it
        main = text
    candidates = [main, *_SEPARATORS.split(main), *collab]
    parts: list[str] = []
    seen: set[str] = set()
    for raw in candidates[: 4 * MAX_PARTS]:
        if not raw or not raw.strip():
            continue
        # as written first: a decoration word can be part of a name ("TV on the Radio")
        for part in (raw.strip(), _undecorate(raw)):
            key = skeleton(part)
            if key and key not in seen:
                seen.add(key)
                parts.append(part)
                if len(parts) >= MAX_PARTS:
                    return parts
    return parts


class ProtectedNames:
    """A protected-artist list indexed by skeleton for look-alike lookups.

    Parameters
    ----------
    names : iterable of str
        Protected artist names as listed. Blank names (nothing readable) are skipped;
        names with the skeleton of an earlier one are dropped (the first is kept).
    """

    def __init__(self, names: Iterable[str]) -> None:
        self._names: list[str] = []
        self._skeletons: list[str] = []
        self._index: dict[str, int] = {}
        buckets: dict[int, tuple[list[str], list[int]]] = {}
        for listed in names:
            key = skeleton(listed)
            if not key or key in self._index:
                continue
            i = len(self._names)
            self._index[key] = i
            self._names.append(listed)
            self._skeletons.append(key)
            keys, ids = buckets.setdefault(len(key), ([], []))
            keys.append(key)
            ids.append(i)
        self._buckets = buckets

    def __len__(self) -> int:
        return len(self._names)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def _closest_to(
        self, key: str, *, max_distance: int, min_similarity: float
    ) -> tuple[int, float, int] | None:
        """Best ``(distance, similarity, index)`` for one skeleton, or None."""
        exact = self._index.get(key)
        if exact is not None:
            return 0, 1.0, exact
        n = len(key)
        best: tuple[int, float, int] | None = None
        for m in range(max(1, n - 2), n + 3):
            allowed = _allowed_distance(min(n, m), max_distance)
            if best is not None:
                allowed = min(allowed, best[0])
            if allowed == 0 or abs(n - m) > allowed or m not in self._buckets:
                continue
            keys, ids = self._buckets[m]
            found = process.extractOne(
                key, keys, scorer=OSA.distance, processor=None, score_cutoff=allowed
            )
            if found is None:
                continue
            distance = int(found[1])
            similarity = 1.0 - distance / max(n, m)
            if similarity < min_similarity:
                continue
            candidate = (distance, similarity, ids[found[2]])
            if best is None or (distance, -similarity, candidate[2]) < (
                best[0],
                -best[1],
                best[2],
            ):
                best = candidate
        return best

    def closest(
        self,
        name: str,
        *,
        max_distance: int = 2,
        min_similarity: float = MIN_SIMILARITY,
    ) -> NameMatch | None:
        """The protected name an uploaded artist credit looks like, if any.

        Each piece of the credit (:func:`credit_parts`) is compared whole against the protected
        skeletons by edit distance (optimal string alignment). A protected name is returned when the
        distance is within what the shorter skeleton's length allows -- 0 up to 3 characters (only
        exact and homoglyph matches), ``min(max_distance, 1)`` for 4-7, ``min(max_distance, 2)``
        from 8 -- and the similarity is at least ``min_similarity``. The closest wins; ties go to
        the earlier piece (the whole credit first), then to the earlier protected name.

        Parameters
        ----------
        name : str
            The artist credit as uploaded.
        max_distance : int, optional
            Upper bound on the allowed edit distance (default 2).
        min_similarity : float, optional
            Floor on ``1 - distance / max(len)`` (default :data:`MIN_SIMILARITY`).

        Returns
        -------
        NameMatch or None
        """
        if max_distance < 0:
            raise ValueError(f"max_distance must be >= 0, got {max_distance}")
        if not self._names:
            return None
        longest = max(self._buckets) + 2
        best: tuple[tuple[int, float, int], str] | None = None
        for part in credit_parts(name):
            key = skeleton(part)
            if len(key) > longest:
                continue
            found = self._closest_to(key, max_distance=max_distance, min_similarity=min_similarity)
            if found is not None and (
                best is None or (found[0], -found[1]) < (best[0][0], -best[0][1])
            ):
                best = (found, part)
                if found[0] == 0:
                    break
        if best is None:
            return None
        (distance, similarity, i), part = best
        protected = self._names[i]
        exact = normalise(part) == normalise(protected)
        return NameMatch(
            name=name,
            protected=protected,
            distance=distance,
            similarity=similarity,
            exact=exact,
            homoglyph=distance == 0 and not exact,
            mixed_script=_mixed_script(part),
            part=part,
        )


def lookalike(name: str, names: ProtectedNames, *, max_distance: int = 2) -> NameMatch | None:
    """``names.closest(name, max_distance=max_distance)``."""
    return names.closest(name, max_distance=max_distance)
