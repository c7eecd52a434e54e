"""Wiring: settings -> store, blobs, queue, catalogue index, policy, scanner (CLI and API)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from compliance.settings import Settings


@dataclass
class App:
    """The service's objects for one process, built lazily from :class:`Settings`."""

    settings: Settings = field(default_factory=Settings.from_env)
    _catalogue: Any = field(default=None, init=False, repr=False, compare=False)
    _catalogue_state: Any = field(default=None, init=False, repr=False, compare=False)
    #: How many times this process (re)opened the catalogue index (0: not yet).
    catalogue_generation: int = field(default=0, init=False, compare=False)
    _catalogue_lock: Any = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    @cached_property
    def store(self):
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import SQLAlchemyError

        from compliance.errors import ConfigError
        from compliance.storage import Store

        self.settings.ensure_dirs()
        # as messages show it: a password in the URL stays out of terminals and logs
        shown = make_url(self.settings.database_url).render_as_string(hide_password=True)
        try:
            store = Store(self.settings.database_url, pool_size=self.settings.db_pool_size)
            store.migrate()
        except ImportError as exc:  # the URL's driver is not installed (psycopg)
            raise ConfigError(
                f"the database URL {shown} needs the Python package "
                f"{exc.name or 'of its driver'}, which is not installed: "
                f"pip install 'release-compliance-checker[postgres]'",
                code="database_driver_missing",
            ) from None
        except SQLAlchemyError as exc:
            raise ConfigError(
                f"cannot open the database {shown}: {exc.__class__.__name__}"
                f": {str(exc).splitlines()[0][:200]}",
                code="database_unavailable",
            ) from None
        return store

    @cached_property
    def key_cache(self):
        """API key verifications reused for ``settings.key_cache_s`` (the API's auth)."""
        from compliance.api.keycache import KeyCache

        return KeyCache(self.store, ttl_s=self.settings.key_cache_s)

    @cached_property
    def policy(self):
        from compliance.policy import load_policy

        return load_policy(self.settings.policy_path)

    @cached_property
    def blobs(self):
        """Uploaded audio, content-addressed, in ``home/blobs``."""
        from compliance.storage.blobs import LocalBlobStore

        self.settings.ensure_dirs()
        return LocalBlobStore(self.settings.home / "blobs")

    @cached_property
    def queue(self):
        from compliance.jobs import JobQueue
        from compliance.webhooks import scan_job_finished

        return JobQueue(self.store, on_finish=scan_job_finished)

    def ingest(self, items, *, added_by: str = "cli", batch_size: int = 64, progress=None):
        """Ingest catalogue files under this app's settings (limits, index folder);
        see :func:`compliance.pipeline.ingest.ingest`."""
        from compliance.pipeline.ingest import ingest

        return ingest(
            items, store=self.store, index_dir=self.settings.index_dir,
            max_duration_s=self.settings.max_duration_s,
            max_bytes=self.settings.max_file_bytes, added_by=added_by,
            batch_size=batch_size, progress=progress,
        )  # fmt: skip

    def backfill_covers(self, *, batch_size: int = 64):
        """Cover index for catalogue tracks without one (see
        :func:`compliance.pipeline.ingest.backfill_covers`)."""
        from compliance.pipeline.ingest import backfill_covers

        return backfill_covers(
            self.store, index_dir=self.settings.index_dir,
            max_duration_s=self.settings.max_duration_s,
            max_bytes=self.settings.max_file_bytes, batch_size=batch_size,
        )  # fmt: skip

    def backfill_phases(self):
        """Landmark segments rebuilt with the coherence check's phases (see
        :func:`compliance.pipeline.ingest.backfill_phases`)."""
        from compliance.pipeline.ingest import backfill_phases

        return backfill_phases(
            self.store, index_dir=self.settings.index_dir,
            max_duration_s=self.settings.max_duration_s,
            max_bytes=self.settings.max_file_bytes,
        )  # fmt: skip

    def catalogue(self):
        """The read view of the catalogue index, reflecting the latest ingest.

        The view is kept between calls and reopened only when the store's segment list
        (an ingest or a compaction, by any process) or the set of disabled entries changed
        since it was opened (:meth:`Store.catalogue_state`, one cheap query per call);
        each reopening increments :attr:`catalogue_generation`.
        """
        from compliance.storage.index_files import CatalogueIndex

        with self._catalogue_lock:
            state = self.store.catalogue_state()  # read before opening: a change while
            if self._catalogue is None or state != self._catalogue_state:  # opening reopens
                self._catalogue = CatalogueIndex(self.store, self.settings.index_dir)
                self._catalogue_state = state
                self.catalogue_generation += 1
            return self._catalogue

    @cached_property
    def voice_bank(self):
        """This process's view of the protected-voice bank, shared by its scanners (the
        worker makes a scanner per job; the bank is reloaded only when it changed)."""
        from compliance.voices.search import BankCache

        return BankCache(self.store)

    def scanner(
        self,
        *,
        record: bool = True,
        decoder: str | None = None,
        history: bool = True,
        audio_keys: bool = False,
    ):
        """A Scanner on the current catalogue view; ``decoder="ffmpeg"`` for untrusted
        uploads (see :data:`compliance.pipeline.scan.DECODER`). ``history=False``: no
        account evidence and nothing recorded in the release history (the API's
        content-addressed analyses, shared by every account that submits the audio);
        ``audio_keys=True``: the results carry the audio's Chromaprint lookup keys, for the
        account evidence settled per submission."""
        from compliance.pipeline.scan import DECODER, Scanner

        return Scanner(
            history=history,
            audio_keys=audio_keys,
            store=self.store,
            catalogue=self.catalogue(),
            policy=self.policy,
            max_duration_s=self.settings.max_duration_s,
            max_bytes=self.settings.max_file_bytes,
            record=record,
            decoder=decoder or DECODER,
            voices=self.voice_bank,
        )
