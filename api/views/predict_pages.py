"""The predict page: one row in a form typed by the model's schema (numbers, categories,
booleans, empty where a value may be missing), or many rows: a CSV file of any size, scored
as a batch file (api/views/batch_pages.py), or rows pasted, scored as one prediction; and
the batch template."""

import re

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.text import slugify
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from predictor import csv_cells
from predictor.batch_files import files_delete
from predictor.definitions import UnknownModel
from predictor.errors import FieldErrors
from predictor.history import HistoryUnavailable
from predictor.predictions import UnknownVersion
from predictor.tabular import BOOLEAN, CATEGORY, NUMBER, cell_missing
from predictor.validation import InvalidInput

from ..batch_csv import MAX_ECHO_CHARS, batch_errors_named, batch_rows, batch_text
from ..selectors import (
    model_detail,
    model_list,
)
from ..serializers.batches import KEY_COLUMN_MAX
from ..services import (
    QueueUnavailable,
    batch_submit,
    prediction_submit,
)
from ..throttles import SubmitRateThrottle, page_throttle
from ..uploads import BatchUploadHandler

QUEUE_DOWN = "The task queue is unavailable, so nothing was queued; try again shortly."
MONGO_DOWN = "MongoDB is unavailable, so the file could not be stored; nothing was kept. Try again shortly."


def _predict_context(request, *, name: str | None = None) -> dict:
    models = [item for item in model_list(request.user) if item.champion]
    name = name or request.GET.get("model") or (models[0].model.name if models else None)
    chosen = model_detail(request.user, name) if name else None
    if chosen is None and models:
        raise Http404("No such model.")
    return {
        "models": models,
        "chosen": chosen,
        "values": {},
        "errors": {},
        "batch_errors": [],
        "batch_text": "",
        "file_refused": False,
        "key_column": "",
        "max_rows": settings.PREDICTION_MAX_BATCH_ROWS,
        "batch_max_bytes": settings.BATCH_FILE_MAX_BYTES,
    }


@login_required
@page_throttle(SubmitRateThrottle)
def predict_page(request):
    """One row from the form: the job is queued and the browser lands on its page at once."""
    context = _predict_context(request, name=request.POST.get("model"))
    chosen = context["chosen"]
    if request.method == "POST" and chosen and chosen.champion:
        schema = chosen.champion.feature_schema
        values = {f["name"]: request.POST.get(f["name"], "").strip() for f in schema}
        row, errors = parse_row(schema, values)
        if not errors:
            try:
                job, _ = prediction_submit(user=request.user, model_name=chosen.model.name, input=row)
            except InvalidInput as exc:
                errors = exc.errors
            else:
                return redirect("job", job_id=job.id)
        context.update(values=values, errors=errors)
    if chosen and chosen.champion:
        context["fields"] = feature_fields(
            chosen.champion.feature_schema, context["values"], context["errors"]
        )
    return render(request, "api/predict.html", context, status=400 if context["errors"] else 200)


class _FormBatchUpload(BatchUploadHandler):
    """The form's `file`, streamed into GridFS as the body arrives (api/uploads.py).
    `handed` once batch_submit has it: from then on a refused file is batch_submit's to
    remove; before, one stored and never handed over (a failed CSRF check, a model gone) is
    removed by predict_batch_page."""

    handed = False


