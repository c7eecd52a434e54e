"""Load and validate policy YAML, with errors that name the file, line and field."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from compliance.errors import PolicyError
from compliance.policy.schema import PolicyDoc

MAX_POLICY_BYTES = 1 << 20


def _node_at(root: yaml.Node | None, loc: tuple[Any, ...]) -> yaml.Node | None:
    """The deepest YAML node along a pydantic error location."""
    node = root
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
            if nxt is None:
                # an unknown or missing key: point at the key itself if present, else the map
                key = next((k for k, _ in node.value if getattr(k, "value", None) == part), None)
                return key or node
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return node
            node = node.value[part]
        else:
            return node
    return node


def _loc_text(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).startswith(("function-", "union[")) and part not in ("list[...]",):
            out += ("." if out else "") + str(part)
    return out or "(document)"


def canonical_hash(data: Any) -> str:
    """SHA-256 of the canonical JSON form (comments and formatting do not count)."""
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def parse_policy_text(text: str, *, source: str = "<policy>") -> tuple[PolicyDoc, str]:
    """Validate policy YAML text; returns the model and its canonical hash."""
    if len(text.encode("utf-8")) > MAX_POLICY_BYTES:
        raise PolicyError(f"{source}: larger than {MAX_POLICY_BYTES} bytes")
    try:
        for ev in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(ev, yaml.AliasEvent):
                line = ev.start_mark.line + 1
                raise PolicyError(f"{source}:{line}: YAML aliases are not allowed in policies")
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"{mark.line + 1}" if mark is not None else "?"
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError(f"{source}:{line}: invalid YAML: {problem}") from None
    if data is None:
        raise PolicyError(f"{source}:1: the policy file is empty")
    if not isinstance(data, dict):
        raise PolicyError(f"{source}:1: a policy must be a mapping (id, version, rules, ...)")
    try:
        doc = PolicyDoc.model_validate(data)
    except ValidationError as exc:
        lines: list[str] = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if "[" not in str(p))
            node = _node_at(root, loc)
            line = node.start_mark.line + 1 if node is not None else 1
            msg = err["msg"].removeprefix("Value error, ")
            text = f"{source}:{line}: {_loc_text(loc)}: {msg}"
            if text not in lines:
                lines.append(text)
        raise PolicyError("\n".join(lines)) from None
    return doc, canonical_hash(data)


def read_policy_file(path: str | os.PathLike) -> tuple[PolicyDoc, str]:
    """Read and validate a policy file."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_POLICY_BYTES:
            raise PolicyError(f"{p}: larger than {MAX_POLICY_BYTES} bytes")
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{p}: cannot read: {exc}") from None
    return parse_policy_text(text, source=str(p))
