"""Scoring a whole file: what a batch job is checked against when it is submitted, and how
one chunk of it runs on a worker.

The life of a batch (the submit: api/services.py, batch_submit; the tasks: workers/tasks.py):

1. The upload streams into GridFS, scanned on the way (predictor/batch_files.py): a file that
   is no UTF-8 CSV, or has a record with more cells than its header, is refused whole.
2. Its header is checked against the version that will score it (batch_header_check):
   every feature present, no unknown key column. Then the batch and its chunks are written
   (history/batches.py) and a task is published per chunk, in file order.
3. Each chunk's task runs batch_chunk_run: claim, read its bytes, score (predictor/
   batch_score.py), store its result lines, end the chunk; the last chunk to end ends the
   batch. A row that cannot be predicted is an error line, not a failed batch; a first chunk
   with more than BATCH_MAX_ERROR_RATE of them fails the batch early, saying why.
"""

import csv
import io
import logging
from collections.abc import Iterator
from datetime import datetime

from django.conf import settings

from myproject import metrics

from . import batch_files, history
from .artifacts import ArtifactError
from .batch_score import pipeline_classes, result_columns, score_chunk, warnings_possible
from .csv_cells import writer
from .errors import FieldErrors
from .inference import pipeline_get
from .tabular.reading import _blank

logger = logging.getLogger(__name__)

# A chunk that ends in one of these ways: what batch_chunk_run returns (for the task's log).
RAN, NOT_CLAIMED, GAVE_UP, BATCH_OVER = "ran", "not claimed", "gave up", "batch over"


class BatchRefused(FieldErrors):
    """A batch that cannot be scored as asked: a 400 naming the field."""


def batch_header_check(header: list[str], schema: list[dict], key_column: str | None) -> None:
    """BatchRefused unless the file's header has every feature of the schema and the key column."""
    present = set(header)
    missing = [feature["name"] for feature in schema if feature["name"] not in present]
    errors: dict[str, list[str]] = {}
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        errors["file"] = [
            f"The header (line 1) lacks {len(missing)} of the model's features: {shown}. "
            "Columns that are not features are allowed and left out."
        ]
    if key_column is not None and key_column not in present:
        errors["key_column"] = [f"The file has no column {key_column!r}."]
    if errors:
        raise BatchRefused(errors)


def batch_fields(version) -> dict:
    """The batch's fields naming the version that scores it, as a prediction job's do."""
    schema = version.feature_schema
    spellings = {f["name"]: f["spellings"] for f in schema if f.get("spellings")}
    return {
        "model": version.model.name,
        "version": version.number,
        "artifact_sha256": version.artifact_sha256,
        "sklearn_version": version.sklearn_version,
        "artifact_signature": version.artifact_signature,
        "schema": schema,
        "spellings": spellings or None,
    }


def batch_chunk_run(chunk_id: str, *, worker: str | None, stale_before: datetime, on_end) -> str:
    """Run one chunk, if it is still to be run and its batch still wants it. `on_end(batch)`
    is called once for a batch this run ended (its webhook, its metrics)."""
    batch_id = chunk_id.rsplit(".", 1)[0]
    batch = history.batch_get(batch_id)
    if batch is None or batch.status in history.FINISHED:
        return BATCH_OVER
    chunk = history.chunk_claim(chunk_id, stale_before=stale_before, worker=worker)
    if chunk is None:
        return NOT_CLAIMED
    if chunk.attempts > settings.BATCH_CHUNK_MAX_ATTEMPTS:
        # Every earlier try of it died with its worker: a chunk that kills workers is given up.
        if history.chunk_give_up(chunk.id, attempts=chunk.attempts - 1):
            metrics.batch_rows(batch.model, not_scored=chunk.rows)
        logger.error("batch %s: chunk %d given up after %d tries", batch.id, chunk.index, chunk.attempts - 1)
        _end_if_done(batch.id, on_end)
        return GAVE_UP
    if batch.status == history.QUEUED:  # read above: after the first chunks, no write
        history.batch_started(batch.id)
    try:
        pipeline = pipeline_get(
            batch.artifact_sha256, sklearn_version=batch.sklearn_version, signature=batch.artifact_signature
        )
    except ArtifactError as exc:
        logger.error("batch %s: %s", batch.id, exc)
        if history.chunk_finish(chunk, status=history.FAILED, error=str(exc)):
            metrics.batch_rows(batch.model, not_scored=chunk.rows)
        _stop(batch.id, str(exc), on_end)
        return RAN
    columns = result_columns(
        key_column=batch.key_column,
        classes=pipeline_classes(pipeline),
        warnings=warnings_possible(batch.schema),
    )
    if batch.result_columns is None:
        history.batch_columns_set(batch.id, columns)
    text = batch_files.chunk_text(chunk.file_id)
    scored = score_chunk(
        text,
        header=batch.header,
        delimiter=batch.delimiter,
        first_line=chunk.first_line,
        schema=batch.schema,
        pipeline=pipeline,
        spellings=batch.spellings,
        key_column=batch.key_column,
    )
    file_id = batch_files.results_write(chunk.id, scored.csv)
    ended = history.chunk_finish(
        chunk,
        status=history.SUCCEEDED,
        result_file_id=file_id,
        done=scored.rows - scored.failed,
        failed=scored.failed,
        labels=scored.labels,
    )
    if not ended:
        # Another run of it ended it first (it was taken over): its results stand, not these.
        batch_files.files_delete(results=[file_id])
        return NOT_CLAIMED
    metrics.batch_rows(batch.model, predicted=scored.rows - scored.failed, errors=scored.failed)
    logger.info(
        "batch %s: chunk %d scored, %d rows, %d errors",
        batch.id,
        chunk.index,
        scored.rows,
        scored.failed,
        extra={"batch_id": batch.id, "chunk": chunk.index, "rows": scored.rows, "failed": scored.failed},
    )
    if chunk.index == 0 and scored.rows and scored.failed / scored.rows > settings.BATCH_MAX_ERROR_RATE:
        share = round(100 * scored.failed / scored.rows)
        _stop(
            batch.id,
            f"{scored.failed:,} of the first {scored.rows:,} rows ({share}%) could not be predicted, over "
            f"BATCH_MAX_ERROR_RATE ({settings.BATCH_MAX_ERROR_RATE:.0%}); the results name each row's error",
            on_end,
        )
        return RAN
    _end_if_done(batch.id, on_end)
    return RAN


