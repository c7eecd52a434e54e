"""``compliance history import``: a past release log (JSON lines or CSV) into the store.

Rows are validated one by one (:func:`compliance.history.records.parse_release`); a row
with a problem is reported with its line and not stored, the rest are stored in
batches, each batch in one transaction. Release ids already in the history are skipped,
so importing the same log twice adds nothing.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compliance.errors import ComplianceError
from compliance.history.records import HistoryRelease, RowProblem, parse_release

MAX_LINE_BYTES = 64 * 1024
"""A longer line is refused as a row (and reading goes on)."""
BATCH = 2000


@dataclass
class ImportReport:
    """What an import did."""

    added: int = 0
    skipped_existing: int = 0
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len({p.line for p in self.problems})


def _rows_jsonl(f: io.BufferedReader) -> Iterator[tuple[int, Any]]:
    for n, raw in enumerate(f, start=1):
        if len(raw) > MAX_LINE_BYTES:
            yield n, RowProblem(n, "line_too_long", None, f"line has {len(raw)} bytes")
            continue
        text = raw.decode("utf-8", errors="replace").strip()
        if not text:
            continue
        try:
            yield n, json.loads(text)
        except json.JSONDecodeError as exc:
            yield n, RowProblem(n, "bad_json", None, f"not valid JSON ({exc.msg})")


def _rows_csv(f: io.BufferedReader) -> Iterator[tuple[int, Any]]:
    text = io.TextIOWrapper(f, encoding="utf-8", errors="replace", newline="")
    csv.field_size_limit(MAX_LINE_BYTES)
    reader = csv.DictReader(text)
    try:
        for row in reader:
            n = reader.line_num
            if None in row:
                yield n, RowProblem(n, "bad_csv", None, "more fields than the header")
                continue
            yield n, row
    except csv.Error as exc:
        yield reader.line_num, RowProblem(reader.line_num, "bad_csv", None, str(exc))


def read_log(path: str | os.PathLike) -> Iterator[tuple[int, HistoryRelease | list[RowProblem]]]:
    """Parsed rows of a log, with their line numbers. The format is CSV when the name
    ends in ``.csv``, else JSON lines."""
    p = Path(path)
    try:
        f = p.open("rb")
    except OSError as exc:
        raise ComplianceError(f"cannot read {p}: {exc.strerror}", code="file_unreadable") from exc
    with f:
        rows = _rows_csv(f) if p.suffix.lower() == ".csv" else _rows_jsonl(f)
        for n, row in rows:
            if isinstance(row, RowProblem):
                yield n, [row]
            else:
                yield n, parse_release(row, line=n)


def import_log(store, path: str | os.PathLike, *, source: str = "import") -> ImportReport:
    """Validate and store every row of ``path``; see the module docstring."""
    from compliance.history.store import insert_releases

    report = ImportReport()
    batch: list[HistoryRelease] = []
    seen: set[str] = set()

    def flush() -> None:
        added = insert_releases(store, batch, source=source)
        report.added += added
        report.skipped_existing += len(batch) - added
        batch.clear()

    for n, got in read_log(path):
        if isinstance(got, list):
            report.problems.extend(got)
            continue
        if got.release_id in seen:
            report.problems.append(
                RowProblem(n, "duplicate_release_id", "release_id",
                           f"release_id {got.release_id} appears earlier in the file")
            )  # fmt: skip
            continue
        seen.add(got.release_id)
        batch.append(got)
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    return report
