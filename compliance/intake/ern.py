"""Safe parsing of DDEX ERN ``NewReleaseMessage`` documents (ERN 4.1 to 4.3.2).

What a distributor delivers is untrusted input. This parser:

* refuses documents larger than ``max_bytes`` before any parsing (``ern_too_large``);
* refuses any DTD, entity declaration or external reference (``ern_forbidden_construct``):
  billion laughs, XXE (``file://``, ``http://``) and DTD retrieval cannot happen, and no
  network or file access is ever made;
* stops as soon as elements nest deeper than ``max_depth`` (``ern_too_deep``);
* reports malformed XML with the parser's line and column (``ern_malformed``); the
  encoding is the one declared by the document (or its BOM), as the XML parser reads it;
* reads the ERN version from the root element's namespace only, never guessing
  (``ern_unsupported_version``), and accepts only ``NewReleaseMessage`` roots
  (``ern_unsupported_message``).

Problems with the *content* (malformed ISRC, wrong UPC/EAN check digit, unresolvable party
references, unsafe file URIs, ...) never raise: they are collected as
:class:`ErnWarning` in :attr:`ErnMessage.warnings`.

The ERN version is declared by the namespace ``http://ddex.net/xml/ern/<NN>`` alone (the
ERN 3.x attribute ``MessageSchemaVersionId`` does not exist in ERN 4; if a sender adds it
anyway and it disagrees with the namespace, the message is refused). ``AvsVersionId`` is
the version of the allowed-value sets, not of ERN, and is only recorded.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from compliance.domain.release import ReleaseMetadata
from compliance.errors import ComplianceError

__all__ = [
    "SUPPORTED_VERSIONS",
    "Contributor",
    "DeliveryFile",
    "DisplayArtist",
    "ErnError",
    "ErnMessage",
    "ErnWarning",
    "Genre",
    "HashSum",
    "MessageParty",
    "OtherResource",
    "Party",
    "Release",
    "SoundRecording",
    "ern_to_release_metadata",
    "parse_ern",
]

#: ERN namespace -> version. ERN 4.x declares its version in the namespace only.
_NAMESPACES: dict[str, str] = {
    "http://ddex.net/xml/ern/41": "4.1",
    "http://ddex.net/xml/ern/411": "4.1.1",
    "http://ddex.net/xml/ern/42": "4.2",
    "http://ddex.net/xml/ern/43": "4.3",
    "http://ddex.net/xml/ern/431": "4.3.1",
    "http://ddex.net/xml/ern/432": "4.3.2",
}
SUPPORTED_VERSIONS: tuple[str, ...] = tuple(_NAMESPACES.values())
#: The first version whose schema has ``ContainsAI`` / ``AiContribution``.
_AI_VERSION = "4.3.2"
CONTAINS_AI_VALUES: tuple[str, ...] = ("All", "Partly", "None")

_ISRC_RE = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}\d{7}$")
_ICPN_RE = re.compile(r"^(\d{8}|\d{12}|\d{13}|\d{14})$")
_GRID_RE = re.compile(r"^A1[A-Z0-9]{16}$")
_DURATION_RE = re.compile(
    r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)
_DATE_RE = re.compile(r"^\d{4}(?:-\d{2}(?:-\d{2})?)?$")
_HASH_HEX_LENGTHS = {"MD5": 32, "SHA1": 40, "SHA-1": 40, "SHA256": 64, "SHA-256": 64}
_OTHER_RESOURCES = ("Image", "Video", "Text", "SheetMusic", "Software", "UserDefinedResource")


class ErnError(ComplianceError):
    """An ERN message that cannot be accepted at all.

    Codes
    -----
    ern_too_large
        More bytes than ``max_bytes`` (checked before parsing).
    ern_forbidden_construct
        A DTD, an entity declaration or an external reference (XML bombs, XXE).
    ern_too_deep
        Elements nested deeper than ``max_depth``.
    ern_malformed
        Not well-formed XML (or empty, or an encoding the parser cannot read);
        ``line`` and ``column`` are the parser's.
    ern_unsupported_version
        The root's namespace is not one of ERN 4.1 to 4.3.2 (the namespace found is named).
    ern_unsupported_message
        An ERN namespace, but the root is not ``NewReleaseMessage``.
    """

    code = "ern_error"

    def __init__(
        self, message: str, *, code: str, line: int | None = None, column: int | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.line = line
        self.column = column


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class ErnWarning:
    """A problem with the content that does not stop intake."""

    code: str
    message: str
    where: str | None = None


@dataclass(frozen=True, slots=True)
class MessageParty:
    """MessageSender / MessageRecipient."""

    party_id: str | None
    name: str | None


@dataclass(frozen=True, slots=True)
class Party:
    """An entry of the PartyList."""

    reference: str
    name: str | None
    party_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DisplayArtist:
    """A DisplayArtist with its party reference resolved to a name."""

    name: str | None
    party_reference: str | None
    role: str | None
    sequence: int | None = None


@dataclass(frozen=True, slots=True)
class Contributor:
    """A Contributor of a resource; ``ai_contribution`` is ERN 4.3.2's ``AiContribution``."""

    name: str | None
    party_reference: str | None
    roles: tuple[str, ...] = ()
    ai_contribution: str | None = None


