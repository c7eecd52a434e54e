"""Durable jobs in the database (issue 3 groundwork): see :mod:`compliance.jobs.queue`."""

from compliance.jobs.queue import DONE, FAILED, QUEUED, RUNNING, Job, JobQueue, LeaseLost

__all__ = ["DONE", "FAILED", "QUEUED", "RUNNING", "Job", "JobQueue", "LeaseLost"]
