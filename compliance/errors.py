"""Errors with stable machine-readable codes, shared by the CLI and (later) the API."""

from __future__ import annotations


class ComplianceError(Exception):
    """Base error: ``code`` is stable and documented; ``message`` is for people."""

    code = "compliance_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


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