@dataclass(frozen=True, slots=True)
class HashSum:
    algorithm: str | None
    value: str | None


@dataclass(frozen=True, slots=True)
class DeliveryFile:
    """A file delivered for a resource.

    ``relative_path`` is the URI as a safe relative path inside the delivery (no scheme, not
    absolute, no ``..``), or None when the URI is not one (a warning says why).
    """

    resource_reference: str | None
    technical_reference: str | None
    uri: str | None
    file_name: str | None
    relative_path: str | None
    hash_sum: HashSum | None = None
    file_type: str | None = None
    codec: str | None = None
    size_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class Genre:
    text: str | None
    sub_genre: str | None = None


@dataclass(frozen=True, slots=True)
class SoundRecording:
    reference: str | None
    type: str | None
    isrc: str | None
    title: str | None
    titles: tuple[str, ...] = ()
    display_artist_name: str | None = None
    display_artist_names: tuple[str, ...] = ()
    display_artists: tuple[DisplayArtist, ...] = ()
    contributors: tuple[Contributor, ...] = ()
    duration_s: float | None = None
    contains_ai: str | None = None
    files: tuple[DeliveryFile, ...] = ()
    proprietary_ids: tuple[tuple[str | None, str], ...] = ()
    is_supplemental: bool = False


@dataclass(frozen=True, slots=True)
class OtherResource:
    """An Image, Video, Text, ... resource (only what intake needs)."""

    kind: str
    reference: str | None
    type: str | None
    title: str | None = None
    contains_ai: str | None = None
    files: tuple[DeliveryFile, ...] = ()


@dataclass(frozen=True, slots=True)
class Release:
    """A Release (``is_track_release`` for ERN 4's TrackRelease)."""

    reference: str | None
    release_types: tuple[str, ...]
    title: str | None
    titles: tuple[str, ...] = ()
    display_artist_name: str | None = None
    display_artist_names: tuple[str, ...] = ()
    display_artists: tuple[DisplayArtist, ...] = ()
    icpn: str | None = None
    grid: str | None = None
    catalog_number: str | None = None
    proprietary_ids: tuple[tuple[str | None, str], ...] = ()
    related_icpns: tuple[str, ...] = ()
    label_names: tuple[str, ...] = ()
    release_date: str | None = None
    original_release_date: str | None = None
    genres: tuple[Genre, ...] = ()
    contains_ai: str | None = None
    duration_s: float | None = None
    resource_references: tuple[str, ...] = ()
    is_track_release: bool = False

    @property
    def release_type(self) -> str | None:
        return self.release_types[0] if self.release_types else None

    @property
    def label_name(self) -> str | None:
        return self.label_names[0] if self.label_names else None

    @property
    def genre(self) -> str | None:
        return self.genres[0].text if self.genres else None


@dataclass(frozen=True, slots=True)
class ErnMessage:
    """What an ERN NewReleaseMessage says, with references resolved."""

    version: str
    namespace: str
    message_id: str | None
    thread_id: str | None
    sender: MessageParty | None
    recipient: MessageParty | None
    created: dt.datetime | None
    release_profile: str | None = None
    avs_version: str | None = None
    language: str | None = None
    parties: tuple[Party, ...] = ()
    releases: tuple[Release, ...] = ()
    sound_recordings: tuple[SoundRecording, ...] = ()
    other_resources: tuple[OtherResource, ...] = ()
    warnings: tuple[ErnWarning, ...] = ()

    @property
    def main_release(self) -> Release | None:
        """The first Release that is not a TrackRelease (else the first release)."""
        for r in self.releases:
            if not r.is_track_release:
                return r
        return self.releases[0] if self.releases else None

    @property
    def files(self) -> tuple[DeliveryFile, ...]:
        """Every delivered file, of sound recordings and other resources."""
        out: list[DeliveryFile] = []
        for sr in self.sound_recordings:
            out.extend(sr.files)
        for o in self.other_resources:
            out.extend(o.files)
        return tuple(out)

    def sound_recording(self, reference: str) -> SoundRecording | None:
        for sr in self.sound_recordings:
            if sr.reference == reference:
                return sr
        return None

    def recordings_of(self, release: Release | None = None) -> tuple[SoundRecording, ...]:
        """The sound recordings a release lists (default: the main release), in order."""
        release = release if release is not None else self.main_release
        if release is None:
            return ()
        found = (self.sound_recording(ref) for ref in release.resource_references)
        return tuple(sr for sr in found if sr is not None)


