"""DDEX ERN intake: the real sample messages, 4.3.2 AI disclosure, and hostile input.

The samples live in ``shared/ddex`` beside the repository (``COMPLIANCE_DDEX_DIR``
overrides); their tests are skipped, with the reason shown, where it is absent.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from compliance.domain import ReleaseMetadata
from compliance.intake import ErnError, ern_to_release_metadata, parse_ern
from compliance.intake.ern import parse_duration

DDEX_DIR = Path(
    os.environ.get("COMPLIANCE_DDEX_DIR") or Path(__file__).resolve().parents[2] / "shared/ddex"
)
NS43 = "http://ddex.net/xml/ern/43"


def _sample(name: str) -> bytes:
    path = DDEX_DIR / name
    if not path.is_file():
        pytest.skip(f"DDEX sample {path} not present")
    return path.read_bytes()


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the ERN parser tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _codes(msg) -> set[str]:
    return {w.code for w in msg.warnings}


def _raises(data: bytes, code: str, **kw) -> ErnError:
    with pytest.raises(ErnError) as info:
        parse_ern(data, **kw)
    assert info.value.code == code, info.value
    assert str(info.value).startswith(f"[{code}] ")
    return info.value


# --------------------------------------------------------------------------- real samples


def test_ern43_simple_audio_single() -> None:
    msg = parse_ern(_sample("ern43-simple-audio-single.xml"))
    assert msg.version == "4.3" and msg.namespace == NS43
    assert msg.message_id == "W83814161"
    assert msg.sender is not None and msg.sender.name == "Warner Music Group"
    assert msg.sender.party_id == "PADPIDA2007050901U"
    assert msg.created is not None and msg.created.isoformat() == "2017-04-25T15:00:29+00:00"
    assert msg.release_profile == "SimpleAudioSingle" and msg.avs_version == "3"

    rel = msg.main_release
    assert rel is not None and rel.reference == "R0"
    assert rel.release_types == ("SingleResourceRelease", "Audio")
    assert rel.title == "RIOPY: I Love You"
    assert "I Love You" in rel.titles
    assert rel.display_artist_name == "RIOPY"
    assert [a.name for a in rel.display_artists] == ["RIOPY"]
    assert rel.grid == "A10302B0003989564F"
    # the UPC is given only on the RelatedRelease (IsFromAudio), not on the release itself
    assert rel.icpn is None and rel.related_icpns == ("190295810726",)
    assert rel.label_names == ("Warner Classics", "Warner Classics UK")
    assert rel.genre == "Classical" and rel.genres[0].sub_genre == "Classical Crossover"
    assert rel.contains_ai is None

    (sr,) = msg.sound_recordings
    assert sr.reference == "A1" and sr.isrc == "GBAYC1700598"
    assert sr.title == "RIOPY: I Love You"
    assert sr.display_artist_name == "RIOPY"
    assert sr.duration_s == pytest.approx(263.583)
    assert [(c.name, c.roles) for c in sr.contributors] == [("RIOPY", ("Artist",))]
    (f,) = sr.files
    assert f.resource_reference == "A1" and f.technical_reference == "T1"
    assert f.uri == "resources/190295810726_00001_LL.flac"
    assert f.file_name == "190295810726_00001_LL.flac"
    assert f.relative_path == "resources/190295810726_00001_LL.flac"
    assert f.hash_sum is not None and f.hash_sum.algorithm == "MD5"
    assert f.hash_sum.value == "db7dd2f3bb9b322646e3f4d7b65b47ab"
    assert (f.file_type, f.codec) == ("AudioFile", "FLAC")
    assert msg.recordings_of() == (sr,)
    # the valid GRid and the related UPC raise no identifier warnings
    assert _codes(msg) == {"release_icpn_missing"}


def test_ern43_dj_mix() -> None:
    msg = parse_ern(_sample("ern43-dj-mix.xml"))
    assert msg.version == "4.3"
    assert msg.message_id is None  # <MessageId/> is empty in the sample
    rel = msg.main_release
    assert rel is not None
    assert rel.release_types == ("DjMix",) and rel.title == "MMix"
    assert rel.icpn == "123123123123"
    assert rel.label_name == "DubSetMedia"
    assert rel.original_release_date == "2017-01-02" and rel.genre == "Nu Disco"
    # the sample's DisplayArtistName disagrees with the party it references
    assert rel.display_artist_name == "Monkey Claw"
    assert [a.name for a in rel.display_artists] == ["Original Spinner"]

    assert len(msg.sound_recordings) == 9
    mix = msg.sound_recording("A1")
    assert mix is not None and mix.isrc == "USWE34255410" and mix.duration_s == 751.0
    assert mix.display_artist_name == "Original Spinner"
    assert [f.file_name for f in mix.files] == ["A1UCASE0000000001X_01_01.wav"]
    grimes = msg.sound_recording("A5")
    assert grimes is not None and grimes.is_supplemental
    assert grimes.isrc is None  # only a ProprietaryId in the sample
    assert grimes.proprietary_ids == (("PADPIDA3897722461G", "CA2101200001"),)
    assert grimes.title == "Infinite Love Without Fulfillment" and grimes.duration_s == 59.0
    side_b = msg.sound_recording("A7")
    assert side_b is not None and "Side B (Dope Song)" in side_b.titles
    chromeo = msg.sound_recording("A2")
    assert chromeo is not None and chromeo.contributors[0].name == "Chromeo"
    assert chromeo.contributors[0].roles == ("DJ",)
    (cover,) = msg.other_resources
    assert cover.kind == "Image" and cover.files[0].file_name == "QZ38A1600000_T2.jpeg"

    assert {
        "message_id_missing",
        "uri_whitespace",
        "icpn_check_digit",
        "display_artist_mismatch",
    } <= _codes(msg)


def test_ern42_audio_album() -> None:
    msg = parse_ern(_sample("ern42-audio-album.xml"))
    assert msg.version == "4.2" and msg.message_id == "Test1.1"
    assert msg.sender is not None and msg.sender.name == "UniversalMusicGroup"
    rel = msg.main_release
    assert rel is not None
    assert rel.title == "Yume no Hajmari" and "夢のはじまり" in rel.titles
    assert rel.display_artist_name == "Saeko Shu" and "しゅうさえこ" in rel.display_artist_names
    assert rel.icpn == "00094631432057" and rel.related_icpns == ("04988006110809",)
    assert rel.label_name == "EMI MUSIC JAPAN INC." and rel.genre == "J-Pop"
    assert rel.duration_s == 36 * 60 + 30
    assert len(rel.resource_references) == 21
    assert sum(r.is_track_release for r in msg.releases) == 21

    tracks = msg.recordings_of(rel)
    assert len(tracks) == 21
    assert tracks[0].isrc == "JPTO09404900" and tracks[0].title == "Yume no Lullaby"
    assert tracks[0].duration_s == 148.0
    assert tracks[0].files[0].file_name == "0094631432057_01_001.wav"
    assert tracks[11].duration_s == 58.0  # PT58S
    assert tracks[18].isrc == "JPTO09332840"
    assert tracks[20].files[0].file_name == "0094631432057_01_021.wav"
    assert all(t.display_artists[0].name == "Saeko Shu" for t in tracks)
    assert msg.files[-1].file_name == "0094631432057.jpg"
    assert msg.warnings == ()


def test_release_metadata_mapping() -> None:
    meta = ern_to_release_metadata(parse_ern(_sample("ern42-audio-album.xml")))
    assert isinstance(meta, ReleaseMetadata)
    assert (meta.title, meta.artist) == ("Yume no Hajmari", "Saeko Shu")
    assert meta.upc == "00094631432057" and meta.label == "EMI MUSIC JAPAN INC."
    assert len(meta.isrcs) == 21 and meta.isrcs[0] == "JPTO09404900"
    assert meta.contains_ai is None and meta.licences == ()
    assert meta.extra["ern_version"] == "4.2" and meta.extra["genre"] == "J-Pop"
    single = ern_to_release_metadata(parse_ern(_sample("ern43-simple-audio-single.xml")))
    assert single.isrcs == ("GBAYC1700598",) and single.upc is None
    assert single.extra["related_icpns"] == ["190295810726"]


# --------------------------------------------------------------------------- ERN 4.3.2


def _as_432(data: bytes, *, release_ai: str | None, track_ai: str | None) -> bytes:
    text = data.decode("utf-8").replace(f'"{NS43}', '"http://ddex.net/xml/ern/432')
    text = text.replace(f"{NS43} ", "http://ddex.net/xml/ern/432 ")
    if release_ai is not None:
        text = text.replace(
            "<Keywords>", f"<ContainsAI>{release_ai}</ContainsAI>\n         <Keywords>", 1
        )
    if track_ai is not None:
        text = text.replace(
            "</SoundRecording>", f"   <ContainsAI>{track_ai}</ContainsAI>\n      </SoundRecording>"
        )
    return text.encode("utf-8")


@pytest.mark.parametrize("value", ["All", "Partly", "None"])
def test_432_contains_ai(value: str) -> None:
    base = _sample("ern43-simple-audio-single.xml")
    msg = parse_ern(_as_432(base, release_ai=value, track_ai=value))
    assert msg.version == "4.3.2" and msg.namespace == "http://ddex.net/xml/ern/432"
    assert msg.main_release is not None and msg.main_release.contains_ai == value
    assert msg.sound_recordings[0].contains_ai == value
    assert ern_to_release_metadata(msg).contains_ai == value
    assert not _codes(msg) & {"contains_ai_invalid", "ai_element_before_432"}


def test_432_contains_ai_on_track_only_and_conflicts() -> None:
    base = _sample("ern43-simple-audio-single.xml")
    only_track = parse_ern(_as_432(base, release_ai=None, track_ai="Partly"))
    assert only_track.main_release.contains_ai is None
    assert ern_to_release_metadata(only_track).contains_ai == "Partly"

    conflict = parse_ern(_as_432(base, release_ai="None", track_ai="All"))
    assert "contains_ai_conflict" in _codes(conflict)
    assert ern_to_release_metadata(conflict).contains_ai == "Partly"

    odd = parse_ern(_as_432(base, release_ai="Yes", track_ai="partly"))
    assert odd.main_release.contains_ai == "Yes"
    assert odd.sound_recordings[0].contains_ai == "Partly"
    assert {"contains_ai_invalid", "contains_ai_case"} <= _codes(odd)


def test_432_ai_contribution_and_43_with_ai_element() -> None:
    base = _sample("ern43-simple-audio-single.xml")
    text = _as_432(base, release_ai="Partly", track_ai="Partly").decode()
    text = text.replace(
        "<Role>Artist</Role>", "<Role>Artist</Role><AiContribution>All</AiContribution>"
    )
    msg = parse_ern(text.encode())
    (c,) = msg.sound_recordings[0].contributors
    assert c.ai_contribution == "All" and c.name == "RIOPY"
    assert ern_to_release_metadata(msg).extra["ai_contributions"][0]["ai_contribution"] == "All"

    # ContainsAI in a 4.3 message: read, with a warning (the version stays 4.3)
    old = base.replace(b"<Keywords>", b"<ContainsAI>All</ContainsAI><Keywords>", 1)
    msg43 = parse_ern(old)
    assert msg43.version == "4.3" and msg43.main_release.contains_ai == "All"
    assert "ai_element_before_432" in _codes(msg43)


# --------------------------------------------------------------------------- content warnings


def test_identifier_and_uri_warnings() -> None:
    base = _sample("ern43-simple-audio-single.xml")
    text = base.decode()
    bad = text.replace("<ISRC>GBAYC1700598</ISRC>", "<ISRC>GB-AYC-17-00598</ISRC>")
    msg = parse_ern(bad.encode())
    assert msg.sound_recordings[0].isrc == "GBAYC1700598"
    assert "isrc_normalized" in _codes(msg)

    msg = parse_ern(text.replace("GBAYC1700598</ISRC>", "GBAYC170059</ISRC>").encode())
    assert msg.sound_recordings[0].isrc == "GBAYC170059" and "isrc_malformed" in _codes(msg)

    msg = parse_ern(text.replace("<ICPN>190295810726", "<ICPN>190295810727").encode())
    assert "icpn_check_digit" in _codes(msg)
    msg = parse_ern(
        text.replace(
            "<GRid>A10302B0003989564F</GRid>", "<GRid>A10302B0003989564X</GRid>", 1
        ).encode()
    )
    assert "grid_check_character" in _codes(msg)

    for uri, code in [
        ("../../etc/passwd", "uri_unsafe"),
        ("/etc/passwd", "uri_unsafe"),
        ("file:///etc/passwd", "uri_not_relative"),
        ("http://example.invalid/a.flac", "uri_not_relative"),
    ]:
        msg = parse_ern(text.replace("resources/190295810726_00001_LL.flac", uri).encode())
        assert msg.sound_recordings[0].files[0].relative_path is None, uri
        assert code in _codes(msg), uri

    msg = parse_ern(
        text.replace("<Duration>PT4M23.583S</Duration>", "<Duration>4:23</Duration>").encode()
    )
    assert msg.sound_recordings[0].duration_s is None and "duration_invalid" in _codes(msg)

    msg = parse_ern(
        text.replace("<ArtistPartyReference>PRIOPY<", "<ArtistPartyReference>PNobody<").encode()
    )
    assert "party_unresolved" in _codes(msg)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT3M20S", 200.0),
        ("PT4M23.583S", 263.583),
        ("PT58S", 58.0),
        ("PT1H", 3600.0),
        ("P1DT1S", 86401.0),
        ("PT0M59S", 59.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "PT", "P", "3:20", "P1Y", "PT1M20", "P1DT", "PT-5S"])
def test_parse_duration_rejects(text: str) -> None:
    assert parse_duration(text) is None


# --------------------------------------------------------------------------- hostile input

MINIMAL = (
    f'<ern:NewReleaseMessage xmlns:ern="{NS43}" AvsVersionId="3" LanguageAndScriptCode="en">'
    "<MessageHeader><MessageId>m1</MessageId></MessageHeader>{body}</ern:NewReleaseMessage>"
)


def test_minimal_message_parses() -> None:
    msg = parse_ern(MINIMAL.format(body="").encode())
    assert msg.message_id == "m1" and msg.releases == () and "no_release" in _codes(msg)


def test_billion_laughs() -> None:
    lol = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    doc = f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY lol0 "lol">{lol}]><r>&lol9;</r>'
    _raises(doc.encode(), "ern_forbidden_construct")


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
        '<!DOCTYPE r [<!ENTITY x SYSTEM "http://127.0.0.1:9/evil">]>',
        '<!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:9/evil.dtd"> %p;]>',
        '<!DOCTYPE r SYSTEM "http://127.0.0.1:9/ern.dtd">',
    ],
)
def test_external_entities_and_dtd_retrieval(doctype: str) -> None:
    doc = f'<?xml version="1.0"?>{doctype}<r>&x;</r>'
    err = _raises(doc.encode(), "ern_forbidden_construct")
    assert "root:" not in err.message  # nothing of the file was read


def test_dtd_present_in_valid_message() -> None:
    doc = "<!DOCTYPE ern:NewReleaseMessage>" + MINIMAL.format(body="")
    err = _raises(doc.encode(), "ern_forbidden_construct")
    assert err.line == 1


def test_deep_nesting() -> None:
    body = "<a>" * 10_000 + "</a>" * 10_000
    err = _raises(MINIMAL.format(body=body).encode(), "ern_too_deep")
    assert "64" in err.message
    # within the limit it parses; the limit is configurable
    parse_ern(MINIMAL.format(body="<a>" * 60 + "</a>" * 60).encode())
    _raises(MINIMAL.format(body="<a>" * 60 + "</a>" * 60).encode(), "ern_too_deep", max_depth=32)


def test_oversized_document() -> None:
    _raises(b" " * (10 * 2**20 + 1), "ern_too_large")
    err = _raises(MINIMAL.format(body="").encode(), "ern_too_large", max_bytes=100)
    assert "100" in err.message


def test_truncated_xml() -> None:
    data = _sample("ern43-dj-mix.xml")
    err = _raises(data[: len(data) // 2], "ern_malformed")
    assert isinstance(err.line, int) and err.line > 100 and isinstance(err.column, int)


@pytest.mark.parametrize(
    "data",
    [b"", b"   \n", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"not xml at all"],
)
def test_not_xml(data: bytes) -> None:
    err = _raises(data, "ern_malformed")
    assert err.line is not None


def test_mismatched_tags_are_malformed() -> None:
    doc = MINIMAL.format(body="<a><b></a>")
    err = _raises(doc.encode(), "ern_malformed")
    # expat's position: line 1-based, column 0-based, at the tag name after "</"
    assert "mismatched tag" in err.message
    assert (err.line, err.column) == (1, doc.index("</a>") + 2)


def test_undeclared_entity_is_malformed() -> None:
    _raises(MINIMAL.format(body="<x>&nope;</x>").encode(), "ern_malformed")


def test_encodings() -> None:
    latin = MINIMAL.format(body="<x>Mot\xf6rhead</x>")
    msg = parse_ern(b'<?xml version="1.0" encoding="ISO-8859-1"?>' + latin.encode("latin-1"))
    assert msg.message_id == "m1"
    utf16 = '<?xml version="1.0" encoding="UTF-16"?>' + MINIMAL.format(body="")
    assert parse_ern(utf16.encode("utf-16")).message_id == "m1"
    # Latin-1 bytes in a document that declares nothing (so UTF-8)
    err = _raises(latin.encode("latin-1"), "ern_malformed")
    assert err.line == 1
    _raises(b'<?xml version="1.0" encoding="x-no-such"?><r/>', "ern_malformed")


@pytest.mark.parametrize(
    ("namespace", "shown"),
    [
        ("http://example.com/not-ern", "http://example.com/not-ern"),
        ("http://ddex.net/xml/ern/382", "ern/382"),
        ("http://ddex.net/xml/ern/44", "ern/44"),
        ("http://ddex.net/xml/ern/433", "ern/433"),
    ],
)
def test_unsupported_namespace(namespace: str, shown: str) -> None:
    err = _raises(
        MINIMAL.replace(NS43, namespace).format(body="").encode(), "ern_unsupported_version"
    )
    assert shown in err.message


def test_no_namespace_and_wrong_message() -> None:
    err = _raises(
        b"<NewReleaseMessage><MessageHeader/></NewReleaseMessage>", "ern_unsupported_version"
    )
    assert "no namespace" in err.message
    purge = MINIMAL.replace("NewReleaseMessage", "PurgeReleaseMessage").format(body="")
    err = _raises(purge.encode(), "ern_unsupported_message")
    assert "PurgeReleaseMessage" in err.message


def test_conflicting_schema_version_attribute() -> None:
    doc = MINIMAL.replace('AvsVersionId="3"', 'AvsVersionId="3" MessageSchemaVersionId="ern/432"')
    err = _raises(doc.format(body="").encode(), "ern_unsupported_version")
    assert "ern/432" in err.message
    same = MINIMAL.replace('AvsVersionId="3"', 'MessageSchemaVersionId="ern/43" AvsVersionId="3"')
    assert parse_ern(same.format(body="").encode()).version == "4.3"


def test_default_namespace_children_are_read() -> None:
    doc = (
        f'<NewReleaseMessage xmlns="{NS43}"><MessageHeader><MessageId>q</MessageId>'
        "</MessageHeader></NewReleaseMessage>"
    )
    assert parse_ern(doc.encode()).message_id == "q"


def test_str_input_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        parse_ern(MINIMAL.format(body=""))  # type: ignore[arg-type]
