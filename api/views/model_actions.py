"""A model's Train, promote and roll back, from the models page: for its owner and staff,
each change confirmed on a page of its own first (plain forms, no script)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from predictor import definitions, history, registry
from predictor.errors import FieldErrors
from predictor.models import ModelVersion
from predictor.predictions import UnknownVersion

from ..selectors import (
    champion_get,
    model_can_change,
    model_get_or_404,
    rollback_target,
    version_get,
)
from ..serializers import VERSION_MAX
from ..services import (
    QueueUnavailable,
    training_submit,
    version_promote_by,
    version_rollback_by,
)
from .model_pages import metric_names

Status = ModelVersion.Status


NOT_YOURS = "Only the model's owner or staff may change it."


def _changeable(request, name: str):
    """The model, when the user may change it (its owner, staff): Http404 when they may not
    see it, PermissionDenied (403) when they may see but not change it."""
    model = model_get_or_404(request.user, name)
    if not model_can_change(request.user, model):
        raise PermissionDenied(NOT_YOURS)
    return model


@login_required
@require_POST
def model_train_page(request, name: str):
    """Queue a training of the model with its own settings; its run shows on the models page."""
    model = _changeable(request, name)
    try:
        run = training_submit(user=request.user, model_name=name, params={})
    except (QueueUnavailable, history.HistoryUnavailable):
        messages.error(
            request,
            f"The training of {name} could not be queued (the queue or MongoDB is down); try again shortly.",
        )
    except (definitions.UnknownModel, FieldErrors) as exc:
        messages.error(request, f"{name} cannot be trained: {_first_error(exc)}")
    else:
        messages.success(
            request, f"Training of {name} queued (run {run.id[:8]}); it is listed under its training runs."
        )
    return redirect(_back(model))


def _first_error(exc) -> str:
    if isinstance(exc, FieldErrors):
        return next((message for found in exc.errors.values() for message in found), str(exc))
    return str(exc)


def _back(model) -> str:
    return f"{reverse('models')}#model-{model.name}"


def _confirm(request, model, *, action: str, status: int = 200, **context):
    context = {"model": model, "action": action, "back": _back(model), **context}
    return render(request, "api/model_confirm.html", context, status=status)


def _confirm_change(request, model, action: str, version, champion, outcome: str, **context):
    """The confirmation of a change: what it does, and the version's metrics beside the champion's."""
    comparison = _compare(model, version, champion)
    return _confirm(
        request,
        model,
        action=action,
        version=version,
        champion=champion,
        outcome=outcome,
        comparison=comparison,
        **context,
    )


# A model may have no champion (none promoted yet, or its champion archived in the admin).
NONE_NOW = "; it has none at the moment."


def _archived(champion, *, otherwise: str = ".") -> str:
    """The end of a sentence about a new champion: what happens to the one serving now."""
    return f"; v{champion.number} is archived." if champion else otherwise


@login_required
def model_promote_page(request, name: str, number: int):
    """GET: what promoting would do, and a form to do it; POST: do it."""
    model = _changeable(request, name)
    champion = champion_get(name)
    version = version_get(name, number) if number <= VERSION_MAX else None
    if version is None:
        error = f"{name} has no version {number}."
        return _confirm(request, model, action="promote", number=number, error=error, status=400)
    if champion is not None and champion.pk == version.pk:
        error = f"v{number} is already the champion of {name}."
        return _confirm(request, model, action="promote", number=number, error=error, status=409)
    if request.method == "POST":
        try:
            version_promote_by(user=request.user, model_name=name, number=number)
        except UnknownVersion:  # deleted since it was read
            error = f"{name} has no version {number}."
            return _confirm(request, model, action="promote", number=number, error=error, status=400)
        messages.success(request, f"v{number} is now the champion of {name}" + _archived(champion))
        return redirect(_back(model))
    outcome = f"v{number} becomes the champion of {name}" + _archived(champion, otherwise=NONE_NOW)
    return _confirm_change(request, model, "promote", version, champion, outcome, number=number)


@login_required
def model_rollback_page(request, name: str):
    """GET: which version a rollback brings back, and a form to do it; POST: do it."""
    model = _changeable(request, name)
    champion = champion_get(name)
    target = rollback_target(name)
    if request.method == "POST" and target is not None:
        try:
            restored = version_rollback_by(user=request.user, model_name=name)
        except registry.RegistryError:  # the earlier champion changed since it was read
            target = None
        else:
            messages.success(
                request, f"v{restored.number} is the champion of {name} again" + _archived(champion)
            )
            return redirect(_back(model))
    if target is None:
        error = f"{name} has no earlier champion to roll back to."
        return _confirm(request, model, action="rollback", error=error, status=409)
    outcome = f"v{target.number} becomes the champion of {name} again" + _archived(
        champion, otherwise=NONE_NOW
    )
    return _confirm_change(request, model, "rollback", target, champion, outcome)


def _compare(model, version, champion) -> list[dict]:
    """Each metric of the version beside the champion's, the primary metric first."""
    theirs = champion.metrics if champion else {}
    names = metric_names(model, [version, *([champion] if champion else [])])
    return [{"name": n, "ours": version.metrics.get(n), "theirs": theirs.get(n)} for n in names]
