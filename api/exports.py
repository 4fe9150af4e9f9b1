"""A user's prediction history as CSV, streamed: the API's `?format=csv` and the History
page's download give the same file."""

import json

from django.http import StreamingHttpResponse

from . import csv_cells
from .jobs import job_public
from .selectors import jobs_all

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
