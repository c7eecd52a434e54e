"""Releases and their scans: one transaction per submission, and the views the API shows.

A *scan* (``release_files`` row, the API's ``scan_id``) is one file of one submission.
It points at a scan *job* whose dedup key is the audio's content hash and the policy
hash: the same audio under the same policy is analysed once, and every later submission
of it gets its own scan id pointing at that same job (``analysis_id`` in the answers,
``deduplicated: true`` for the later ones). A job that failed because of the audio
stays failed for later submissions; one that failed for reasons of ours (worker crashes,
database errors: no result stored) is queued again by the next submission.

The policy reads the declared metadata (licences, the account a protected voice is
authorised for). When a later submission declares other metadata than the one the job
ran with, its decision is re-evaluated from the stored evidence with its own metadata
under the same policy, and a protected voice's ``details.authorised`` is shown for its
own account.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, func, insert, literal_column, select
from sqlalchemy.exc import IntegrityError

from compliance.api.upload import StoredFile
from compliance.domain import Evidence, ReleaseMetadata
from compliance.jobs import DONE, FAILED, QUEUED, RUNNING, JobQueue
from compliance.policy.engine import evaluated_evidence
from compliance.storage.models import JobRow, ReleaseFileRow, ReleaseRow
from compliance.storage.types import utcnow
from compliance.webhooks import notify_if_finished_in

log = logging.getLogger(__name__)

SCAN_JOB = "scan"
SCAN_MAX_ATTEMPTS = 3


def scan_dedup_key(content_hash: str, policy_hash: str) -> str:
    return f"scan|{content_hash}|{policy_hash}"


@dataclass(frozen=True, slots=True)
class NewScan:
    scan_id: str
    file: str
    content_hash: str
    analysis_id: str
    deduplicated: bool


def create_release(
    store,
    *,
    files: Sequence[StoredFile],
    metadata: dict[str, Any],
    policy_hash: str,
    api_key_id: str | None,
) -> tuple[str, list[NewScan]]:
    """Record a release, one scan per file and the jobs they need, all or nothing.

    On PostgreSQL a release of new audio is recorded by one statement in one round trip
    (:func:`new_release_statement`); a release with audio already analysed or queued, and
    every release on SQLite, by a transaction that looks each job up first.
    """
    if store.backend == "postgresql" and files:
        statement = new_release_statement(store, files, metadata, policy_hash, api_key_id)
        with store.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            inserted = len(conn.exec_driver_sql(statement.sql, statement.params).all())
        return settle_release(store, statement, inserted)
    return _create_release_in_transaction(store, files, metadata, policy_hash, api_key_id)


def settle_release(
    store, statement: NewReleaseStatement, inserted: int
) -> tuple[str, list[NewScan]]:
    """The release of :func:`new_release_statement` after its statement ran (here, or
    on the API's event loop) and returned ``inserted`` rows: recorded when every file
    row was inserted, else recorded by a transaction that finds the jobs of the audio
    already known; the jobs the statement did insert are reported as new."""
    if (done := statement.recorded(inserted)) is not None:
        return done
    with store.engine.connect() as conn:
        ids = statement.job_ids
        ours = frozenset(conn.execute(select(_JOBS.c.id).where(_JOBS.c.id.in_(ids))).scalars())
    return _create_release_in_transaction(
        store, statement.files, statement.metadata, statement.policy_hash,
        statement.api_key_id, ours,
    )  # fmt: skip


def _create_release_in_transaction(
    store, files, metadata, policy_hash, api_key_id, ours: frozenset[str] = frozenset()
):
    """A release recorded by a transaction that looks each file's job up first (SQLite,
    and PostgreSQL when some audio is known); ``ours``: jobs of these files inserted by
    this submission's earlier statement, reported as new."""
    for attempt in range(3):
        try:
            return _create_release_once(store, files, metadata, policy_hash, api_key_id, ours)
        except IntegrityError:
            # A concurrent submission of the same audio created its job first: the
            # whole transaction rolled back; the next attempt finds and reuses that job.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _scan_payload(f: StoredFile, metadata: dict[str, Any], policy_hash: str) -> dict[str, Any]:
    return {"blob": f.address, "file": f.name, "metadata": metadata, "policy_hash": policy_hash}