# --------------------------------------------------------------------------- parsing


class _LimitedBuilder(TreeBuilder):
    """A TreeBuilder that checks the root at once, limits depth and unqualifies ERN tags."""

    def __init__(self, max_depth: int) -> None:
        super().__init__()
        self.max_depth = max_depth
        self.depth = 0
        self.prefix: str | None = None  # "{namespace}" of the root
        self.position: tuple[int, int] | None = None
        self.parser: Any = None  # the expat parser, for positions

    def _where(self) -> tuple[int | None, int | None]:
        if self.parser is None:
            return None, None
        return self.parser.CurrentLineNumber, self.parser.CurrentColumnNumber

    def start(self, tag: str, attrs: dict[str, str]) -> Element:  # type: ignore[override]
        self.depth += 1
        if self.depth > self.max_depth:
            line, col = self._where()
            raise ErnError(
                f"elements nest deeper than {self.max_depth} levels (line {line})",
                code="ern_too_deep",
                line=line,
                column=col,
            )
        if self.prefix is None:
            self.prefix = _check_root(tag, attrs)
        elif tag.startswith(self.prefix):
            tag = tag[len(self.prefix) :]
        return super().start(tag, attrs)

    def end(self, tag: str) -> Element:  # type: ignore[override]
        self.depth -= 1
        if self.prefix and tag.startswith(self.prefix):
            tag = tag[len(self.prefix) :]
        return super().end(tag)


def _check_root(tag: str, attrs: dict[str, str]) -> str:
    """The root's ``{namespace}`` prefix, or ErnError for an unsupported root."""
    ns, local = (tag[1:].split("}", 1)) if tag.startswith("{") else ("", tag)
    version = _NAMESPACES.get(ns)
    supported = ", ".join(SUPPORTED_VERSIONS)
    if version is None:
        found = f"namespace {ns!r}" if ns else "no namespace"
        raise ErnError(
            f"root element <{local}> has {found}: not an ERN version this parser supports "
            f"({supported})",
            code="ern_unsupported_version",
        )
    declared = attrs.get("MessageSchemaVersionId")
    if declared is not None:
        digits = declared.strip().strip("/").rsplit("/", 1)[-1]
        if _NAMESPACES.get(f"http://ddex.net/xml/ern/{digits}") != version:
            raise ErnError(
                f"conflicting version declarations: namespace {ns!r} is ERN {version} but "
                f"MessageSchemaVersionId is {declared!r}",
                code="ern_unsupported_version",
            )
    if local != "NewReleaseMessage":
        raise ErnError(
            f"root element is <{local}> (ERN {version}); only NewReleaseMessage is accepted",
            code="ern_unsupported_message",
        )
    return "{" + ns + "}"


