"""Identifier formats: ISRC (ISO 3901) and UPC/EAN/GTIN (GS1 check digit).

A malformed identifier is a problem of its own (the stores reject the release) and a
bulk-upload signal: spam accounts invent codes. :func:`check_isrc` and :func:`check_upc`
return ``None`` for a well-formed value, else an :class:`IdentifierProblem` with a stable
machine code and one human line.

ISRC rules (ISO 3901; International ISRC Agency Bulletin 2015/01, "Validating an
International Standard Recording Code"): 12 characters, a 2-letter country code, a
3-character alphanumeric registrant code, a 2-digit year of reference and a 5-digit
designation code. Input is NFKC-normalised first (fullwidth letters and digits from
East Asian input methods become ASCII). As the bulletin says, lower-case letters are
read as upper case and the presentation form's "ISRC" label is not part of the code;
the normal form returned by :func:`normalise_isrc` is the 12 upper-case characters.
Separators are accepted only where the presentation form puts them, all hyphens or all
spaces: ``CC-XXX-YY-NNNNN`` (the bulletin says to strip hyphens wherever they are; a
hyphen elsewhere is more likely a mistyped code than a presentation form, so it is
reported here).
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

# ISO 3166-1 alpha-2, the 249 officially assigned codes (ISO 3166 Maintenance Agency).
_ISO_3166_ALPHA2 = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN
    BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ
    DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL
    GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM
    JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME
    MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP
    NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD
    SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
    TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
"""
ISO_3166_ALPHA2 = frozenset(_ISO_3166_ALPHA2.split())
# ISRC country codes that are not ISO 3166-1 assigned codes:
#   QM, QZ, QT -- allocated to the US ISRC Agency for registrants beyond "US" (usisrc.org,
#                 "Constructing with Code": QT for new registrants since early 2024);
#   ZZ         -- used by the International ISRC Agency itself (Bulletin 2007/01);
#   CP, DG     -- ISO 3166 "exceptionally reserved" codes, accepted because the issue
#                 lists them as IFPI allocations; not verified against an IFPI bulletin.
# (TC, also in the list, is Turks and Caicos Islands: already ISO 3166-1.)
ISRC_EXTRA_COUNTRY_CODES = frozenset({"QM", "QZ", "QT", "ZZ", "CP", "DG"})
ISRC_COUNTRY_CODES = ISO_3166_ALPHA2 | ISRC_EXTRA_COUNTRY_CODES

_ISRC = re.compile(
    r"(?:ISRC[\s:]*)?([A-Z]{2})([-\s]?)([A-Z0-9]{3})\2([0-9]{2})\2([0-9]{5})",
    re.IGNORECASE | re.ASCII,  # ASCII: without it [A-Z] would also match "K" (Kelvin sign)
)

GTIN_LENGTHS = {12: "UPC-A", 13: "EAN-13", 14: "GTIN-14"}


def _match_isrc(value: str) -> re.Match[str] | None:
    return _ISRC.fullmatch(unicodedata.normalize("NFKC", value).strip())


@dataclass(frozen=True, slots=True)
class IdentifierProblem:
    """Why an identifier is malformed.

    Attributes
    ----------
    kind : {"isrc", "upc"}
    value : str
        The value as given.
    code : str
        Stable machine code: ``isrc_format``, ``isrc_country``, ``upc_non_digit``,
        ``upc_length``, ``upc_check_digit``.
    message : str
        One human line.
    """

    kind: Literal["isrc", "upc"]
    value: str
    code: str
    message: str


def normalise_isrc(value: str) -> str | None:
    """The 12-character upper-case ISRC, or None when ``value`` is not one.

    Accepts surrounding whitespace, an "ISRC" label, lower case, fullwidth forms, and
    hyphens or spaces at the presentation positions (``CC-XXX-YY-NNNNN``). The country
    code is checked.

    Parameters
    ----------
    value : str

    Returns
    -------
    str or None
    """
    m = _match_isrc(value)
    if m is None:
        return None
    code = (m[1] + m[3] + m[4] + m[5]).upper()
    return code if code[:2] in ISRC_COUNTRY_CODES else None