@dataclass(frozen=True)
class NewReleaseStatement:
    """One statement that records a release of new audio (:func:`new_release_statement`):
    psycopg SQL and parameters, and what the release will be when it inserts every file
    row (``len(scans)`` rows returned)."""

    sql: str
    params: dict[str, Any]
    release_id: str
    scans: list[NewScan]
    job_ids: list[str]
    files: Sequence[StoredFile]
    metadata: dict[str, Any]
    policy_hash: str
    api_key_id: str | None

    def recorded(self, inserted: int) -> tuple[str, list[NewScan]] | None:
        """The release and its scans when the statement returned ``inserted`` rows, one
        per file (it recorded the release), else None (some audio was known)."""
        return (self.release_id, self.scans) if inserted == len(self.scans) else None


def new_release_statement(
    store,
    files: Sequence[StoredFile],
    metadata: dict[str, Any],
    policy_hash: str,
    api_key_id: str | None,
) -> NewReleaseStatement:
    """The release of audio never submitted before, as one statement (PostgreSQL).

    ``INSERT`` the jobs ``ON CONFLICT (dedup_key) DO NOTHING``, and, in the same statement,
    the release and its file rows only if every job was inserted (data-modifying CTEs; a
    statement is atomic, so autocommit needs no BEGIN or COMMIT round trip); it returns
    the file rows inserted. When some audio already has a job (a re-submission, or a
    concurrent submission of the same audio), nothing but the new jobs is written, and
    :func:`settle_release` records the release in a transaction that finds the existing
    jobs. Run it on an autocommit connection (:func:`create_release` does; the API runs
    it on its event loop).
    """
    release_id, now = str(uuid.uuid4()), utcnow()
    params: dict[str, Any] = {"release_id": release_id, "metadata": metadata,
                              "api_key_id": api_key_id, "now": now}  # fmt: skip
    jobs, scans = [], []
    for i, f in enumerate(files):
        job = JobQueue.new_values(
            SCAN_JOB, _scan_payload(f, metadata, policy_hash),
            dedup_key=scan_dedup_key(f.address, policy_hash), max_attempts=SCAN_MAX_ATTEMPTS,
        )  # fmt: skip
        jobs.append(job)
        params.update({f"j{i}_{k}": v for k, v in job.items()})
        scan_id = str(uuid.uuid4())
        params.update({f"f{i}_id": scan_id, f"f{i}_file": f.name, f"f{i}_hash": f.address,
                       f"f{i}_size": f.size})  # fmt: skip
        scans.append(NewScan(scan_id, f.name, f.address, job["id"], False))
    from psycopg.types.json import Json

    for name in ("metadata", *(f"j{i}_payload" for i in range(len(files)))):
        params[name] = Json(params[name])
    return NewReleaseStatement(
        new_release_sql(len(files), store.engine.dialect), params, release_id, scans,
        [j["id"] for j in jobs], files, metadata, policy_hash, api_key_id,
    )  # fmt: skip


@functools.lru_cache(maxsize=16)
def new_release_sql(n: int, dialect) -> str:
    """The SQL of :func:`new_release_statement` for ``n`` files, compiled once per file
    count (SQLAlchemy does not cache the compiled form of a statement with
    data-modifying CTEs; compiling it cost more than its round trip). Its parameters
    are psycopg's ``%(name)s``; JSON values are passed as ``psycopg`` ``Json``."""
    return str(_new_release_statement(n).compile(dialect=dialect))


def _new_release_statement(n: int):
    """The statement of :func:`new_release_sql`: bind parameters only."""
    from sqlalchemy import column, values
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    job_cols = list(JobQueue.new_values(SCAN_JOB, {}))  # the columns a new job sets
    job_rows = [
        {c: bindparam(f"j{i}_{c}", type_=_JOBS.c[c].type) for c in job_cols} for i in range(n)
    ]
    new_jobs = (
        pg_insert(_JOBS)
        .values(job_rows)
        .on_conflict_do_nothing(index_elements=[_JOBS.c.dedup_key])
        .returning(_JOBS.c.id)
        .cte("new_jobs")
    )
    all_new = select(func.count()).select_from(new_jobs).scalar_subquery() == literal_column(str(n))
    rel = {"id": "release_id", "metadata": "metadata", "api_key_id": "api_key_id",
           "created_at": "now"}  # fmt: skip
    new_release = (
        insert(_RELEASES)
        .from_select(
            list(rel),
            select(*(bindparam(p, type_=_RELEASES.c[c].type) for c, p in rel.items())).where(
                all_new
            ),
        )
        .returning(_RELEASES.c.id)
        .cte("new_release")
    )
    file_params = {"id": "f{i}_id", "release_id": "release_id", "position": None,
                   "file": "f{i}_file", "content_hash": "f{i}_hash", "size_bytes": "f{i}_size",
                   "job_id": "j{i}_id", "created_at": "now"}  # fmt: skip

    def value(c: str, i: int):
        if c == "position":
            return literal_column(str(i), _FILES.c.position.type)
        return bindparam(file_params[c].format(i=i), type_=_FILES.c[c].type)

    file_values = values(*(column(c, _FILES.c[c].type) for c in file_params), name="f").data(
        [tuple(value(c, i) for c in file_params) for i in range(n)]
    )
    return (
        insert(_FILES)
        .from_select(list(file_params), select(file_values).where(all_new))
        .returning(_FILES.c.id)
        .add_cte(new_jobs, new_release)
    )


