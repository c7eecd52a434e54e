"""The policy file schema (pydantic, closed vocabulary: no eval, no templates)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from compliance.domain import EvidenceKind

Action = Literal["pass", "review", "block", "require_disclosure"]
NUMERIC_WHEN = ("min_strength", "max_strength", "min_matched_s", "max_matched_s")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    """Where a threshold comes from, and when it was set."""

    source: str = Field(min_length=3)
    date: dt.date


class When(_Strict):
    """Conditions on one evidence item (all must hold; thresholds are inclusive)."""

    kind: EvidenceKind | list[EvidenceKind]
    min_strength: float | None = Field(default=None, ge=0.0, le=1.0)
    max_strength: float | None = Field(default=None, ge=0.0, le=1.0)
    min_matched_s: float | None = Field(default=None, ge=0.0)
    max_matched_s: float | None = Field(default=None, ge=0.0)
    bank: str | None = None
    licence_declared: bool | None = None
    uploader_tier: list[str] | None = None
    declared: dict[str, list[str | None]] | None = None

    def kinds(self) -> frozenset[EvidenceKind]:
        return frozenset(self.kind if isinstance(self.kind, list) else [self.kind])

    def thresholds(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in NUMERIC_WHEN if getattr(self, k) is not None}


class Unless(_Strict):
    """Exemptions: if any holds for an evidence item, the rule does not fire on it."""

    licence_declared: bool | None = None
    uploader_tier: list[str] | None = None


class Rule(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=80)
    description: str | None = None
    when: When
    unless: Unless | None = None
    then: Action
    reason: str = Field(min_length=3)
    sources: dict[str, Source] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _every_threshold_has_a_source(self) -> Rule:
        missing = [k for k in self.when.thresholds() if k not in self.sources]
        if missing:
            raise ValueError(
                f"rule '{self.id}': threshold(s) {', '.join(missing)} need an entry in "
                "`sources` (source and date)"
            )
        extra = [k for k in self.sources if k not in self.when.thresholds()]
        if extra:
            raise ValueError(f"rule '{self.id}': `sources` names unknown threshold(s) {extra}")
        return self


class PolicyDoc(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=80)
    version: str = Field(min_length=1, max_length=64)
    mode: Literal["enforce", "shadow"] = "enforce"
    description: str | None = None
    default: Literal["pass", "review", "block"] = "pass"
    rules: list[Rule] = Field(min_length=1)

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int | float) else v

    @model_validator(mode="after")
    def _unique_rule_ids(self) -> PolicyDoc:
        seen: set[str] = set()
        for r in self.rules:
            if r.id in seen:
                raise ValueError(f"duplicate rule id '{r.id}'")
            seen.add(r.id)
        return self


def export_json_schema() -> dict[str, Any]:
    """JSON Schema of the policy file (committed as ``policies/schema.json``)."""
    schema = PolicyDoc.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Compliance policy"
    return schema
