"""Errors of the audio library, each with a stable machine-readable code.

``str(error)`` is ``"[code] message"``; ``error.code`` and ``error.message`` are the parts.
"""

from __future__ import annotations


class CodedError(Exception):
    """An error with a stable machine-readable ``code`` and a ``message`` for people.

    The base of every error this project raises on purpose (the service's errors
    derive from it too), so callers can report any of them the same way.

    Parameters
    ----------
    message : str
        One line for people.
    code : str, optional
        Overrides the class's default ``code``.
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
    """An error of the audio library.

    Codes used: ``fingerprint_error`` (default), ``chromaprint_unavailable``
    (libchromaprint cannot be loaded), ``chromaprint_failed``.
    """

    code = "fingerprint_error"


class AudioError(FingerprintError):
    """Input audio that cannot be used.

    Codes
    -----
    audio_not_found
        No such file.
    audio_unreadable
        A directory, or no permission to read.
    audio_empty
        Zero bytes.
    audio_too_large
        More bytes than the limit (checked before decoding).
    audio_too_long
        More seconds of audio than the limit.
    audio_decode_failed
        Not audio, or too corrupt for a single sample to come out.
    audio_timeout
        The decoder process ran past its time limit (it is killed).
    decoder_missing
        The ``ffmpeg`` program is not installed (an installation problem, not bad input).
    """

    code = "audio_error"