def _create_release_once(store, files, metadata, policy_hash, api_key_id, ours=frozenset()):
    release_id = str(uuid.uuid4())
    now = utcnow()
    out: list[NewScan] = []
    with store.session() as s, s.begin():
        jobs = []
        for f in files:  # the jobs first: nothing of ours is written before them
            job_id, created = JobQueue.enqueue_in(
                s,
                SCAN_JOB,
                _scan_payload(f, metadata, policy_hash),
                dedup_key=scan_dedup_key(f.address, policy_hash),
                max_attempts=SCAN_MAX_ATTEMPTS,
            )
            created = created or job_id in ours  # inserted by this call's first statement
            if not created and _failed_without_verdict(s, job_id):
                # It failed for reasons of ours (worker crashes, database trouble), not
                # because of the audio: this submission gives it a new set of attempts.
                JobQueue.requeue_in(s, job_id)
            jobs.append((job_id, created))
        # plain inserts (the file rows in one statement): cheaper than the ORM's flush
        conn = s.connection()
        conn.execute(
            insert(_RELEASES),
            {"id": release_id, "metadata": metadata, "api_key_id": api_key_id, "created_at": now},
        )
        rows = [
            {"id": str(uuid.uuid4()), "release_id": release_id, "position": pos, "file": f.name,
             "content_hash": f.address, "size_bytes": f.size, "job_id": job_id,
             "created_at": now}
            for pos, (f, (job_id, _created)) in enumerate(zip(files, jobs, strict=True))
        ]  # fmt: skip
        conn.execute(insert(_FILES), rows)
        for f, row, (job_id, created) in zip(files, rows, jobs, strict=True):
            if not created:  # an analysis that already ended: notify this scan now
                notify_if_finished_in(s, job_id, row["id"])
            out.append(NewScan(row["id"], f.name, f.address, job_id, not created))
    return release_id, out


_RELEASES = ReleaseRow.__table__
_FILES = ReleaseFileRow.__table__
_JOBS = JobRow.__table__


def _failed_without_verdict(s, job_id: str) -> bool:
    """A failed job without a stored result: not a content error (those keep the error
    result and stay failed, a retry would end the same way)."""
    job = s.get(JobRow, job_id)
    return job is not None and job.state == FAILED and job.result is None


def _reason(job: JobRow) -> str | None:
    if job.state == QUEUED:
        if job.attempts == 0:
            return "waiting for a worker"
        return (
            f"waiting to retry (attempt {job.attempts + 1} of {job.max_attempts}) after: "
            f"{job.last_error}"
        )
    if job.state == RUNNING:
        return f"being scanned (attempt {job.attempts} of {job.max_attempts})"
    if job.state == FAILED:
        return job.last_error or "failed"
    return None


def _for_reference(result: dict[str, Any], ref: ReleaseFileRow, job: JobRow, release, policy):
    """The job's result as this scan sees it: its file name, its scan id, its own
    account evidence, and its own decision when it has account evidence or declared
    other metadata than the submission that ran the job."""
    out = dict(result)
    out.pop("audio_keys", None)  # the worker's lookup keys, for account evidence only
    out["file"] = ref.file
    out["record_id"] = result.get("scan_id")
    out["scan_id"] = ref.id
    if out.get("decision") is None or release is None:
        return out
    account = getattr(ref, "account_evidence", None) or []
    if account:
        out["evidence"] = [*result.get("evidence", []), *account]
    declared = release.release_metadata or {}
    if not account and declared == (job.payload or {}).get("metadata", {}):
        return out
    stored_policy = (result.get("policy") or {}).get("hash")
    if policy is None or stored_policy != policy.hash:
        return out  # the policy changed since: keep what was decided then
    meta = ReleaseMetadata.from_mapping(declared)
    evidence = [Evidence.from_dict(_as_submitted(e, meta)) for e in out.get("evidence", [])]
    d = policy.evaluate(evidence, meta)
    out["evidence"] = [e.to_dict() for e in evaluated_evidence(evidence, d)]
    out["decision"] = str(d.verdict)
    out["policy"] = d.policy_ref()
    out["rules_fired"] = [r.to_dict() for r in d.rules_fired]
    out["record_id"] = None  # re-evaluated for this submission, not a stored record
    return out


