"""The scan worker: claim a scan job, decode its blob, run the Scanner, store the result.

While a job is scanned a heartbeat thread renews its lease; a worker killed mid-scan
stops renewing, and another worker takes the job once the lease expires (every claim
is an attempt; the queue fails a job whose attempts are used up). The heartbeat gives
up after ``max_job_s`` so that a scan that hangs loses its lease instead of holding the
job forever.

Outcomes: a decision -> ``done`` with ``ScanResult.to_json()``; bad content (not audio,
too short, too long...) -> ``failed`` at once, with the error-shaped result and
``last_error = "code: message"`` (a retry would fail the same way); anything else (a
database hiccup, a bug) -> back to the queue with backoff, up to the job's attempts.

Isolation: uploads are untrusted, so the worker decodes them only in an ffmpeg
subprocess (restricted to local files and audio demuxers, address space and CPU time
limited, killed at a deadline: :func:`fingerprints.audio.decode`), never in process
with libsndfile as the command line does. Still open: the child runs as the worker's
user with its file-system view (no seccomp or namespace sandbox); the heartbeat cap
only releases the lease of a scan that hangs in Python code.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid

from compliance.domain import ReleaseMetadata
from compliance.jobs.metrics import observe_scan
from compliance.jobs.queue import Job, JobQueue, LeaseLost

log = logging.getLogger("compliance.worker")

SCAN_JOB = "scan"


class _Heartbeat(threading.Thread):
    def __init__(self, queue: JobQueue, job_id: str, worker: str, lease_s: float,
                 interval_s: float, max_job_s: float) -> None:  # fmt: skip
        super().__init__(name=f"heartbeat-{job_id[:8]}", daemon=True)
        self.queue, self.job_id, self.worker = queue, job_id, worker
        self.lease_s, self.interval_s, self.max_job_s = lease_s, interval_s, max_job_s
        self.stop_event = threading.Event()
        self.lost = False

    def run(self) -> None:
        started = time.monotonic()
        while not self.stop_event.wait(self.interval_s):
            if time.monotonic() - started > self.max_job_s:
                log.warning("job %s exceeded %.0f s: lease no longer renewed", self.job_id,
                            self.max_job_s)  # fmt: skip
                return
            try:
                self.queue.heartbeat(self.job_id, self.worker, lease_s=self.lease_s)
            except LeaseLost:
                self.lost = True
                return
            except Exception:  # a database hiccup: try again at the next beat
                log.exception("heartbeat of job %s failed", self.job_id)

    def stop(self) -> None:
        self.stop_event.set()
        self.join()


class ScanWorker:
    """Runs scan jobs of one :class:`~compliance.app.App`.

    Parameters
    ----------
    app : compliance.app.App
    worker_id : str, optional
        Lease owner name (default host:pid:random).
    lease_s : float
        Lease length; renewed every ``heartbeat_s`` (default a third of it).
    max_job_s : float
        After this long the lease is no longer renewed (a hung scan is retried elsewhere).
    poll_s : float
        Sleep between claims when the queue is empty (:meth:`run_forever`).
    """

    def __init__(
        self,
        app,
        *,
        worker_id: str | None = None,
        lease_s: float = 60.0,
        heartbeat_s: float | None = None,
        max_job_s: float = 900.0,
        poll_s: float = 1.0,
    ) -> None:
        self.app = app
        from compliance.webhooks import scan_job_finished

        self.queue = JobQueue(app.store, on_finish=scan_job_finished)  # notifies webhooks
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease_s = lease_s
        self.heartbeat_s = heartbeat_s if heartbeat_s is not None else lease_s / 3
        self.max_job_s = max_job_s
        self.poll_s = poll_s

    def run_once(self) -> Job | None:
        """Claim and process one scan job; returns it as it ended, None if none was free."""
        job = self.queue.claim(self.id, lease_s=self.lease_s, kinds=[SCAN_JOB])
        if job is None:
            return None
        beat = _Heartbeat(self.queue, job.id, self.id, self.lease_s, self.heartbeat_s,
                          self.max_job_s)  # fmt: skip
        beat.start()
        try:
            result = self._scan(job)
        except Exception as exc:
            beat.stop()
            observe_scan({}, "internal_error")
            log.exception("job %s failed", job.id)
            error = f"internal_error: {type(exc).__name__}: {exc}"
            return self._settle(job, lambda: self.queue.fail(job.id, self.id, error))
        beat.stop()
        observe_scan(result.timings_s, "decided" if result.ok else "content_error")
        if result.ok:
            # the lookup keys ride along for the per-submission account evidence
            body = {**result.to_json(), "audio_keys": result.audio_keys}
            also = self._account_evidence(job, body)
            return self._settle(job, lambda: self.queue.complete(job.id, self.id, body, also=also))
        return self._settle(job, lambda: self.queue.fail(
            job.id, self.id, f"{result.error_code}: {result.error_message}",
            permanent=True, result=result.to_json(),
        ))  # fmt: skip

    def _account_evidence(self, job: Job, result: dict):
        """Each submission's own account evidence, computed before the job is marked
        done; returns the write of it for the completing transaction (``also`` of
        :meth:`JobQueue.complete`), so a read never sees the scan done without it (and
        never has to compute it itself). A failure is logged and leaves it to the first
        read of each submission (:func:`settle_account_evidence`)."""
        from compliance.api.intake import account_evidence_of, write_account_evidence

        try:
            evidence = account_evidence_of(self.app.store, self.app.policy, job.id, result)
            json.dumps(evidence)  # what the completing write stores: fail here, not there
        except Exception:  # the scan is done either way
            log.exception("account evidence of job %s could not be computed", job.id)
            evidence = {}
        return lambda session: write_account_evidence(session, evidence)

    def _settle(self, job: Job, write) -> Job:
        try:
            write()
        except LeaseLost:
            log.warning("job %s was taken over by another worker; result dropped", job.id)
        got = self.queue.get(job.id)
        assert got is not None
        return got

    def _scan(self, job: Job):
        from compliance.pipeline.scan import ScanResult

        payload = job.payload
        name = str(payload.get("file") or payload.get("blob"))
        blobs = self.app.blobs
        address = payload.get("blob", "")
        if not blobs.exists(address):
            return ScanResult(file=name, error_code="blob_not_found",
                              error_message=f"the stored upload {address} is missing")  # fmt: skip
        meta = ReleaseMetadata.from_mapping(payload.get("metadata") or {})
        # A fresh catalogue view (sees the latest ingest); uploads are untrusted: decoded
        # only in a limited ffmpeg subprocess, never in this process. No account
        # evidence here: the analysis is shared by every submission of the same audio;
        # each submission's account evidence is computed after (_account_evidence).
        scanner = self.app.scanner(decoder="ffmpeg", history=False, audio_keys=True)
        path = blobs.path(address)
        result = scanner.check(path, meta, file_name=name)
        if result.error_message:  # the blob's location is ours, not the client's business
            result.error_message = result.error_message.replace(str(path), name)
        return result

    def warm(self) -> float:
        """Scan a short synthetic clip, recording nothing, before the first claim.

        The catalogue view, the detectors' models and the libraries they import are
        loaded then, so the first job costs what the others do and a worker that logs
        "started" is ready. A failure here is logged; the jobs then pay the cost.

        Returns
        -------
        float
            Seconds the warm-up took (wall clock).
        """
        import tempfile

        import numpy as np
        import soundfile as sf

        from compliance.synth import synth_piece

        t0 = time.perf_counter()
        try:
            with tempfile.TemporaryDirectory(prefix="compliance-warm-") as tmp:
                path = os.path.join(tmp, "warm.wav")
                sr = 22050
                sf.write(path, synth_piece(7, 4.0, sample_rate=sr).astype(np.float32), sr)
                scanner = self.app.scanner(
                    decoder="ffmpeg", history=False, audio_keys=True, record=False
                )
                scanner.check(path, ReleaseMetadata(), file_name="warm-up")
        except Exception:
            log.exception("worker %s: warm-up scan failed", self.id)
        return time.perf_counter() - t0

    def run_forever(self, stop: threading.Event | None = None, *, warm: bool = True) -> None:
        """Process jobs until ``stop`` is set (poll when idle; survive database errors).

        ``warm``: run :meth:`warm` first (``"started"`` is logged after it)."""
        stop = stop or threading.Event()
        if warm:
            log.info("worker %s warming up", self.id)
            log.info("worker %s warm in %.2f s", self.id, self.warm())
        log.info("worker %s started", self.id)
        while not stop.is_set():
            try:
                job = self.run_once()
            except Exception:
                log.exception("worker %s: claim failed", self.id)
                job = None
            if job is None:
                stop.wait(self.poll_s)
        log.info("worker %s stopped", self.id)