def _stop(batch_id: str, error: str, on_end) -> None:
    batch, ended_here = history.batch_stop(batch_id, status=history.FAILED, error=error)
    if ended_here:
        on_end(batch)


def _end_if_done(batch_id: str, on_end) -> None:
    ended = history.batch_end_if_done(batch_id)
    if ended is not None:
        on_end(ended)


def batch_results(batch) -> Iterator[bytes]:
    """The results file: its header, then each chunk's lines in file order. A chunk that
    failed or was canceled gives each of its records an error line, so every row of the
    file has its line."""
    columns = batch.result_columns or result_columns(
        key_column=batch.key_column, classes=None, warnings=False
    )
    yield _csv_line(columns)
    for chunk in history.batch_chunks(batch.id):
        if chunk.status == history.SUCCEEDED and chunk.result_file_id is not None:
            yield from batch_files.results_read(chunk.result_file_id)
        else:
            reason = chunk.error or ("canceled" if chunk.status == history.CANCELED else "not scored")
            yield from _error_lines(batch, chunk, columns, f"not scored: {reason}")


def _error_lines(batch, chunk, columns: list[str], error: str):
    text = batch_files.chunk_text(chunk.file_id)
    key = batch.header.index(batch.key_column) if batch.key_column else None
    out = io.StringIO()
    lines = writer(out)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=batch.delimiter)
    line = chunk.first_line
    for record in reader:
        start, line = line, chunk.first_line + reader.line_num
        if _blank(record):
            continue
        cells = [""] * len(columns)
        cells[0] = record[key] if key is not None and key < len(record) else start
        cells[-1] = error
        lines.writerow(cells)
        if out.tell() > batch_files.READ_BYTES:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode()


def _csv_line(cells: list) -> bytes:
    out = io.StringIO()
    writer(out).writerow(cells)
    return out.getvalue().encode()


def batch_summary(batch, chunks: list) -> dict:
    """Counts per outcome and, for a classifier, per predicted label; progress, a rate and an
    estimate of the time left."""
    counts = history.batch_counts(chunks)
    total = batch.rows_total
    finished_rows = counts["done"] + counts["failed"]
    rate = eta = None
    if batch.started_at is not None and finished_rows:
        until = batch.completed_at or history.now()
        seconds = max((until - batch.started_at).total_seconds(), 1e-3)
        rate = round(finished_rows / seconds, 1)
        if batch.status not in history.FINISHED and rate:
            eta = round(counts["pending"] / rate, 1)
    return {
        "rows": {
            "total": total,
            "done": counts["done"],
            "failed": counts["failed"],
            "pending": counts["pending"],
            "canceled": max(total - finished_rows - counts["pending"], 0),
        },
        "chunks": {
            "total": batch.chunks_total,
            "done": sum(1 for c in chunks if c.status in history.FINISHED),
        },
        "labels": counts["labels"] or None,
        "rows_per_second": rate,
        "seconds_left": eta,
    }
