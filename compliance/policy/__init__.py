"""The YAML policy engine: the only place where evidence becomes a decision.

>>> from compliance.policy import load_policy
>>> policy = load_policy("policies/default.yaml")          # doctest: +SKIP
>>> decision = policy.evaluate(evidence, metadata)          # doctest: +SKIP

The names are imported on first use (PEP 562), so that commands which never touch a
policy (``compliance catalogue add``) do not pay for pydantic and YAML at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from compliance.policy.engine import Policy
    from compliance.policy.loader import load_policy, load_policy_text
    from compliance.policy.schema import export_json_schema

__all__ = ["Policy", "export_json_schema", "load_policy", "load_policy_text"]

_WHERE = {
    "Policy": "compliance.policy.engine",
    "load_policy": "compliance.policy.loader",
    "load_policy_text": "compliance.policy.loader",
    "export_json_schema": "compliance.policy.schema",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