def _as_submitted(ev: dict[str, Any], meta: ReleaseMetadata) -> dict[str, Any]:
    """An evidence item as this submission sees it: ``details.authorised`` for its own
    account when the evidence names the authorised accounts (a protected voice)."""
    details = ev.get("details") or {}
    if not isinstance(details.get("authorised_accounts"), list):
        return ev
    from compliance.policy.engine import authorised_for

    return {**ev, "details": {**details, "authorised": authorised_for(details, meta.account_id)}}


def _view(ref: ReleaseFileRow, job: JobRow, release, policy) -> dict[str, Any]:
    result = None
    if job.result is not None and job.state in (DONE, FAILED):
        result = _for_reference(job.result, ref, job, release, policy)
    return {
        "scan_id": ref.id,
        "release_id": ref.release_id,
        "file": ref.file,
        "content_hash": ref.content_hash,
        "analysis_id": job.id,
        "state": job.state,
        "reason": _reason(job),
        "attempts": job.attempts,
        "result": result,
    }


_F, _J, _R = ReleaseFileRow.__table__.c, JobRow.__table__.c, ReleaseRow.__table__.c
#: The columns a scan view needs (:func:`_view`), selected without ORM entities: a
#: status read is the API's most frequent request, and loading three mapped objects
#: cost more CPU than the query's round trip.
_SCAN_COLUMNS = (
    _F.id, _F.release_id, _F.file, _F.content_hash,
    _J.id.label("job_id"), _J.state, _J.attempts, _J.max_attempts, _J.last_error,
    _J.result, _J.payload, _R.metadata.label("release_metadata"), _R.id.label("release_row"),
    _F.account_evidence,
)  # fmt: skip
_SCAN_QUERY = (
    select(*_SCAN_COLUMNS)
    .join(JobRow.__table__, _J.id == _F.job_id)
    .outerjoin(ReleaseRow.__table__, _R.id == _F.release_id)
)


@functools.lru_cache(maxsize=4)
def scan_sql(dialect) -> str:
    """The status read's SQL, compiled once (``%(scan_id)s``): the read is the API's most
    frequent request, and building and looking up the statement in SQLAlchemy's cache
    cost about as much CPU as the rest of the query."""
    return str(_SCAN_QUERY.where(_F.id == bindparam("scan_id")).compile(dialect=dialect))


def get_scan(store, scan_id: str, policy=None) -> dict[str, Any] | None:
    """The view of one scan (one query, one round trip: :meth:`Store.reader`)."""
    with store.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        if store.backend == "postgresql":  # psycopg decodes the JSON columns itself
            row = conn.exec_driver_sql(scan_sql(store.engine.dialect), {"scan_id": scan_id})
        else:
            row = conn.execute(
                _SCAN_QUERY.where(_F.id == bindparam("scan_id")), {"scan_id": scan_id}
            )
        row = row.first()
    if row is None:
        return None
    row = row._mapping
    if needs_account_evidence(row, policy):
        # analysed, but this submission's account evidence is not stored yet (it came
        # after the worker settled the job): compute it now, once
        settled = _settle_quietly(store, policy, row["job_id"]).get(row["id"])
        row = {**row, "account_evidence": settled}
    return scan_view(row, policy)


def needs_account_evidence(row, policy) -> bool:
    """A row of :func:`scan_sql` whose scan is analysed but has no account evidence
    stored yet (:func:`get_scan` computes it, with database writes)."""
    return row["account_evidence"] is None and row["state"] == DONE and policy is not None