@csrf_exempt  # checked by _predict_batch, once the upload handler is in place (see below)
@login_required
@page_throttle(SubmitRateThrottle)
def predict_batch_page(request):
    """Many rows. A CSV file, of any size up to BATCH_FILE_MAX_BYTES, is a batch file: it
    streams into GridFS as it arrives (never into memory or a temporary file), is checked on
    the way and against the model's features, and is then scored in chunks; the browser lands
    on its page. Rows pasted (at most PREDICTION_MAX_BATCH_ROWS) are one prediction job:
    every line is checked before anything is queued, and each error names its line and
    column (line 1 is the header).

    The upload handler must be in place before anything reads the body, and Django's CSRF
    middleware reads the form (its token) before a view runs: hence Django's pattern for
    changing upload handlers in a view, csrf_exempt here and csrf_protect on _predict_batch.
    The throttle is counted before the body is read: a throttled request stores nothing."""
    if request.method != "POST":
        query = f"?model={request.GET['model']}" if request.GET.get("model") else ""
        return redirect(reverse("predict") + query)
    upload = _FormBatchUpload(request)
    request.upload_handlers = [upload]
    try:
        return _predict_batch(request, upload)
    finally:
        if upload.stored is not None and not upload.handed:
            try:
                files_delete(upload=upload.stored.upload_id)
            except HistoryUnavailable:
                pass  # still marked as under way: the sweeper removes it (BATCH_UPLOAD_ABANDONED_S)


@csrf_protect
def _predict_batch(request, upload: _FormBatchUpload):
    context = _predict_context(request, name=request.POST.get("model"))
    chosen = context["chosen"]
    if not (chosen and chosen.champion):
        raise Http404("No such model.")
    schema = chosen.champion.feature_schema
    context["fields"] = feature_fields(schema, {}, {})
    if upload.stored is not None or upload.refused is not None:
        return _batch_file(request, context, upload)
    text, problem = batch_text(None, request.POST.get("rows", ""))
    if problem:
        errors = [problem]
    else:
        rows, lines, errors = batch_rows(text, schema, max_rows=settings.PREDICTION_MAX_BATCH_ROWS)
        if not errors:
            try:
                job, _ = prediction_submit(user=request.user, model_name=chosen.model.name, inputs=rows)
            except InvalidInput as exc:
                errors = batch_errors_named(exc.errors, lines)
            else:
                return _go(request, reverse("job", args=[job.id]))
    context.update(batch_errors=errors, batch_text=text if len(text) <= MAX_ECHO_CHARS else "")
    return render(request, "api/predict.html", context, status=400)


def _batch_file(request, context: dict, upload: _FormBatchUpload):
    """The file, stored already (or refused on the way), submitted as a batch; or the
    predict page again saying why not (nothing is kept)."""
    key_column = request.POST.get("key_column", "").strip()
    status = 400
    if upload.refused is not None:
        errors, status = _refusal(upload.refused)
    elif len(key_column) > KEY_COLUMN_MAX:
        errors = [f"The key column's name may be at most {KEY_COLUMN_MAX} characters."]
    else:
        upload.handed = True  # batch_submit removes a file it refuses
        try:
            batch, _ = batch_submit(
                user=request.user,
                model_name=context["chosen"].model.name,
                stored=upload.stored,
                key_column=key_column or None,
            )
        except (FieldErrors, UnknownModel, UnknownVersion, QueueUnavailable, HistoryUnavailable) as exc:
            errors, status = _refusal(exc)
        else:
            return _go(request, reverse("batch", args=[batch.id]))
    context.update(batch_errors=errors, file_refused=True, key_column=key_column)
    return render(request, "api/predict.html", context, status=status)


def _refusal(exc: Exception) -> tuple[list[str], int]:
    """What the page says of a file refused, and its status."""
    if isinstance(exc, FieldErrors):  # not UTF-8, no header, a feature missing, too large...
        return [message for messages in exc.errors.values() for message in messages], 400
    if isinstance(exc, QueueUnavailable):
        return [QUEUE_DOWN], 503
    if isinstance(exc, HistoryUnavailable):
        return [MONGO_DOWN], 503
    return ["This model serves no predictions now; choose another."], 400  # UnknownModel, UnknownVersion


def _go(request, where: str):
    """To the new job's or batch's page: a redirect; a JSON `location` for the upload script
    (api/static/api/upload.js), which would otherwise follow the redirect itself."""
    if request.headers.get("X-Requested-With") == "XMLHttpRequest":
        return JsonResponse({"location": where}, status=201)
    return redirect(where)


