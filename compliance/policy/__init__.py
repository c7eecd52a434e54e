"""The YAML policy engine: the only place where evidence becomes a decision."""

from compliance.policy.engine import Policy, load_policy, load_policy_text
from compliance.policy.schema import export_json_schema

__all__ = ["Policy", "export_json_schema", "load_policy", "load_policy_text"]
