"""CSV downloads, streamed: a user's prediction history (the API's `?format=csv` and the
History page's download give the same file) and a dataset version."""

import json

from django.http import StreamingHttpResponse

from predictor import csv_cells

from .jobs import job_public
from .selectors import dataset_records, jobs_all

# The export reads in pages of this many jobs, so memory stays flat however long it is.
EXPORT_CHUNK = 500
CSV_COLUMNS = [
    "id",
    "model",
    "version",
    "status",
    "created_at",
    "started_at",
    "completed_at",
    "queue_s",
    "predict_s",
    "total_s",
    "input",
    "output",
    "error",
]


class _Echo:
    def write(self, value):
        return value


def _csv_rows(query):
    writer = csv_cells.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for job in jobs_all(query, chunk=EXPORT_CHUNK):
        data = job_public(job)
        metrics = data["metrics"]
        yield writer.writerow(
            [
                data["id"],
                data["model"],
                data["version"],
                data["status"],
                data["created_at"],
                data["started_at"],
                data["completed_at"],
                metrics["queue_s"],
                metrics["predict_s"],
                metrics["total_s"],
                json.dumps(data["inputs"] if job.is_batch else data["input"]),
                json.dumps(data["output"]),
                data["error"] or "",
            ]
        )


def csv_response(query) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_csv_rows(query), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="predictions.csv"'
    return response


def _dataset_lines(version):
    writer = csv_cells.writer(_Echo())
    for record in dataset_records(version):
        yield writer.writerow(record)


def dataset_csv_response(version) -> StreamingHttpResponse:
    """A dataset version as CSV, every cell written so a spreadsheet cannot take it for a
    formula (predictor/csv_cells.py): the stored bytes are the user's, this download is ours."""
    response = StreamingHttpResponse(_dataset_lines(version), content_type="text/csv; charset=utf-8")
    name = f"{version.dataset.name}-v{version.number}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
