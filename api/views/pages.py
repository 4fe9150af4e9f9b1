"""Server-rendered pages for people: the same services as the API, with a session login."""

import re
from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.text import slugify
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from rest_framework import serializers

from predictor import history
from predictor.samples import FeedbackRefused
from predictor.tabular import BOOLEAN, CATEGORY, NUMBER, cell_missing
from predictor.validation import InvalidInput

from .. import csv_cells
from ..batch_csv import MAX_ECHO_CHARS, batch_errors_named, batch_rows, batch_text, results_csv
from ..exports import csv_response
from ..jobs import job_for_pages
from ..selectors import (
    NO_SUCH_JOB,
    BadCursor,
    job_deliveries,
    job_feedback_label,
    job_get_owned,
    jobs_filtered,
    jobs_page,
    model_detail,
    model_list,
    version_get,
)
from ..serializers import PROFILE_FIELDS, ProfileSerializer, RegisterInputSerializer
from ..services import (
    feedback_give,
    prediction_cancel,
    prediction_submit,
    profile_ensure,
    profile_update,
    user_password_change,
    user_register,
)
from ..throttles import AuthRateThrottle, SubmitRateThrottle, page_throttle

PAGE_SIZE = 25


def _with_metrics(models):
    for item in models:
        item.metric = item.champion.metrics.get(item.model.primary_metric) if item.champion else None
    return models


def _errors(detail) -> dict:
    return {key: [str(message) for message in value] for key, value in detail.items()}


def index_page(request):
    return render(request, "api/index.html", {"models": _with_metrics(model_list(request.user))})


@page_throttle(AuthRateThrottle)
def register_page(request):
    fields = [
        ("username", "Username", "text"),
        ("email", "Email", "email"),
        ("password", "Password", "password"),
        ("password_confirm", "Password again", "password"),
        ("display_name", "Display name (optional)", "text"),
        ("organization", "Organization (optional)", "text"),
    ]
    values, errors = {}, {}
    if request.method == "POST":
        values = {name: request.POST.get(name, "") for name, _, _ in fields}
        serializer = RegisterInputSerializer(
            data={k: v for k, v in values.items() if v or k not in PROFILE_FIELDS}
        )
        if serializer.is_valid():
            user = user_register(**serializer.validated_data)
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("home")
        errors = _errors(serializer.errors)
    return render(request, "api/register.html", {"fields": fields, "values": values, "errors": errors})


@login_required
def profile_page(request):
    fields = [
        ("email", "Email"),
        ("first_name", "First name"),
        ("last_name", "Last name"),
        ("display_name", "Display name"),
        ("organization", "Organization"),
        ("bio", "About you"),
    ]
    profile = profile_ensure(user=request.user)
    user_names = {"email", "first_name", "last_name"}
    values = {name: getattr(request.user if name in user_names else profile, name) for name, _ in fields}
    errors = {}
    if request.method == "POST":
        values = {name: request.POST.get(name, "") for name, _ in fields}
        serializer = ProfileSerializer(profile, data=values, partial=True)
        if serializer.is_valid():
            data = dict(serializer.validated_data)
            profile_update(profile=profile, user_fields=data.pop("user", {}), profile_fields=data)
            messages.success(request, "Saved.")
            return redirect("profile")
        errors = _errors(serializer.errors)
    return render(request, "api/profile.html", {"fields": fields, "values": values, "errors": errors})


@sensitive_post_parameters()
@login_required
def password_page(request):
    form = PasswordChangeForm(request.user, request.POST if request.method == "POST" else None)
    if form.is_valid():
        user_password_change(user=request.user, password=form.cleaned_data["new_password1"])
        # The new password ends every other session and every API token; not this session.
        update_session_auth_hash(request, request.user)
        messages.success(request, "Password changed. Apps and scripts using API tokens must log in again.")
        return redirect("profile")
    return render(request, "api/password.html", {"form": form}, status=400 if form.errors else 200)


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
        "max_rows": settings.PREDICTION_MAX_BATCH_ROWS,
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


@login_required
@page_throttle(SubmitRateThrottle)
def predict_batch_page(request):
    """Many rows, from a CSV file or pasted: every line is checked before anything is queued,
    and each error names its line and column (line 1 is the header)."""
    if request.method != "POST":
        query = f"?model={request.GET['model']}" if request.GET.get("model") else ""
        return redirect(reverse("predict") + query)
    context = _predict_context(request, name=request.POST.get("model"))
    chosen = context["chosen"]
    if not (chosen and chosen.champion):
        raise Http404("No such model.")
    schema = chosen.champion.feature_schema
    text, problem = batch_text(request.FILES.get("file"), request.POST.get("rows", ""))
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
                return redirect("job", job_id=job.id)
    context.update(
        batch_errors=errors,
        batch_text=text if len(text) <= MAX_ECHO_CHARS else "",
        fields=feature_fields(schema, {}, {}),
    )
    return render(request, "api/predict.html", context, status=400)


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
RESULT_ROWS_SHOWN = 100


