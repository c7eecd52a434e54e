"""The policy file format: pydantic models of a closed vocabulary (no eval, no templates).

Every model forbids unknown keys. Numbers and booleans are strict (``"0.5"`` or ``yes``
are errors, not silently converted). Cross-field checks (a source for every threshold,
unique rule ids, min <= max) raise errors that carry the location of the offending
field in ``ctx["at"]``, relative to the model, so the loader can point at its line.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from compliance.domain import EvidenceKind
from compliance.history.thresholds import INTEGER_KNOBS, KNOBS

Action = Literal["pass", "review", "block", "require_disclosure"]
VerdictName = Literal["pass", "review", "block"]
ThresholdName = Literal["min_strength", "max_strength", "min_matched_s", "max_matched_s"]
THRESHOLDS: tuple[str, ...] = ("min_strength", "max_strength", "min_matched_s", "max_matched_s")
#: Scalar fields of :class:`compliance.domain.ReleaseMetadata` that ``declared`` may test;
#: other uploader-supplied keys are tested as ``extra.<key>``.
DECLARABLE: tuple[str, ...] = ("title", "artist", "account_id", "uploader_tier", "contains_ai")
ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"

Strength = Annotated[float, Field(strict=True, ge=0.0, le=1.0, allow_inf_nan=False)]
Seconds = Annotated[float, Field(strict=True, ge=0.0, allow_inf_nan=False)]
Tiers = Annotated[tuple[str | None, ...], Field(min_length=1)]


def problem(message: str, at: tuple[str | int, ...] = ()) -> PydanticCustomError:
    """A validation error whose field is ``at``, relative to the model being validated."""
    return PydanticCustomError("policy_rule", "{message}", {"message": message, "at": at})


def _kinds_as_tuple(value: Any) -> Any:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and not value:
        raise ValueError("give at least one evidence kind")
    return value


def _version_text(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f'write the version as a quoted string, e.g. "{value}"')
    return value


_KIND_VALUES = [k.value for k in EvidenceKind]
Kinds = Annotated[
    tuple[EvidenceKind, ...],
    BeforeValidator(_kinds_as_tuple),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "enum": _KIND_VALUES},
                {"type": "array", "items": {"type": "string", "enum": _KIND_VALUES}, "minItems": 1},
            ],
            "description": "One evidence kind or a list of kinds.",
        }
    ),
]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Closed):
    """Where a threshold's value comes from, and when it was set."""

    source: str = Field(min_length=3)
    date: dt.date


class When(_Closed):
    """Conditions on one evidence item; all must hold. Thresholds are inclusive.

    A threshold on ``matched_s`` does not hold for evidence without a matched duration.
    """

    kind: Kinds
    min_strength: Strength | None = None
    max_strength: Strength | None = None
    min_matched_s: Seconds | None = None
    max_matched_s: Seconds | None = None
    bank: str | None = Field(default=None, min_length=1)
    licence_declared: Annotated[bool, Field(strict=True)] | None = None
    authorised: Annotated[bool, Field(strict=True)] | None = None
    uploader_tier: Tiers | None = None
    declared: dict[str, Annotated[tuple[str | None, ...], Field(min_length=1)]] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> When:
        for low, high in (("min_strength", "max_strength"), ("min_matched_s", "max_matched_s")):
            lo, hi = getattr(self, low), getattr(self, high)
            if lo is not None and hi is not None and lo > hi:
                raise problem(
                    f"{high} ({hi}) is below {low} ({lo}): the rule can never fire", (high,)
                )
        for name in self.declared or {}:
            if name not in DECLARABLE and not (name.startswith("extra.") and len(name) > 6):
                raise problem(
                    f"unknown metadata field '{name}': use one of {', '.join(DECLARABLE)} "
                    "or extra.<key>",
                    ("declared", name),
                )
        return self

    def kinds(self) -> frozenset[EvidenceKind]:
        """The evidence kinds this condition applies to."""
        return frozenset(self.kind)

    def thresholds(self) -> dict[str, float]:
        """The numeric thresholds that are set, by field name."""
        return {k: getattr(self, k) for k in THRESHOLDS if getattr(self, k) is not None}


class Unless(_Closed):
    """Exemptions: if any listed condition holds for an evidence item, the rule skips it."""

    licence_declared: Literal[True] | None = None
    authorised: Literal[True] | None = None
    uploader_tier: Tiers | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Unless:
        if self.licence_declared is None and self.uploader_tier is None and self.authorised is None:
            raise problem("an empty `unless` exempts nothing: remove it or give a condition")
        return self


