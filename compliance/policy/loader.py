"""Load and validate policy YAML, with errors that name the file, line and field.

The text is composed once into a YAML node tree (which keeps line marks) and constructed
from it; a pydantic error location such as ``("rules", 2, "when", "min_strength")`` is
walked down that tree to find the line to report.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from compliance.errors import PolicyError
from compliance.policy.engine import Policy
from compliance.policy.schema import PolicyDoc

MAX_POLICY_BYTES = 1 << 20
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases (``*name``): a policy is data, not a template."""

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not allowed in policies", mark
            )
        return super().compose_node(parent, index)


def _path_text(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out or "(document)"


def _check_keys(node: yaml.Node, loc: tuple[str | int, ...], source: str) -> None:
    """Reject duplicate mapping keys and merge keys, which PyYAML would accept silently."""
    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_keys(item, (*loc, i), source)
    elif isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key, value in node.value:
            line = key.start_mark.line + 1
            name = key.value if isinstance(key, yaml.ScalarNode) else "?"
            if key.tag == _MERGE_TAG:
                raise PolicyError(
                    f"{source}:{line}: {_path_text(loc)}: merge keys (<<) are not allowed"
                )
            if name in seen:
                raise PolicyError(
                    f"{source}:{line}: {_path_text((*loc, name))}: duplicate key "
                    "(YAML would silently keep only the last one)"
                )
            seen.add(name)
            _check_keys(value, (*loc, name), source)


def parse_yaml(text: str, *, source: str) -> tuple[yaml.Node | None, Any]:
    """Parse YAML into its node tree (with line marks) and its plain Python value.

    Parameters
    ----------
    text : str
        The YAML document (a single document; aliases, merge keys and duplicate keys are
        refused).
    source : str
        Name used in error messages (usually the file path).

    Returns
    -------
    (yaml.Node or None, object)
        The root node and the constructed value; ``(None, None)`` for an empty document.

    Raises
    ------
    PolicyError
        ``"{source}:{line}: invalid YAML: ..."``.
    """
    if len(text.encode("utf-8")) > MAX_POLICY_BYTES:
        raise PolicyError(f"{source}:1: larger than {MAX_POLICY_BYTES} bytes")
    loader: _NoAliasLoader | None = None
    try:
        loader = _NoAliasLoader(text)
        root = loader.get_single_node()
        if root is not None:
            _check_keys(root, (), source)
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = exc.problem or exc.context or "cannot parse"
        if exc.problem and exc.context:
            problem = f"{exc.problem} ({exc.context})"
        raise PolicyError(f"{source}:{line}: invalid YAML: {problem}") from None
    except RecursionError:
        raise PolicyError(f"{source}:1: invalid YAML: nested too deeply") from None
    except yaml.YAMLError as exc:  # ReaderError: a character YAML does not allow
        position = getattr(exc, "position", 0) or 0
        line = text.count("\n", 0, position) + 1
        raise PolicyError(f"{source}:{line}: invalid YAML: {str(exc).splitlines()[0]}") from None
    finally:
        if loader is not None:
            loader.dispose()
    return root, data


def locate(root: yaml.Node, loc: Sequence[Any]) -> tuple[int, tuple[str | int, ...]]:
    """Line (1-based) and cleaned field path for a pydantic error location."""
    node: yaml.Node | None = root
    line = root.start_mark.line + 1
    shown: list[str | int] = []
    for i, part in enumerate(loc):
        if isinstance(part, str) and "[" in part:
            continue  # pydantic tags such as "[key]" or "function-after[...]"
        if isinstance(node, yaml.MappingNode):
            pair = next((kv for kv in node.value if getattr(kv[0], "value", None) == part), None)
            shown.append(part)
            if pair is None:  # a missing key: stay on the mapping's line
                shown.extend(p for p in loc[i + 1 :] if not (isinstance(p, str) and "[" in p))
                break
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            shown.append(part)
            if part >= len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break  # a scalar: the remaining parts are not in the document
    return line, tuple(shown)


def validation_error(
    exc: ValidationError, root: yaml.Node, source: str, *, prefix: tuple[str | int, ...] = ()
) -> PolicyError:
    """Turn a pydantic error into ``"{source}:{line}: {field}: {message}"`` lines.

    Parameters
    ----------
    exc : pydantic.ValidationError
        Raised by validating the value constructed from ``root``.
    root : yaml.Node
        The node tree of the validated value.
    source : str
        File name for the messages.
    prefix : tuple
        Location of ``root`` inside a larger document, prepended to the shown field.
    """
    lines: list[str] = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"]) + tuple((err.get("ctx") or {}).get("at", ()))
        line, shown = locate(root, loc)
        msg = err["msg"].removeprefix("Value error, ")
        text = f"{source}:{line}: {_path_text(prefix + shown)}: {msg}"
        if text not in lines:
            lines.append(text)
    return PolicyError("\n".join(lines))


def canonical_hash(data: Any) -> str:
    """SHA-256 hex of the canonical JSON form, so comments and layout do not count.

    ``json.dumps(data, sort_keys=True, separators=(",", ":"))``; dates are written as ISO
    text.
    """
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def load_policy_text(text: str, *, source: str = "<policy>") -> Policy:
    """Validate policy YAML text.

    Parameters
    ----------
    text : str
        The policy document.
    source : str
        Name used in error messages and kept as :attr:`Policy.source`.

    Returns
    -------
    Policy

    Raises
    ------
    PolicyError
        One line per problem: ``"{source}:{line}: {field}: {message}"``.
    """
    root, data = parse_yaml(text, source=source)
    if root is None:
        raise PolicyError(f"{source}:1: (document): the policy file is empty")
    if not isinstance(data, dict):
        raise PolicyError(
            f"{source}:{root.start_mark.line + 1}: (document): a policy must be a mapping "
            "(id, version, rules, ...)"
        )
    try:
        doc = PolicyDoc.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, root, source) from None
    return Policy(doc, canonical_hash(data), source=source)


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Read and validate a policy file.

    Parameters
    ----------
    path : str or path-like
        A YAML policy file (UTF-8, at most 1 MiB).

    Returns
    -------
    Policy

    Raises
    ------
    PolicyError
        If the file cannot be read or is invalid; the message names file, line and field.
    """
    p = Path(path)
    try:
        if p.stat().st_size > MAX_POLICY_BYTES:
            raise PolicyError(f"{p}:1: larger than {MAX_POLICY_BYTES} bytes")
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{p}: cannot read policy: {exc}") from None
    return load_policy_text(text, source=str(p))
