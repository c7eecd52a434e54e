"""ISRC and UPC/EAN/GTIN formats."""

from __future__ import annotations

import pytest

from compliance.metadata.identifiers import (
    ISO_3166_ALPHA2,
    IdentifierProblem,
    check_isrc,
    check_upc,
    gs1_check_digit,
    normalise_isrc,
    normalise_upc,
    recordings_under_several_isrcs,
)


@pytest.mark.parametrize(
    ("value", "normal"),
    [
        ("USRC17607839", "USRC17607839"),
        ("GB-EMI-76-00001", "GBEMI7600001"),
        ("GBEMI7600001", "GBEMI7600001"),
        ("usrc17607839", "USRC17607839"),  # lower case is read as upper case
        ("ISRC US-RC1-76-07839", "USRC17607839"),  # presentation form
        ("US RC1 76 07839", "USRC17607839"),
        ("  USRC17607839\n", "USRC17607839"),
        ("ＵＳＲＣ１７６０７８３９", "USRC17607839"),  # fullwidth (NFKC)
        ("QZES71982312", "QZES71982312"),  # US agency's extra code
        ("QT3F82400001", "QT3F82400001"),
        ("ZZA0A0800001", "ZZA0A0800001"),  # International ISRC Agency
        ("TCABC2400001", "TCABC2400001"),  # Turks and Caicos: ISO 3166-1
    ],
)
def test_valid_isrcs(value, normal):
    assert check_isrc(value) is None
    assert normalise_isrc(value) == normal


@pytest.mark.parametrize(
    "value",
    [
        "",
        "USRC1760783",  # 11 characters
        "USRC176078391",  # 13
        "US-RC17607839",  # hyphen only after the country
        "US-RC1 76-07839",  # mixed separators
        "USR-C17-607839",  # hyphens in the wrong places
        "U5RC17607839",  # digit in the country code
        "USRC1A607839",  # letter in the year
        "USRC176078A9",  # letter in the designation
        "USRC_17607839",
        "USRC17607839 USRC17607840",  # two codes in one field
    ],
)
def test_isrc_format_problems(value):
    problem = check_isrc(value)
    assert problem is not None and problem.code == "isrc_format" and problem.kind == "isrc"
    assert problem.value == value and "\n" not in problem.message
    assert normalise_isrc(value) is None


def test_isrc_country_problem():
    problem = check_isrc("XXRC17607839")
    assert problem == IdentifierProblem(
        kind="isrc",
        value="XXRC17607839",
        code="isrc_country",
        message="ISRC 'XXRC17607839' has country code XX, not an ISRC country code",
    )
    assert normalise_isrc("XXRC17607839") is None
    assert check_isrc("UKRC17607839").code == "isrc_country"  # the UK's code is GB


def test_iso_3166_list():
    assert len(ISO_3166_ALPHA2) == 249
    assert {"US", "GB", "DE", "FR", "JP", "KR", "BR", "IN", "SS", "BQ"} <= ISO_3166_ALPHA2


@pytest.mark.parametrize(
    "value",
    [
        "036000291452",  # UPC-A
        "4006381333931",  # EAN-13
        "0036000291452",  # the UPC-A as an EAN-13
        "00036000291452",  # and as a GTIN-14
        "0 36000 29145 2",
        "400-6381-33393-1",
    ],
)
def test_valid_upcs(value):
    assert check_upc(value) is None
    assert normalise_upc(value) == value.replace(" ", "").replace("-", "")


def test_upc_check_digit_message():
    assert check_upc("036000291453") == IdentifierProblem(
        kind="upc",
        value="036000291453",
        code="upc_check_digit",
        message="UPC 036000291453 has check digit 3, expected 2",
    )
    assert normalise_upc("036000291453") is None
    message = check_upc("4006381333932").message
    assert message == "UPC 4006381333932 has check digit 2, expected 1"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("03600029145", "upc_length"),
        ("0360002914521", "upc_check_digit"),  # 13 digits, wrong check digit
        ("123456789012345", "upc_length"),
        ("", "upc_length"),
        ("03600029145A", "upc_non_digit"),
        ("٠٣٦٠٠٠٢٩١٤٥٢", "upc_non_digit"),  # Arabic-Indic digits
        ("036000.291452", "upc_non_digit"),
    ],
)
def test_upc_problems(value, code):
    problem = check_upc(value)
    assert problem is not None and problem.code == code and problem.kind == "upc"


def test_gs1_check_digit():
    assert gs1_check_digit("03600029145") == 2
    assert gs1_check_digit("400638133393") == 1
    assert gs1_check_digit("0000000000000") == 0


def test_recordings_under_several_isrcs():
    rows = [
        ("a", "USRC17607839"),
        ("a", "us-rc1-76-07839"),  # the same ISRC in another form
        ("b", "USRC17607839"),
        ("b", "GBEMI7600001"),
        ("b", "GB-EMI-76-00001"),
        ("c", "USRC17607839"),
        ("c", "not an isrc"),  # malformed: skipped
        ("c", ""),
    ]
    assert recordings_under_several_isrcs(rows) == {"b": {"USRC17607839", "GBEMI7600001"}}
    assert recordings_under_several_isrcs([]) == {}
