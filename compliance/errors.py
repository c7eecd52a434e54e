"""Errors with stable machine-readable codes, shared by the CLI and (later) the API."""

from __future__ import annotations

from fingerprints.errors import CodedError


class ComplianceError(CodedError):
    """Base error of the service: ``code`` is stable and documented."""

    code = "compliance_error"


class PolicyError(ComplianceError):
    code = "policy_invalid"


class CatalogueError(ComplianceError):
    code = "catalogue_error"


class ConfigError(ComplianceError):
    code = "config_invalid"


def error_parts(exc: BaseException) -> tuple[str, str]:
    """Stable code and human message of a service or audio-library error."""
    code = getattr(exc, "code", "internal_error")
    message = getattr(exc, "message", None) or (exc.args[0] if exc.args else str(exc))
    return str(code), str(message)
