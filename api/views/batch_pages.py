"""A batch file's page: its progress (rows done, failed and total, a rate and the time left),
its predicted labels, its error; live while it runs, as the job page is: the live part
(`?part=live`, templates/api/_batch_live.html) asks for itself again every second (htmx)
and stops once the batch has ended; without JavaScript the page reloads. Its results, the
same CSV as the API's, streamed once it has ended; and its cancel.

The batch is its owner's only: another's, or none, is a 404 (staff included, as on the API).
"""

from django.contrib.auth.decorators import login_required
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from predictor import history

from ..selectors import batch_get_owned, batch_progress, batch_results_lines, version_get
from ..services import batch_cancel


def batch_for_pages(batch: history.BatchJob, summary: dict) -> dict:
    """The batch as the pages show it: its fields, its counts (batch_summary) and the
    widths of its progress bar's two parts (percent of the rows, for CSS)."""
    rows = summary["rows"]
    total = rows["total"]
    ended = rows["done"] + rows["failed"]
    rate = summary["rows_per_second"]

    def share(count: int) -> str:
        return f"{count / total * 100 if total else 0:.2f}"

    return {
        "id": batch.id,
        "model": batch.model,
        "version": batch.version,
        "status": batch.status,
        "finished": batch.status in history.FINISHED,
        "error": batch.error,
        "filename": batch.filename or "(no name)",
        "size_bytes": batch.size_bytes,
        "key_column": batch.key_column,
        "created_at": batch.created_at,
        "started_at": batch.started_at,
        "completed_at": batch.completed_at,
        "rows": rows,
        "rows_ended": ended,
        "percent": int(ended * 100 / total) if total else 0,
        "done_width": share(rows["done"]),
        "failed_width": share(rows["failed"]),
        "chunks": summary["chunks"],
        "labels": summary["labels"],
        "rate": None if rate is None else (f"{rate:,.0f}" if rate >= 100 else f"{rate:g}"),
        "seconds_left": summary["seconds_left"],
    }


def label_bars(labels: dict | None, classes: list | None, done: int) -> list[dict]:
    """A classifier's predicted labels: every class of its version (none predicted: 0), the
    most predicted first, each as a bar as wide as its share of the rows predicted."""
    counts = dict.fromkeys(classes or [], 0) | (labels or {})
    ordered = sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))
    return [
        {"name": name, "count": count, "width": f"{count / done * 100 if done else 0:.2f}"}
        for name, count in ordered
    ]


def _elapsed(batch: history.BatchJob) -> float:
    end = batch.completed_at or history.now()
    return max(0.0, round((end - batch.created_at).total_seconds(), 1))


@login_required
def batch_page(request, batch_id, *, live: bool = False):
    """The batch as it is now; `?part=live`, its live part alone (for htmx)."""
    batch = batch_get_owned(request.user, str(batch_id))
    view = batch_for_pages(batch, batch_progress(batch))
    version = version_get(batch.model, batch.version)
    classes = version.classes if version is not None else None  # None: a regressor
    context = {
        "batch": view,
        "elapsed": _elapsed(batch),
        "labels": label_bars(view["labels"], classes, view["rows"]["done"]),
    }
    live = live or request.GET.get("part") == "live"
    return render(request, "api/_batch_live.html" if live else "api/batch.html", context)


def results_filename(batch: history.BatchJob) -> str:
    """`<the uploaded file's name, without its extension>-results.csv`, as the API names it,
    in characters safe in a header."""
    name = (batch.filename or "batch").rsplit(".", 1)[0] or "batch"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:100] or "batch"
    return f"{safe}-results.csv"


@login_required
def batch_results_csv_page(request, batch_id):
    """The results, streamed (the same CSV as GET /api/v1/batches/{id}/results/): one line
    per row of the file, in its order. A 409 page while the batch still runs."""
    batch = batch_get_owned(request.user, str(batch_id))
    if batch.status not in history.FINISHED:
        return render(request, "api/batch_results_wait.html", {"batch": batch}, status=409)
    response = StreamingHttpResponse(batch_results_lines(batch), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{results_filename(batch)}"'
    return response


@login_required
@require_POST
def batch_cancel_page(request, batch_id):
    """Cancel a queued or running batch: its chunks not started do not run (one running
    finishes). A finished one is left as it is."""
    if batch_cancel(user=request.user, batch_id=str(batch_id)) is None:
        raise Http404("No batch job with this id.")
    if request.headers.get("HX-Request"):
        # From the live part of the batch page (htmx): answer with that part, now ended.
        return batch_page(request, batch_id, live=True)
    return redirect("batch", batch_id=batch_id)