def predict_template_csv_page(request):
    """A CSV to start a batch from: the model's header and one row of typical values (a
    number's mid-range, a category's first, true for a boolean)."""
    chosen = model_detail(request.user, request.GET.get("model", ""))
    if chosen is None or chosen.champion is None:
        raise Http404("No such model.")
    schema = chosen.champion.feature_schema
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{chosen.model.name}-batch.csv"'
    writer = csv_cells.writer(response)
    writer.writerow([f["name"] for f in schema])
    writer.writerow([_typical(f) for f in schema])
    return response


def _typical(feature: dict) -> str:
    kind = feature.get("type", NUMBER)
    if kind == BOOLEAN:
        return "true"
    if kind == CATEGORY:
        return (feature.get("categories") or [""])[0]
    if feature.get("min") is None or feature.get("max") is None:
        return ""
    return f"{(feature['min'] + feature['max']) / 2:.6g}"


# A category feature with at most this many known values is a <select>; one with more (or
# none known) is a text input offering them in a <datalist>.
SELECT_MAX_CATEGORIES = 60
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_-]+\Z")


def _field_id(index: int, name: str) -> str:
    """`id_<name>` for a plain name; else one from its position (ids hold no spaces), with a
    dot no plain name has, so that the two kinds never meet."""
    return f"id_{name}" if _PLAIN_NAME.match(name) else f"id_{index}.{slugify(name) or 'feature'}"


def feature_fields(schema: list[dict], values: dict, errors: dict) -> list[dict]:
    """The single-row form's fields, one per feature in schema order: its input's kind
    (number, select or datalist), the choices, the hint under it, the value sent and its errors."""
    fields = []
    for index, feature in enumerate(schema):
        name = feature["name"]
        kind = feature.get("type", NUMBER)
        nullable = bool(feature.get("nullable"))
        value = values.get(name, "")
        categories = list(feature.get("categories") or [])
        if kind == BOOLEAN:
            widget, choices, hint = "select", ["true", "false"], "true or false"
        elif kind == CATEGORY:
            many = not categories or len(categories) > SELECT_MAX_CATEGORIES
            widget, choices = ("datalist" if many else "select"), categories
            if value and value not in choices and widget == "select":
                choices = [*choices, value]  # as sent, so it is shown again with its error
            hint = f"{len(categories)} categories in training"
            if many:
                hint += "; another value is predicted with a warning"
        else:
            widget, choices = "number", []
            low, high = feature.get("min"), feature.get("max")
            hint = (
                f"{low:.4g} to {high:.4g} in training" if low is not None and high is not None else "a number"
            )
        if nullable:
            hint += "; may be left empty"
        fields.append(
            {
                "name": name,
                "id": _field_id(index, name),
                "type": kind,
                "widget": widget,
                "nullable": nullable,
                "choices": choices,
                "hint": hint,
                "value": value,
                "errors": errors.get(f"input.{name}") or [],
            }
        )
    return fields


def parse_row(schema: list[dict], values: dict) -> tuple[dict, dict]:
    """The form's text as the API takes it, by each feature's type: a number as a float, a
    boolean's true/false as a bool, a category as its text, and an empty (or NA, null...)
    field as None; or the errors, keyed `input.<name>` as the API keys them."""
    row, errors = {}, {}
    for feature in schema:
        name, raw = feature["name"], values.get(feature["name"], "")
        kind = feature.get("type", NUMBER)
        if cell_missing(raw):
            if feature.get("nullable"):
                row[name] = None
            else:
                errors[f"input.{name}"] = ["This feature is required."]
        elif kind == BOOLEAN:
            if raw.lower() in ("true", "false"):
                row[name] = raw.lower() == "true"
            else:
                errors[f"input.{name}"] = ["Choose true or false."]
        elif kind == CATEGORY:
            row[name] = raw
        else:
            try:
                row[name] = float(raw)
            except ValueError:
                errors[f"input.{name}"] = ["Enter a number."]
    return row, errors


# A batch's page shows this many rows; all of them are in its CSV.
