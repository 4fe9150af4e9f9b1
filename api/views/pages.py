"""Server-rendered pages for people: the same services as the API, with a session login."""

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth import login, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from rest_framework import serializers

from predictor import history
from predictor.samples import FeedbackRefused

from ..batch_csv import results_csv
from ..exports import csv_response
from ..jobs import job_for_pages
from ..selectors import (
    NO_SUCH_JOB,
    BadCursor,
    batches_progress,
    batches_recent,
    job_deliveries,
    job_feedback_label,
    job_get_owned,
    jobs_filtered,
    jobs_page,
    model_list,
    version_get,
)
from ..serializers import PROFILE_FIELDS, ProfileSerializer, RegisterInputSerializer
from ..services import (
    feedback_give,
    prediction_cancel,
    profile_ensure,
    profile_update,
    user_password_change,
    user_register,
)
from ..throttles import AuthRateThrottle, page_throttle
from .batch_pages import batch_for_pages

PAGE_SIZE = 25
# The history page's batch files: the newest, on its first page.
HISTORY_BATCHES = 20


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
    cursor = request.GET.get("cursor") or None
    try:
        jobs, next_cursor = jobs_page(query, limit=PAGE_SIZE, cursor=cursor)
    except BadCursor:  # a page link edited by hand: the first page
        cursor = None
        jobs, next_cursor = jobs_page(query, limit=PAGE_SIZE)
    params = request.GET.copy()
    params.pop("cursor", None)
    first_page = cursor is None
    context = {
        "jobs": [job_for_pages(job) for job in jobs],
        # Batch files are few and long: the latest, on the first page (the filters are the jobs').
        "batches": batches_for_pages(request.user, limit=HISTORY_BATCHES) if first_page else None,
        "batches_limit": HISTORY_BATCHES,
        "next_cursor": next_cursor,
        "filters": filters,
        "query": params.urlencode(),
        "model_names": [item.model.name for item in model_list(request.user)],
        "statuses": history.STATUSES,
        "since_choices": [(value, label) for value, (label, _) in HISTORY_SINCE.items()],
    }
    return render(request, "api/history.html", context)


def batches_for_pages(user, *, limit: int) -> list[dict]:
    """The user's latest batch files with their progress, the newest first (staff: their own,
    as their jobs)."""
    batches = batches_recent(user, limit=limit)
    return [
        batch_for_pages(batch, summary)
        for batch, summary in zip(batches, batches_progress(batches), strict=True)
    ]


@login_required
def history_csv_page(request):
    return csv_response(_history_query(request)[1])
