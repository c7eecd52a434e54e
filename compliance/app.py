"""Wiring: settings -> store, blobs, queue, catalogue index, policy, scanner (CLI and API)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from compliance.settings import Settings


@dataclass
class App:
    """The service's objects for one process, built lazily from :class:`Settings`."""

    settings: Settings = field(default_factory=Settings.from_env)

    @cached_property
    def store(self):
        from sqlalchemy.exc import SQLAlchemyError

        from compliance.errors import ConfigError
        from compliance.storage import Store

        self.settings.ensure_dirs()
        try:
            store = Store(self.settings.database_url)
            store.migrate()
        except SQLAlchemyError as exc:
            raise ConfigError(
                f"cannot open the database {self.settings.database_url}: {exc.__class__.__name__}"
                f": {str(exc).splitlines()[0][:200]}",
                code="database_unavailable",
            ) from None
        return store

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

    def catalogue(self):
        """A fresh read view of the catalogue index (reflects the latest ingest)."""
        from compliance.storage.index_files import CatalogueIndex

        return CatalogueIndex(self.store, self.settings.index_dir)

    def scanner(self, *, record: bool = True):
        from compliance.pipeline.scan import Scanner

        return Scanner(
            store=self.store,
            catalogue=self.catalogue(),
            policy=self.policy,
            max_duration_s=self.settings.max_duration_s,
            max_bytes=self.settings.max_file_bytes,
            record=record,
        )