def check_isrc(value: str) -> IdentifierProblem | None:
    """None for a well-formed ISRC, else the problem.

    Parameters
    ----------
    value : str

    Returns
    -------
    IdentifierProblem or None
        ``isrc_format`` (wrong length, characters or separators) or ``isrc_country``
        (the first two letters are not an ISRC country code).
    """
    m = _match_isrc(value)
    if m is None:
        return IdentifierProblem(
            kind="isrc",
            value=value,
            code="isrc_format",
            message=(
                f"ISRC {value.strip()!r} is not 12 characters CC-XXX-YY-NNNNN (country "
                "letters, 3 letters/digits, 2-digit year, 5-digit designation)"
            ),
        )
    country = m[1].upper()
    if country not in ISRC_COUNTRY_CODES:
        return IdentifierProblem(
            kind="isrc",
            value=value,
            code="isrc_country",
            message=f"ISRC {value.strip()!r} has country code {country}, not an ISRC country code",
        )
    return None


def gs1_check_digit(body: str) -> int:
    """GS1 mod-10 check digit of the digits before it (weights 3, 1, 3, ... from the right).

    Parameters
    ----------
    body : str
        The GTIN without its check digit, digits only.

    Returns
    -------
    int
    """
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def _upc_digits(value: str) -> str:
    return re.sub(r"[\s-]", "", value.strip())


def check_upc(value: str) -> IdentifierProblem | None:
    """None for a well-formed UPC-A (12 digits), EAN-13 or GTIN-14, else the problem.

    Spaces and hyphens are ignored ("0 36000 29145 2").

    Parameters
    ----------
    value : str

    Returns
    -------
    IdentifierProblem or None
        ``upc_non_digit``, ``upc_length`` (not 12, 13 or 14 digits) or
        ``upc_check_digit``.
    """
    digits = _upc_digits(value)
    if any(c not in "0123456789" for c in digits):  # ASCII digits only
        return IdentifierProblem(
            kind="upc",
            value=value,
            code="upc_non_digit",
            message=f"UPC {value.strip()!r} has characters other than digits",
        )
    if len(digits) not in GTIN_LENGTHS:
        return IdentifierProblem(
            kind="upc",
            value=value,
            code="upc_length",
            message=(
                f"UPC {digits} has {len(digits)} digits, expected 12 (UPC-A), 13 (EAN-13) "
                "or 14 (GTIN-14)"
            ),
        )
    expected = gs1_check_digit(digits[:-1])
    if int(digits[-1]) != expected:
        return IdentifierProblem(
            kind="upc",
            value=value,
            code="upc_check_digit",
            message=f"UPC {digits} has check digit {digits[-1]}, expected {expected}",
        )
    return None


def normalise_upc(value: str) -> str | None:
    """The digits of a well-formed UPC/EAN/GTIN (separators removed), or None.

    Parameters
    ----------
    value : str

    Returns
    -------
    str or None
        12, 13 or 14 digits as given (a UPC-A is not padded to EAN-13).
    """
    return None if check_upc(value) is not None else _upc_digits(value)


def recordings_under_several_isrcs(rows: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    """Audio seen under more than one distinct ISRC.

    Parameters
    ----------
    rows : iterable of (audio_key, isrc)
        ``audio_key`` identifies the audio (a content hash or catalogue id). ISRCs are
        compared in normal form (:func:`normalise_isrc`); malformed or blank ones are
        skipped (:func:`check_isrc` reports them).

    Returns
    -------
    dict
        ``audio_key -> set of normalised ISRCs`` for the keys with two or more.
    """
    seen: defaultdict[str, set[str]] = defaultdict(set)
    for audio_key, isrc in rows:
        code = normalise_isrc(isrc) if isrc else None
        if code is not None:
            seen[audio_key].add(code)
    return {key: codes for key, codes in seen.items() if len(codes) > 1}