def scan_view(row, policy) -> dict[str, Any]:
    """The view of one scan from a row of :func:`scan_sql` (a mapping of its columns)."""
    ref = SimpleNamespace(
        id=row["id"], release_id=row["release_id"], file=row["file"],
        content_hash=row["content_hash"], account_evidence=row["account_evidence"],
    )  # fmt: skip
    job = SimpleNamespace(
        id=row["job_id"], state=row["state"], attempts=row["attempts"],
        max_attempts=row["max_attempts"], last_error=row["last_error"], result=row["result"],
        payload=row["payload"],
    )  # fmt: skip
    release = None
    if row["release_row"] is not None:
        release = SimpleNamespace(release_metadata=row["release_metadata"])
    return _view(ref, job, release, policy)


_KIND_OF = {"kept_reupload": "reupload", "kept_remix": "remix", "kept_cover": "cover"}
"""The evidence kind a kept candidate (landmark or cover) became."""


def explain_scan(store, scan_id: str, policy=None) -> dict[str, Any] | None:
    """What the landmark search and the cover search considered for a scan and why each
    candidate was kept or dropped, with the evidence and rules each kept one led to
    (``cover_candidates`` is empty when the cover search did not run). None: no such scan.
    Raises ApiError 409 while the scan has no decision, or when its result carries no
    candidate list (content errors, results stored before candidates were recorded)."""
    from compliance.api.errors import ApiError
    from compliance.detectors.cover import MIDPOINT as COVER_MIDPOINT
    from compliance.detectors.cover import REPORT_MIN_STRENGTH as COVER_REPORT_MIN_STRENGTH
    from compliance.detectors.landmark_evidence import (
        ANCHOR_MIDPOINT,
        MIN_COVERAGE,
        REPORT_MIN_STRENGTH,
    )

    view = get_scan(store, scan_id, policy)
    if view is None:
        return None
    result = view["result"]
    if view["state"] in (QUEUED, RUNNING):
        raise ApiError(409, "scan_not_done", f"scan {scan_id} is {view['state']}: {view['reason']}")
    if result is None or result.get("decision") is None:
        raise ApiError(409, "scan_failed", f"scan {scan_id} ended without a decision: "
                       f"{view['reason']}")  # fmt: skip
    if result.get("candidates") is None:
        raise ApiError(409, "explain_unavailable",
                       f"scan {scan_id} was analysed before candidates were recorded")  # fmt: skip
    evidence = result.get("evidence") or []
    fired = result.get("rules_fired") or []

    def linked(c: dict[str, Any]) -> dict[str, Any]:
        """A candidate with the evidence it became and the rules that evidence fired."""
        kind = _KIND_OF.get(c.get("outcome"))
        idx = [
            i
            for i, e in enumerate(evidence)
            if kind and e.get("kind") == kind and e.get("catalogue_id") == c["catalogue_id"]
        ]
        rules = [r["rule_id"] for r in fired if set(r.get("evidence") or []) & set(idx)]
        return {**c, "evidence": idx, "rules_fired": rules}

    candidates = [linked(c) for c in result["candidates"]]
    covers = [linked(c) for c in result.get("cover_candidates") or []]
    return {
        "scan_id": view["scan_id"],
        "analysis_id": view["analysis_id"],
        "file": view["file"],
        "decision": result.get("decision"),
        "duration_s": result.get("duration_s"),
        "thresholds": {
            "report_min_strength": REPORT_MIN_STRENGTH,
            "reupload_min_coverage": round(MIN_COVERAGE, 4),
            "anchor_midpoint": ANCHOR_MIDPOINT,
            "cover_report_min_strength": COVER_REPORT_MIN_STRENGTH,
            "cover_score_midpoint": COVER_MIDPOINT,
        },
        "candidates": candidates,
        "cover_candidates": covers,
    }


def get_release(store, release_id: str, policy=None) -> dict[str, Any] | None:
    """A release with the view of each of its scans (one query)."""
    with store.reader() as s:
        rows = s.execute(
            select(ReleaseRow, ReleaseFileRow, JobRow)
            .outerjoin(ReleaseFileRow, ReleaseFileRow.release_id == ReleaseRow.id)
            .outerjoin(JobRow, JobRow.id == ReleaseFileRow.job_id)
            .where(ReleaseRow.id == release_id)
            .order_by(ReleaseFileRow.position)
        ).all()
    if not rows:
        return None
    rel = rows[0][0]
    pending = {
        job.id
        for _r, ref, job in rows
        if ref is not None and ref.account_evidence is None and job.state == DONE
    }
    settled: dict[str, list] = {}
    for job_id in pending if policy is not None else ():
        settled.update(_settle_quietly(store, policy, job_id))
    for _r, ref, _job in rows:
        if ref is not None and ref.id in settled:
            ref.account_evidence = settled[ref.id]
    scans = [_view(ref, job, rel, policy) for _rel, ref, job in rows if ref is not None]
    return {
        "release_id": rel.id,
        "created_at": rel.created_at.isoformat(),
        "metadata": rel.release_metadata,
        "scans": scans,
    }