@login_required
def job_page(request, job_id: str, *, feedback_errors=(), status=200, live=False):
    """The job as it is now. While it is unfinished, its live part asks again every second
    (htmx, `?part=live`) and stops once it has ended; without JavaScript, the page reloads."""
    job = job_get_owned(request.user, job_id)
    version = version_get(job.model, job.version)
    # The feedback form is only on a finished one-row job: no read while it is polled.
    asks_feedback = job.status == history.SUCCEEDED and not job.is_batch
    feedback = job_feedback_label(job) if asks_feedback else None
    view = job_for_pages(job)
    context = {
        "job": view,
        "finished": job.status in history.FINISHED,
        "elapsed": _elapsed(job),
        "classes": version.classes if version else None,
        "target": (getattr(version, "diagnostics", None) or {}).get("target") if version else None,
        "results": _results(view, RESULT_ROWS_SHOWN),
        "feedback": feedback,
        "feedback_errors": feedback_errors,
    }
    live = live or request.GET.get("part") == "live"
    # Deliveries go on after the job ends, so they are in the page, not its live part.
    context["deliveries"] = job_deliveries(job) if job.webhook and not live else []
    return render(request, "api/_job_live.html" if live else "api/job.html", context, status=status)


def _elapsed(job) -> float:
    end = job.completed_at or history.now()
    return max(0.0, round((end - job.created_at).total_seconds(), 1))


def _results(view: dict, limit: int) -> list[tuple[int, dict]] | None:
    """A batch's first rows as (row number, output)."""
    if not view["inputs"] or not isinstance(view["output"], list):
        return None
    return list(enumerate(view["output"][:limit], start=1))


@login_required
def job_results_csv_page(request, job_id: str):
    """A job's rows and their results, one line each (a single row is a batch of one)."""
    job = job_get_owned(request.user, job_id)
    if job.status != history.SUCCEEDED:
        raise Http404("This prediction has no results.")
    view = job_for_pages(job)
    inputs = view["inputs"] or [view["input"]]
    outputs = view["output"] if isinstance(view["output"], list) else [view["output"]]
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="prediction-{job.id}.csv"'
    results_csv(response, inputs, outputs)
    return response


@login_required
@require_POST
def job_feedback_page(request, job_id: str):
    job = job_get_owned(request.user, job_id)
    label = request.POST.get("label", "")
    version = version_get(job.model, job.version)
    if version is not None and version.classes is None:  # a regressor's label is a number
        try:
            label = float(label)
        except ValueError:
            return job_page(request, job_id, feedback_errors=["Enter a number."], status=400)
    try:
        feedback_give(user=request.user, job=job, label=label, index=None)
    except FeedbackRefused as exc:
        problems = [message for values in exc.errors.values() for message in values]
        return job_page(request, job_id, feedback_errors=problems, status=400)
    messages.success(request, "Thank you: your answer will be used at the next retraining.")
    return redirect("job", job_id=job_id)


@login_required
@require_POST
def job_cancel_page(request, job_id: str):
    if prediction_cancel(user=request.user, job_id=job_id) is None:
        raise Http404(NO_SUCH_JOB)
    if request.headers.get("HX-Request"):
        # From the live part of the job page (htmx): answer with that part, now ended.
        return job_page(request, job_id, live=True)
    return redirect("job", job_id=job_id)


# The History page's time filter, `?since=`: the jobs of the last hour, day or week (the
# dashboard's counts link to the day's).
HISTORY_SINCE = {
    "1h": ("the last hour", timedelta(hours=1)),
    "24h": ("the last 24 hours", timedelta(hours=24)),
    "7d": ("the last 7 days", timedelta(days=7)),
}


class _HistoryFilters(serializers.Serializer):
    model = serializers.CharField(required=False, allow_blank=True, max_length=64)
    status = serializers.ChoiceField(choices=["", *history.STATUSES], required=False)
    since = serializers.ChoiceField(choices=["", *HISTORY_SINCE], required=False)


def _history_query(request):
    """(the filters chosen, the user's jobs matching them). A filter edited by hand into
    something unknown is left out: the page shows more, never an error."""
    filters = _HistoryFilters(data=request.GET)
    chosen = {k: v for k, v in filters.validated_data.items() if v} if filters.is_valid() else {}
    query = {name: value for name, value in chosen.items() if name != "since"}
    if "since" in chosen:
        query["created_after"] = history.now() - HISTORY_SINCE[chosen["since"]][1]
    return chosen, jobs_filtered(request.user, **query)


@login_required
def history_page(request):
    filters, query = _history_query(request)
    try:
        jobs, next_cursor = jobs_page(query, limit=PAGE_SIZE, cursor=request.GET.get("cursor"))
    except BadCursor:  # a page link edited by hand: the first page
        jobs, next_cursor = jobs_page(query, limit=PAGE_SIZE)
    params = request.GET.copy()
    params.pop("cursor", None)
    context = {
        "jobs": [job_for_pages(job) for job in jobs],
        "next_cursor": next_cursor,
        "filters": filters,
        "query": params.urlencode(),
        "model_names": [item.model.name for item in model_list(request.user)],
        "statuses": history.STATUSES,
        "since_choices": [(value, label) for value, (label, _) in HISTORY_SINCE.items()],
    }
    return render(request, "api/history.html", context)


@login_required
def history_csv_page(request):
    return csv_response(_history_query(request)[1])
