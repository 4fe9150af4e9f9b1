"""Server-rendered pages for people: the same services as the API, with a session login."""

from django.contrib import messages
from django.contrib.auth import login, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from rest_framework import serializers

from predictor import history, registry
from predictor.samples import FeedbackRefused, feedback_record
from predictor.validation import InvalidInput

from ..selectors import BadCursor, cursor_decode, cursor_encode, model_detail, model_list
from ..serializers import PROFILE_FIELDS, ProfileSerializer, RegisterInputSerializer, register_kwargs
from ..services import (
    prediction_cancel,
    prediction_submit,
    profile_ensure,
    profile_update,
    user_password_change,
    user_register,
)
from ..throttles import AuthRateThrottle, SubmitRateThrottle, page_throttle
from ..waiting import Waiting
from .history import csv_response

# A person waits on the page for a one-row result; past this, the job page refreshes itself.
PAGE_WAIT_S = 10
PAGE_SIZE = 25


def _with_metrics(models):
    for item in models:
        item.metric = item.champion.metrics.get(item.model.primary_metric) if item.champion else None
    return models


def _job_view(job) -> dict:
    """The job as the API shows it, with real datetimes for the templates."""
    return {**history.job_public(job), "created_at": job.created_at}


def _errors(detail) -> dict:
    return {key: [str(message) for message in value] for key, value in detail.items()}


def index_page(request):
    return render(request, "api/index.html", {"models": _with_metrics(model_list())})


@page_throttle(AuthRateThrottle)
def register_page(request):
    fields = [("username", "Username", "text"), ("email", "Email", "email"),
              ("password", "Password", "password"), ("password_confirm", "Password again", "password"),
              ("display_name", "Display name (optional)", "text"),
              ("organization", "Organization (optional)", "text")]  # fmt: skip
    values, errors = {}, {}
    if request.method == "POST":
        values = {name: request.POST.get(name, "") for name, _, _ in fields}
        serializer = RegisterInputSerializer(
            data={k: v for k, v in values.items() if v or k not in PROFILE_FIELDS}
        )
        if serializer.is_valid():
            data = serializer.validated_data
            user = user_register(**register_kwargs(data))
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("home")
        errors = _errors(serializer.errors)
    return render(request, "api/register.html", {"fields": fields, "values": values, "errors": errors})


@login_required
def home_page(request):
    jobs = history.jobs_page(history.jobs_query(owner_id=request.user.pk), limit=5)
    return render(
        request,
        "api/home.html",
        {"profile": profile_ensure(user=request.user), "jobs": [_job_view(job) for job in jobs]},
    )


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


@login_required
@page_throttle(SubmitRateThrottle)
def predict_page(request):
    models = [item for item in model_list() if item.champion]
    name = request.POST.get("model") or request.GET.get("model") or (models[0].model.name if models else None)
    chosen = model_detail(name) if name else None
    if chosen is None and models:
        raise Http404("No such model.")
    values, errors = {}, {}
    if request.method == "POST" and chosen and chosen.champion:
        values = {f["name"]: request.POST.get(f["name"], "").strip() for f in chosen.champion.feature_schema}
        row, errors = _parse_row(values)
        if not errors:
            waiting = Waiting(PAGE_WAIT_S)
            try:
                job, _ = prediction_submit(
                    user=request.user, model_name=name, input=row, on_created=waiting.watch
                )
            except InvalidInput as exc:
                waiting.close()
                errors = exc.errors
            except Exception:
                waiting.close()
                raise
            else:
                waiting.wait(job)
                return redirect("job", job_id=job.id)
    context = {"models": models, "chosen": chosen, "values": values, "errors": errors}
    return render(request, "api/predict.html", context, status=400 if errors else 200)


def _parse_row(values: dict) -> tuple[dict, dict]:
    row, errors = {}, {}
    for name, raw in values.items():
        try:
            row[name] = float(raw)
        except ValueError:
            errors[f"input.{name}"] = ["Enter a number." if raw else "This feature is required."]
    return row, errors


@login_required
def job_page(request, job_id: str, *, feedback_errors=(), status=200):
    job = history.job_get(job_id, owner_id=request.user.pk)
    if job is None:
        raise Http404("No prediction with this id.")
    version = registry.version_get(job.model, job.version)
    feedback = history.LabelledSample.objects(job_id=job.id, row=0).only("label").first()
    context = {
        "job": _job_view(job),
        "finished": job.status in history.FINISHED,
        "classes": version.classes if version else None,
        "feedback": feedback.label if feedback else None,
        "feedback_errors": feedback_errors,
    }
    return render(request, "api/job.html", context, status=status)


@login_required
@require_POST
def job_feedback_page(request, job_id: str):
    job = history.job_get(job_id, owner_id=request.user.pk)
    if job is None:
        raise Http404("No prediction with this id.")
    label = request.POST.get("label", "")
    if registry.version_get(job.model, job.version).classes is None:
        try:
            label = float(label)
        except ValueError:
            return job_page(request, job_id, feedback_errors=["Enter a number."], status=400)
    try:
        feedback_record(job=job, label=label, index=None, given_by=request.user.pk)
    except FeedbackRefused as exc:
        problems = [message for values in exc.errors.values() for message in values]
        return job_page(request, job_id, feedback_errors=problems, status=400)
    messages.success(request, "Thank you: your answer will be used at the next retraining.")
    return redirect("job", job_id=job_id)


@login_required
@require_POST
def job_cancel_page(request, job_id: str):
    if prediction_cancel(user=request.user, job_id=job_id) is None:
        raise Http404("No prediction with this id.")
    return redirect("job", job_id=job_id)


class _HistoryFilters(serializers.Serializer):
    model = serializers.CharField(required=False, allow_blank=True, max_length=64)
    status = serializers.ChoiceField(choices=["", *history.STATUSES], required=False)


def _history_query(request):
    filters = _HistoryFilters(data=request.GET)
    chosen = {k: v for k, v in filters.validated_data.items() if v} if filters.is_valid() else {}
    return chosen, history.jobs_query(owner_id=request.user.pk, **chosen)


@login_required
def history_page(request):
    filters, query = _history_query(request)
    try:
        before = cursor_decode(request.GET["cursor"]) if request.GET.get("cursor") else None
    except BadCursor:
        before = None
    jobs = history.jobs_page(query, limit=PAGE_SIZE + 1, before=before)
    next_cursor = cursor_encode(jobs[PAGE_SIZE - 1]) if len(jobs) > PAGE_SIZE else None
    params = request.GET.copy()
    params.pop("cursor", None)
    context = {
        "jobs": [_job_view(job) for job in jobs[:PAGE_SIZE]],
        "next_cursor": next_cursor,
        "filters": filters,
        "query": params.urlencode(),
        "model_names": [item.model.name for item in model_list()],
        "statuses": history.STATUSES,
    }
    return render(request, "api/history.html", context)


@login_required
def history_csv_page(request):
    return csv_response(_history_query(request)[1])


@login_required
def models_page(request):
    models = model_list()
    for item in models:
        item.versions = registry.versions_list(item.model.name)
    return render(request, "api/models.html", {"models": models})
