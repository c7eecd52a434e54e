"""Errors of the audio library, each with a stable machine-readable code."""

from __future__ import annotations


class CodedError(Exception):
    """An error with a stable machine-readable ``code`` and a ``message`` for people.

    The base of every error this project raises on purpose (the service's errors
    derive from it too), so callers can report any of them the same way.
    """

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


class FingerprintError(CodedError):
    """An error of the audio library."""

    code = "fingerprint_error"


class AudioError(FingerprintError):
    """Input audio that cannot be used.

    Codes: ``audio_not_found``, ``audio_unreadable``, ``audio_empty``, ``audio_too_large``,
    ``audio_too_long``, ``audio_decode_failed``, ``audio_timeout``.
    """

    code = "audio_error"
