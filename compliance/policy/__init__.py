"""The YAML policy engine: the only place where evidence becomes a decision.

>>> from compliance.policy import load_policy
>>> policy = load_policy("policies/default.yaml")          # doctest: +SKIP
>>> decision = policy.evaluate(evidence, metadata)          # doctest: +SKIP
"""

from compliance.policy.engine import Policy
from compliance.policy.loader import load_policy, load_policy_text
from compliance.policy.schema import export_json_schema

__all__ = ["Policy", "export_json_schema", "load_policy", "load_policy_text"]