def _parse_xml(data: bytes, max_depth: int) -> tuple[Element, str]:
    builder = _LimitedBuilder(max_depth)
    parser = DefusedXMLParser(
        target=builder, forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    builder.parser = parser.parser
    try:
        parser.feed(data)
        root = parser.close()
    except DefusedXmlException as exc:
        line, col = builder._where()
        raise ErnError(
            f"forbidden XML construct at line {line}: {exc} (DTDs, entity declarations and "
            "external references are refused)",
            code="ern_forbidden_construct",
            line=line,
            column=col,
        ) from None
    except (LookupError, UnicodeError) as exc:  # an encoding Python's codecs cannot supply
        line, col = builder._where()
        raise ErnError(
            f"malformed XML: cannot read the declared encoding ({exc})",
            code="ern_malformed",
            line=line,
            column=col,
        ) from None
    except ParseError as exc:
        line, col = exc.position
        text = str(exc)
        if not data.strip():
            text = "empty document"
        raise ErnError(
            f"malformed XML: {text}", code="ern_malformed", line=line, column=col
        ) from None
    assert builder.prefix is not None
    return root, _NAMESPACES[builder.prefix[1:-1]]


def parse_ern(data: bytes, *, max_bytes: int = 10 * 2**20, max_depth: int = 64) -> ErnMessage:
    """Parse an ERN NewReleaseMessage safely.

    Parameters
    ----------
    data : bytes
        The document as delivered (its encoding is the one it declares).
    max_bytes : int
        Larger documents are refused before parsing (``ern_too_large``).
    max_depth : int
        Deeper element nesting is refused while parsing (``ern_too_deep``).

    Raises
    ------
    ErnError
        With one of the codes listed on :class:`ErnError`. Content problems are warnings.
    """
    if isinstance(data, str):
        raise TypeError("parse_ern takes the document's bytes, not str")
    data = bytes(data)
    if len(data) > max_bytes:
        raise ErnError(
            f"document is {len(data)} bytes, more than the limit of {max_bytes}",
            code="ern_too_large",
        )
    root, version = _parse_xml(data, max_depth)
    return _Reader(root, version).read()


# --------------------------------------------------------------------------- reading


def _text(el: Element | None) -> str | None:
    if el is None or el.text is None:
        return None
    return el.text.strip() or None


def _value(el: Element | None) -> str | None:
    """Text of an AVS-typed element; ``UserDefined`` gives its UserDefinedValue."""
    t = _text(el)
    if t == "UserDefined" and el is not None:
        return el.get("UserDefinedValue") or t
    return t


def _pick(elements: list[Element]) -> Element | None:
    """The default of repeated territory/language variants: IsDefault, else untagged, else first."""
    if not elements:
        return None
    for e in elements:
        if e.get("IsDefault") == "true":
            return e
    for e in elements:
        if e.get("LanguageAndScriptCode") is None:
            return e
    return elements[0]


def _unique(items: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i for i in items if i))


def _icpn_check_ok(code: str) -> bool:
    """GS1 check digit of an EAN-8, UPC-A, EAN-13 or GTIN-14."""
    digits = [int(c) for c in code]
    body, check = digits[:-1], digits[-1]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def _grid_check_ok(grid: str) -> bool:
    """ISO 7064 MOD 37-36 check character of a GRid."""
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    p = 36
    for ch in grid[:-1]:
        s = (p + alphabet.index(ch)) % 36 or 36
        p = (2 * s) % 37
    return (p + alphabet.index(grid[-1])) % 36 == 1


def parse_duration(text: str | None) -> float | None:
    """Seconds of an ISO 8601 duration such as ``PT3M20S`` (days at most); None if not one."""
    if not text:
        return None
    m = _DURATION_RE.match(text)
    if not m or text in ("P", "PT") or text.endswith("T"):
        return None
    d, h, mi, s = (m.group(k) for k in ("d", "h", "m", "s"))
    secs = int(d or 0) * 86400 + int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0)
    return round(secs, 6)