class _Conditioned(_Closed):
    """What rules and findings share: an id, a ``when`` on one evidence item, and a
    source for every threshold ``when`` sets."""

    WHAT: ClassVar[str] = "entry"
    id: str = Field(pattern=ID_PATTERN, max_length=80)
    description: str | None = None
    when: When
    sources: dict[ThresholdName, Source] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _every_threshold_has_a_source(self) -> _Conditioned:
        used = self.when.thresholds()
        missing = [k for k in used if k not in self.sources]
        if missing:
            raise problem(
                f"threshold of {self.WHAT} '{self.id}' has no source: add "
                f"sources.{missing[0]} with `source` and `date`"
                + (f" (also missing: {', '.join(missing[1:])})" if len(missing) > 1 else ""),
                ("when", missing[0]),
            )
        unused = [k for k in self.sources if k not in used]
        if unused:
            raise problem(
                f"{self.WHAT} '{self.id}' gives a source for a threshold it does not set in `when`",
                ("sources", unused[0]),
            )
        return self


class Rule(_Conditioned):
    """One rule: ``when`` (and not ``unless``) on some evidence item -> ``then``."""

    WHAT: ClassVar[str] = "rule"
    unless: Unless | None = None
    then: Action
    reason: str = Field(min_length=3)


class Finding(_Conditioned):
    """A finding the policy derives from detector evidence and the declaration.

    For every detector evidence item that satisfies ``when``, the engine adds an
    evidence item of kind ``kind`` (for example ``undisclosed_ai`` from
    ``ai_generated`` and a ``declared`` condition): the same strength and position, the
    detector ``policy``, and the thresholds and declared values in its details. Rules
    then test it like any evidence. Findings are derived from detector evidence only,
    never from other findings.
    """

    WHAT: ClassVar[str] = "finding"
    kind: EvidenceKind
    explanation: str = Field(min_length=3)

    @model_validator(mode="after")
    def _not_from_itself(self) -> Finding:
        if self.kind in self.when.kinds():
            raise problem(
                f"finding '{self.id}' derives {self.kind} from itself: a finding comes from "
                "other evidence kinds",
                ("kind",),
            )
        return self


HistoryKnob = Literal[KNOBS]  # type: ignore[valid-type]


class HistoryThreshold(_Closed):
    """A tuning value of the account-level patterns (:mod:`compliance.history`), with
    where it comes from."""

    value: Annotated[float, Field(strict=True, ge=0.0, allow_inf_nan=False)]
    source: str = Field(min_length=3)
    date: dt.date


class PolicyDoc(_Closed):
    """A whole policy file."""

    id: str = Field(pattern=ID_PATTERN, max_length=80)
    version: Annotated[str, BeforeValidator(_version_text)] = Field(min_length=1, max_length=64)
    mode: Literal["enforce", "shadow"] = "enforce"
    description: str | None = None
    default: VerdictName = "pass"
    findings: list[Finding] = Field(default_factory=list)
    rules: list[Rule] = Field(min_length=1)
    history: dict[HistoryKnob, HistoryThreshold] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _whole_counts(self) -> PolicyDoc:
        for name, t in self.history.items():
            if name in INTEGER_KNOBS and t.value != int(t.value):
                raise problem(f"{name} counts releases: give a whole number", ("history", name))
        return self

    @model_validator(mode="after")
    def _unique_ids(self) -> PolicyDoc:
        # rules and findings share one name space: thresholds are keyed "<id>.<field>"
        first: dict[str, str] = {}
        items = [("findings", i, f.id) for i, f in enumerate(self.findings)]
        items += [("rules", i, r.id) for i, r in enumerate(self.rules)]
        for section, i, ident in items:
            if ident in first:
                raise problem(
                    f"duplicate {section[:-1]} id '{ident}' (first used by {first[ident]})",
                    (section, i, "id"),
                )
            first[ident] = f"{section}[{i}]"
        return self


def export_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the policy file, committed as ``policies/schema.json``.

    Returns
    -------
    dict
        The schema; regenerate the committed file with
        ``compliance policy schema > policies/schema.json``.
    """
    schema = PolicyDoc.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Compliance policy"
    return schema
