"""A scan frees the upload's audio when it returns, without waiting for the cyclic
garbage collector (a batch of long uploads must not grow the process)."""

from __future__ import annotations

import gc
import weakref

import compliance.pipeline.scan as scan
from compliance.app import App
from compliance.settings import Settings
from compliance.synth import synth_piece
from fingerprints.audio import write_wav


def test_a_scan_leaves_no_reference_cycle_holding_the_audio(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPLIANCE_HOME", str(tmp_path / "home"))
    app = App(Settings.from_env())
    upload = tmp_path / "up.wav"
    write_wav(upload, synth_piece(5, 12.0, sample_rate=22050), 22050)
    clips = []
    decode = scan.decode

    def watched(*args, **kwargs):
        clip = decode(*args, **kwargs)
        clips.append(weakref.ref(clip.samples))
        return clip

    monkeypatch.setattr(scan, "decode", watched)
    scanner = app.scanner(record=False)
    gc.collect()
    gc.disable()
    try:
        result = scanner.check(upload)
        assert result.ok, result.error_message
        assert clips and clips[0]() is None  # freed by reference counting alone
    finally:
        gc.enable()