def count_releases(store) -> int:
    with store.session() as s:
        return int(s.scalar(select(func.count()).select_from(ReleaseRow)) or 0)


def _settle_quietly(store, policy, job_id: str) -> dict[str, list[dict[str, Any]]]:
    """:func:`settle_account_evidence` for a read: a failure leaves the rows empty (the
    next read or the worker tries again) and the read answers without account evidence."""
    try:
        return settle_account_evidence(store, policy, job_id)
    except Exception:  # a read must answer; the failure is logged, not raised
        log.exception("account evidence of job %s could not be settled", job_id)
        return {}


def settle_account_evidence(store, policy, job_id: str) -> dict[str, list[dict[str, Any]]]:
    """Compute and store the account evidence of every submission of a finished scan
    job that has none yet (:func:`account_evidence_of`, then
    :func:`write_account_evidence` in a transaction of its own).

    Run by a read of a submission that arrived after the worker finished the job (the
    worker writes the evidence of the submissions it knows in the transaction that marks
    the job done). Each row is written only while it is still empty, so two settlers do
    not overwrite each other (recording in the history is idempotent by release id).

    Returns
    -------
    dict
        ``{scan_id: evidence dicts}`` of the rows of this job that now have theirs
        (those written here and those found written).
    """
    with store.reader() as s:
        job = s.get(JobRow, job_id)
    result = (job.result or {}) if job is not None and job.state == DONE else {}
    found: dict[str, list[dict[str, Any]]] = {}
    fresh = account_evidence_of(store, policy, job_id, result, found=found)
    if fresh:
        with store.session() as s, s.begin():
            write_account_evidence(s, fresh)
    return {**found, **fresh}


def account_evidence_of(
    store,
    policy,
    job_id: str,
    result: dict[str, Any],
    *,
    found: dict[str, list[dict[str, Any]]] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """The account evidence of each submission of job ``job_id`` that has none stored
    yet, from the job's ``result`` (its ``decision``, ``content_hash``, ``duration_s``
    and ``audio_keys``): :func:`compliance.history.scan_release.submission_evidence`,
    which reads the submitter's history window and records the submission in the
    history. Nothing is written to the submissions' rows (:func:`write_account_evidence`).

    ``found``, when given, receives the evidence already stored on the other rows.

    Returns
    -------
    dict
        ``{scan_id: evidence dicts}``; empty for a result without a decision.
    """
    from compliance.history.scan_release import HistoryHook, submission_evidence

    if result.get("decision") is None or not hasattr(policy, "history_thresholds"):
        return {}
    with store.reader() as s:
        rows = s.execute(
            select(ReleaseFileRow.id, ReleaseFileRow.account_evidence, ReleaseRow.release_metadata)
            .join(ReleaseRow, ReleaseRow.id == ReleaseFileRow.release_id)
            .where(ReleaseFileRow.job_id == job_id)
            .order_by(ReleaseFileRow.created_at, ReleaseFileRow.id)
        ).all()
    hook = HistoryHook(store, policy.history_thresholds())
    out: dict[str, list[dict[str, Any]]] = {}
    content_hash = result.get("content_hash") or ""
    duration_s = float(result.get("duration_s") or 0.0)
    for scan_id, stored, declared in rows:
        if stored is not None:
            if found is not None:
                found[scan_id] = stored
            continue
        meta = ReleaseMetadata.from_mapping(declared or {})
        got = submission_evidence(
            hook, meta, content_hash, duration_s, audio_keys=result.get("audio_keys")
        )
        out[scan_id] = [e.to_dict() for e in got]
    return out


def write_account_evidence(session, evidence: dict[str, list[dict[str, Any]]]) -> None:
    """Store ``{scan_id: evidence dicts}`` in ``session`` (the caller's transaction), each
    row only while it has none (a concurrent settler's evidence is kept)."""
    from sqlalchemy import update

    for scan_id, items in evidence.items():
        session.execute(
            update(ReleaseFileRow)
            .where(ReleaseFileRow.id == scan_id, ReleaseFileRow.account_evidence.is_(None))
            .values(account_evidence=items)
        )
