"""Detectors: each turns what a scan computed into typed Evidence. None of them decides."""

from compliance.detectors.ai import AIDetector
from compliance.detectors.base import Detector, ScanContext
from compliance.detectors.cover import CoverDetector
from compliance.detectors.history import HistoryDetector
from compliance.detectors.remix import RemixDetector
from compliance.detectors.reupload import ReuploadDetector
from compliance.detectors.voice import VoiceDetector

DEFAULT_DETECTORS: tuple[type[Detector], ...] = (
    ReuploadDetector,
    RemixDetector,
    CoverDetector,
    HistoryDetector,
    AIDetector,
    VoiceDetector,
)

__all__ = [
    "DEFAULT_DETECTORS",
    "AIDetector",
    "CoverDetector",
    "Detector",
    "HistoryDetector",
    "RemixDetector",
    "ReuploadDetector",
    "ScanContext",
    "VoiceDetector",
]