class _Reader:
    def __init__(self, root: Element, version: str) -> None:
        self.root = root
        self.version = version
        self.warnings: list[ErnWarning] = []
        self.parties: dict[str, Party] = {}

    def warn(self, code: str, message: str, where: str | None = None) -> None:
        self.warnings.append(ErnWarning(code, message, where))

    # -- top level

    def read(self) -> ErnMessage:
        root = self.root
        hdr = root.find("MessageHeader")
        if hdr is None:
            self.warn("header_missing", "the message has no MessageHeader")
        message_id = _text(hdr.find("MessageId")) if hdr is not None else None
        if hdr is not None and message_id is None:
            self.warn("message_id_missing", "MessageHeader/MessageId is empty", "MessageHeader")
        created = None
        if hdr is not None:
            created = self._datetime(_text(hdr.find("MessageCreatedDateTime")))
        parties = self._parties()
        recordings: list[SoundRecording] = []
        others: list[OtherResource] = []
        res_list = root.find("ResourceList")
        for el in res_list if res_list is not None else ():
            if el.tag == "SoundRecording":
                recordings.append(self._sound_recording(el))
            elif el.tag in _OTHER_RESOURCES:
                others.append(self._other(el))
        releases: list[Release] = []
        rel_list = root.find("ReleaseList")
        for el in rel_list if rel_list is not None else ():
            if el.tag in ("Release", "TrackRelease"):
                releases.append(self._release(el))
        if not releases:
            self.warn("no_release", "the ReleaseList holds no Release")
        main = next((r for r in releases if not r.is_track_release), None)
        if main is not None and main.icpn is None:
            also = f" (a RelatedRelease has {', '.join(main.related_icpns)})"
            self.warn(
                "release_icpn_missing",
                f"release {main.reference} has no ICPN (UPC/EAN) of its own"
                + (also if main.related_icpns else ""),
                f"Release {main.reference}",
            )
        msg = ErnMessage(
            version=self.version,
            namespace=root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else "",
            message_id=message_id,
            thread_id=_text(hdr.find("MessageThreadId")) if hdr is not None else None,
            sender=self._message_party(hdr, "MessageSender"),
            recipient=self._message_party(hdr, "MessageRecipient"),
            created=created,
            release_profile=root.get("ReleaseProfileVersionId"),
            avs_version=root.get("AvsVersionId"),
            language=root.get("LanguageAndScriptCode"),
            parties=tuple(parties),
            releases=tuple(releases),
            sound_recordings=tuple(recordings),
            other_resources=tuple(others),
        )
        self._check_references(msg)
        self._check_ai_consistency(msg)
        return replace(msg, warnings=tuple(self.warnings))

    def _message_party(self, hdr: Element | None, name: str) -> MessageParty | None:
        el = hdr.find(name) if hdr is not None else None
        if el is None:
            return None
        return MessageParty(
            party_id=_text(el.find("PartyId")), name=_text(el.find("PartyName/FullName"))
        )

    def _datetime(self, text: str | None) -> dt.datetime | None:
        if text is None:
            return None
        try:
            return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            self.warn("datetime_invalid", f"MessageCreatedDateTime {text!r} is not ISO 8601")
            return None

    def _parties(self) -> list[Party]:
        out: list[Party] = []
        plist = self.root.find("PartyList")
        for el in plist.findall("Party") if plist is not None else ():
            ref = _text(el.find("PartyReference"))
            name_el = _pick(el.findall("PartyName"))
            name = _text(name_el.find("FullName")) if name_el is not None else None
            ids: list[str] = []
            for pid in el.findall("PartyId"):
                if _text(pid):
                    ids.append(_text(pid) or "")
                for child in pid:
                    if _text(child):
                        ids.append(f"{child.tag}:{_text(child)}")
            if ref is None:
                self.warn("party_reference_missing", f"a Party ({name!r}) has no PartyReference")
                continue
            party = Party(reference=ref, name=name, party_ids=tuple(ids))
            self.parties[ref] = party
            out.append(party)
        return out

    def _party_name(self, ref: str | None, where: str) -> str | None:
        if ref is None:
            return None
        party = self.parties.get(ref)
        if party is None:
            self.warn("party_unresolved", f"party reference {ref!r} is not in the PartyList", where)
            return None
        return party.name

    # -- shared pieces

    def _titles(self, el: Element) -> tuple[str | None, tuple[str, ...]]:
        dtt = _text(_pick(el.findall("DisplayTitleText")))
        variants: list[str | None] = [_text(e) for e in el.findall("DisplayTitleText")]
        display = None
        for tag in ("DisplayTitle", "AdditionalTitle"):
            for t in el.findall(tag):
                text = _text(t.find("TitleText"))
                subs = [_text(s) for s in t.findall("SubTitle")]
                full = text
                if text and any(subs):
                    full = f"{text} ({', '.join(s for s in subs if s)})"
                variants.append(full)
            if tag == "DisplayTitle":
                d = _pick(el.findall("DisplayTitle"))
                display = _text(d.find("TitleText")) if d is not None else None
        return dtt or display, _unique(variants)

    def _artists(
        self, el: Element, where: str
    ) -> tuple[str | None, tuple[str, ...], tuple[DisplayArtist, ...]]:
        name_els = el.findall("DisplayArtistName")
        names = _unique(_text(e) for e in name_els)
        artists = []
        for da in el.findall("DisplayArtist"):
            ref = _text(da.find("ArtistPartyReference"))
            seq = da.get("SequenceNumber")
            artists.append(
                DisplayArtist(
                    name=self._party_name(ref, where),
                    party_reference=ref,
                    role=_value(da.find("DisplayArtistRole")),
                    sequence=int(seq) if seq and seq.isdigit() else None,
                )
            )
        artists.sort(key=lambda a: a.sequence if a.sequence is not None else 1 << 30)
        main = _text(_pick(name_els))
        resolved = [a.name for a in artists if a.name]
        if main is None and resolved:
            main = " & ".join(resolved)
        elif main and resolved and not any(r in main for r in resolved):
            self.warn(
                "display_artist_mismatch",
                f"DisplayArtistName {main!r} names none of the DisplayArtist parties {resolved!r}",
                where,
            )
        return main, names, tuple(artists)

    def _contains_ai(self, el: Element, where: str, tag: str = "ContainsAI") -> str | None:
        raw = _text(el.find(tag))
        if raw is None:
            return None
        if SUPPORTED_VERSIONS.index(self.version) < SUPPORTED_VERSIONS.index(_AI_VERSION):
            self.warn(
                "ai_element_before_432",
                f"{tag} is an ERN {_AI_VERSION} element but the message is ERN {self.version}; "
                "read anyway",
                where,
            )
        for v in CONTAINS_AI_VALUES:
            if raw.lower() == v.lower():
                if raw != v:
                    self.warn("contains_ai_case", f"{tag} {raw!r} read as {v!r}", where)
                return v
        self.warn(
            "contains_ai_invalid",
            f"{tag} {raw!r} is not one of {', '.join(CONTAINS_AI_VALUES)}; kept as given",
            where,
        )
        return raw

    def _duration(self, el: Element, where: str) -> float | None:
        raw = _text(el.find("Duration"))
        secs = parse_duration(raw)
        if raw is not None and secs is None:
            self.warn("duration_invalid", f"Duration {raw!r} is not an ISO 8601 duration", where)
        return secs

    def _proprietary(self, ids: Iterable[Element]) -> tuple[tuple[str | None, str], ...]:
        out = []
        for rid in ids:
            for p in rid.findall("ProprietaryId"):
                if _text(p):
                    out.append((p.get("Namespace"), _text(p) or ""))
        return tuple(out)

    def _isrc(self, raw: str | None, where: str) -> str | None:
        if raw is None:
            return None
        if _ISRC_RE.match(raw):
            return raw
        compact = raw.replace("-", "").replace(" ", "").upper()
        if _ISRC_RE.match(compact):
            self.warn("isrc_normalized", f"ISRC {raw!r} read as {compact!r}", where)
            return compact
        self.warn("isrc_malformed", f"ISRC {raw!r} is not CC-XXX-YY-NNNNN (12 characters)", where)
        return raw

    def _icpn(self, raw: str | None, where: str) -> None:
        if raw is None:
            return
        if not _ICPN_RE.match(raw):
            self.warn("icpn_malformed", f"ICPN {raw!r} is not 8, 12, 13 or 14 digits", where)
        elif not _icpn_check_ok(raw):
            self.warn("icpn_check_digit", f"ICPN {raw!r} has a wrong UPC/EAN check digit", where)

    def _grid(self, raw: str | None, where: str) -> None:
        if raw is None:
            return
        if not _GRID_RE.match(raw):
            self.warn("grid_malformed", f"GRid {raw!r} is not 18 characters starting A1", where)
        elif not _grid_check_ok(raw):
            self.warn("grid_check_character", f"GRid {raw!r} has a wrong check character", where)

    def _files(self, el: Element, ref: str | None, where: str) -> tuple[DeliveryFile, ...]:
        """Files of a resource: TechnicalDetails directly (4.1/4.2) or in its editions (4.3)."""
        holders = [el, *el.findall("SoundRecordingEdition"), *el.findall("VideoEdition")]
        out: list[DeliveryFile] = []
        for h in holders:
            for td in h.findall("TechnicalDetails"):
                td_ref = _text(td.find("TechnicalResourceDetailsReference"))
                found = [(f, None) for f in td.findall("File")]
                found += [(f, df) for df in td.findall("DeliveryFile") for f in df.findall("File")]
                for f, df in found:
                    out.append(self._file(f, df, ref, td_ref, where))
        return tuple(out)

    def _file(
        self,
        f: Element,
        df: Element | None,
        ref: str | None,
        td_ref: str | None,
        where: str,
    ) -> DeliveryFile:
        uri_raw = f.findtext("URI")
        uri = uri_raw.strip() if uri_raw else None
        if uri_raw and uri != uri_raw:
            self.warn("uri_whitespace", f"file URI {uri_raw!r} has surrounding whitespace", where)
        file_name = None
        relative = None
        if uri:
            file_name = uri.replace("\\", "/").rsplit("/", 1)[-1] or None
            relative = self._relative_path(uri, where)
        else:
            self.warn("uri_missing", "a File has no URI", where)
        hs = f.find("HashSum")
        hash_sum = None
        if hs is not None:
            algo = _value(hs.find("Algorithm")) or _value(hs.find("HashSumAlgorithmType"))
            value = _text(hs.find("HashSumValue"))
            hash_sum = HashSum(algorithm=algo, value=value)
            self._check_hash(hash_sum, where)
        size = _text(f.find("FileSize"))
        return DeliveryFile(
            resource_reference=ref,
            technical_reference=td_ref,
            uri=uri,
            file_name=file_name,
            relative_path=relative,
            hash_sum=hash_sum,
            file_type=_value(df.find("Type")) if df is not None else None,
            codec=_value(df.find("AudioCodecType")) if df is not None else None,
            size_bytes=int(float(size)) if size and re.fullmatch(r"\d+(\.0*)?", size) else None,
        )

    def _relative_path(self, uri: str, where: str) -> str | None:
        path = uri
        if path.lower().startswith("file:"):
            path = ""
        if not path or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", path) or "\\" in path:
            self.warn("uri_not_relative", f"file URI {uri!r} is not a relative path", where)
            return None
        parts = path.split("/")
        if path.startswith("/") or ".." in parts or "\x00" in path:
            self.warn("uri_unsafe", f"file URI {uri!r} leaves the delivery folder", where)
            return None
        return "/".join(p for p in parts if p not in ("", "."))

    def _check_hash(self, h: HashSum, where: str) -> None:
        if not h.value:
            self.warn("hash_missing", "a HashSum has no HashSumValue", where)
            return
        want = _HASH_HEX_LENGTHS.get((h.algorithm or "").upper())
        if want and (len(h.value) != want or not re.fullmatch(r"[0-9a-fA-F]+", h.value)):
            self.warn(
                "hash_malformed",
                f"{h.algorithm} value {h.value!r} is not {want} hexadecimal digits",
                where,
            )

    # -- resources and releases

    def _sound_recording(self, el: Element) -> SoundRecording:
        ref = _text(el.find("ResourceReference"))
        where = f"SoundRecording {ref}"
        holders = [el, *el.findall("SoundRecordingEdition")]
        rids = [rid for h in holders for rid in h.findall("ResourceId")]
        isrcs = [_text(rid.find("ISRC")) for rid in rids]
        isrc = self._isrc(next((i for i in isrcs if i), None), where)
        title, titles = self._titles(el)
        main_artist, names, artists = self._artists(el, where)
        contributors = []
        for c in el.findall("Contributor"):
            cref = _text(c.find("ContributorPartyReference"))
            contributors.append(
                Contributor(
                    name=self._party_name(cref, where),
                    party_reference=cref,
                    roles=_unique(_value(r) for r in c.findall("Role")),
                    ai_contribution=self._contains_ai(c, where, "AiContribution"),
                )
            )
        return SoundRecording(
            reference=ref,
            type=_value(el.find("Type")),
            isrc=isrc,
            title=title,
            titles=titles,
            display_artist_name=main_artist,
            display_artist_names=names,
            display_artists=artists,
            contributors=tuple(contributors),
            duration_s=self._duration(el, where),
            contains_ai=self._contains_ai(el, where),
            files=self._files(el, ref, where),
            proprietary_ids=self._proprietary(rids),
            is_supplemental=el.get("IsSupplemental") == "true",
        )

    def _other(self, el: Element) -> OtherResource:
        ref = _text(el.find("ResourceReference"))
        where = f"{el.tag} {ref}"
        return OtherResource(
            kind=el.tag,
            reference=ref,
            type=_value(el.find("Type")),
            title=self._titles(el)[0],
            contains_ai=self._contains_ai(el, where),
            files=self._files(el, ref, where),
        )

    def _release(self, el: Element) -> Release:
        ref = _text(el.find("ReleaseReference"))
        is_track = el.tag == "TrackRelease"
        where = f"{el.tag} {ref}"
        rid = el.find("ReleaseId")
        icpn = _text(rid.find("ICPN")) if rid is not None else None
        grid = _text(rid.find("GRid")) if rid is not None else None
        self._icpn(icpn, where)
        self._grid(grid, where)
        related = _unique(_text(e) for e in el.findall("RelatedRelease/ReleaseId/ICPN"))
        for r in related:
            self._icpn(r, f"{where} RelatedRelease")
        title, titles = self._titles(el)
        main_artist, names, artists = self._artists(el, where)
        labels = _unique(
            self._party_name(_text(e), where) for e in el.findall("ReleaseLabelReference")
        )
        genres = tuple(
            Genre(text=_text(g.find("GenreText")), sub_genre=_text(g.find("SubGenre")))
            for g in el.findall("Genre")
        )
        refs = [_text(e) for e in el.iter("ReleaseResourceReference")]
        return Release(
            reference=ref,
            release_types=_unique(_value(e) for e in el.findall("ReleaseType")),
            title=title,
            titles=titles,
            display_artist_name=main_artist,
            display_artist_names=names,
            display_artists=artists,
            icpn=icpn,
            grid=grid,
            catalog_number=_text(rid.find("CatalogNumber")) if rid is not None else None,
            proprietary_ids=self._proprietary([rid] if rid is not None else []),
            related_icpns=related,
            label_names=labels,
            release_date=self._date(el, "ReleaseDate", where),
            original_release_date=self._date(el, "OriginalReleaseDate", where),
            genres=genres,
            contains_ai=self._contains_ai(el, where),
            duration_s=self._duration(el, where),
            resource_references=_unique(refs),
            is_track_release=is_track,
        )

    def _date(self, el: Element, tag: str, where: str) -> str | None:
        raw = _text(_pick(el.findall(tag)))
        if raw is not None and not _DATE_RE.match(raw):
            self.warn("date_invalid", f"{tag} {raw!r} is not YYYY[-MM[-DD]]", where)
        return raw

    # -- whole-message checks

    def _check_references(self, msg: ErnMessage) -> None:
        known = {sr.reference for sr in msg.sound_recordings}
        known |= {o.reference for o in msg.other_resources}
        for r in msg.releases:
            for ref in r.resource_references:
                if ref not in known:
                    self.warn(
                        "resource_unresolved",
                        f"release {r.reference} lists resource {ref!r}, which the "
                        "ResourceList does not hold",
                        f"Release {r.reference}",
                    )

    def _check_ai_consistency(self, msg: ErnMessage) -> None:
        for r in msg.releases:
            tracks = {sr.contains_ai for sr in msg.recordings_of(r)}
            if r.contains_ai == "None" and tracks & {"All", "Partly"}:
                self.warn(
                    "contains_ai_conflict",
                    f"release {r.reference} declares ContainsAI None but some of its sound "
                    "recordings declare AI content",
                    f"Release {r.reference}",
                )


# --------------------------------------------------------------------------- mapping


def _declared_ai(release: Release | None, tracks: tuple[SoundRecording, ...]) -> str | None:
    """The release's AI disclosure: its own ContainsAI, else what all its recordings say.

    The stronger disclosure wins when the release says ``None`` but a recording declares AI.
    Undeclared recordings make the aggregate unknown unless another one declares AI.
    """
    values = [t.contains_ai for t in tracks]
    track_ai = None
    if any(v in ("All", "Partly") for v in values):
        track_ai = "All" if all(v == "All" for v in values) else "Partly"
    elif values and all(v == "None" for v in values):
        track_ai = "None"
    own = release.contains_ai if release is not None else None
    if own is None:
        return track_ai
    if own == "None" and track_ai in ("All", "Partly"):
        return "Partly"
    return own


def ern_to_release_metadata(msg: ErnMessage, release: Release | None = None) -> ReleaseMetadata:
    """The project's :class:`ReleaseMetadata` for a release (default: the main release).

    ERN carries no catalogue licences, so ``licences`` stays empty; ERN-only facts go to
    ``extra`` (``ern_version``, ``message_id``, ``sender``, ``grid``, ``genre``,
    ``release_date``, ``release_type`` and per-track AI declarations).
    """
    release = release if release is not None else msg.main_release
    tracks = msg.recordings_of(release)
    extra: dict[str, Any] = {
        "source": "ddex_ern",
        "ern_version": msg.version,
        "message_id": msg.message_id,
        "sender": (msg.sender.name or msg.sender.party_id) if msg.sender else None,
    }
    if release is not None:
        extra.update(
            release_reference=release.reference,
            release_type=release.release_type,
            grid=release.grid,
            genre=release.genre,
            release_date=release.release_date or release.original_release_date,
            related_icpns=list(release.related_icpns),
        )
    ai_tracks = {t.isrc or t.reference: t.contains_ai for t in tracks if t.contains_ai is not None}
    if ai_tracks:
        extra["track_contains_ai"] = ai_tracks
    ai_contributors = [
        {"track": t.isrc or t.reference, "name": c.name, "ai_contribution": c.ai_contribution}
        for t in tracks
        for c in t.contributors
        if c.ai_contribution is not None
    ]
    if ai_contributors:
        extra["ai_contributions"] = ai_contributors
    return ReleaseMetadata(
        title=release.title if release else None,
        artist=release.display_artist_name if release else None,
        licences=(),
        contains_ai=_declared_ai(release, tracks),
        isrcs=_unique(t.isrc for t in tracks),
        upc=release.icpn if release else None,
        label=release.label_name if release else None,
        extra=extra,
    )
