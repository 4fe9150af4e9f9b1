"""The models page: every model, how its versions compare (a chart per model and the
table it summarises), the serving version's held-out diagnostics and, for staff, the
training runs and the promote / roll back confirmations (plain links and forms, no script).

Queries: the models with their champions (model_list), every version of every model in
one query, and for staff one MongoDB read of the recent training runs per model.
"""

from collections import defaultdict

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse

from predictor import history, registry
from predictor.models import ModelVersion
from predictor.predictions import UnknownVersion

from ..selectors import (
    champion_get,
    model_get_or_404,
    model_greater_is_better,
    model_list,
    rollback_target,
    trainings_list,
    usernames,
    version_get,
    versions_all,
)
from ..serializers import VERSION_MAX
from ..services import version_promote_by, version_rollback_by

Status = ModelVersion.Status

# What the page shows of each version; the rest (schema, artifact, diagnostics of
# versions that do not serve) stays in the database.
VERSION_FIELDS = (
    "id",
    "model",
    "number",
    "status",
    "status_reason",
    "metrics",
    "training_rows",
    "samples_used",
    "created_at",
    "promoted_at",
)
# Training runs shown per model (staff), most recent first.
RUNS_SHOWN = 10


@login_required
def models_page(request):
    models = model_list(request.user)
    versions = defaultdict(list)
    for version in versions_all(VERSION_FIELDS):
        versions[version.model_id].append(version)
    staff = request.user.is_staff
    runs, runs_error = _runs(request.user, [item.model.name for item in models]) if staff else ({}, None)
    sections = [
        _section(
            item.model,
            item.champion,
            versions[item.model.id],
            runs=runs.get(item.model.name, []),
            staff=staff,
        )
        for item in models
    ]
    return render(
        request, "api/models.html", {"sections": sections, "staff": staff, "runs_error": runs_error}
    )


# ---------------------------------------------------------------- one model's section


def _metric_names(model, versions) -> list[str]:
    """The primary metric first, then every other metric some version has."""
    names = [model.primary_metric]
    for version in versions:
        names += [name for name in version.metrics if name not in names]
    return names


def _section(model, champion, versions, *, runs: list | None, staff: bool) -> dict:
    metric = model.primary_metric
    names = _metric_names(model, versions)
    better = model_greater_is_better(model.name)
    chart_id = f"versions-{model.name}"
    chart = {
        "kind": "versions",
        "model": model.name,
        "primary": metric,
        "metrics": names,
        "greater_is_better": better,
        "versions": [
            {
                "label": f"v{v.number}",
                "status": v.status,
                "reason": v.status_reason,
                "metrics": v.metrics,
            }
            for v in versions
        ],
    }
    # {} for a version trained before diagnostics were kept.
    diagnostics = getattr(champion, "diagnostics", None) or {}
    return {
        "model": model,
        "champion": champion,
        "champion_metric": champion.metrics.get(metric) if champion else None,
        "features": len(champion.feature_schema) if champion else None,
        "better": better,
        "versions": [_version_row(v, metric) for v in reversed(versions)],
        "chart_id": chart_id,
        "chart": chart,
        "chart_label": versions_summary(model.name, metric, versions),
        "metric_names": names,
        "task": model.task.replace("_", " "),
        "kinds": {v.status for v in versions},
        "rollback_target": rollback_target(model.name) if staff else None,
        "confusion": _confusion(diagnostics),
        "scatter": _scatter(diagnostics, model.name, champion),
        "target": _target(diagnostics),
        "held_out_rows": diagnostics.get("held_out_rows"),
        "runs": runs or [],
    }


def _version_row(version, primary: str) -> dict:
    return {
        "version": version,
        "metrics": [
            {"name": name, "value": value, "primary": name == primary}
            for name, value in sorted(version.metrics.items(), key=lambda item: item[0] != primary)
        ],
    }


def _number(value) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "none"


def versions_summary(model_name: str, metric: str, versions) -> str:
    """The chart's text equivalent (its aria-label); charts.js says the same of another metric."""
    values = [(v, v.metrics.get(metric)) for v in versions if isinstance(v.metrics.get(metric), int | float)]
    if not values:
        return f"{metric} of {model_name}: no version has it."
    low = min(values, key=lambda item: item[1])
    high = max(values, key=lambda item: item[1])
    text = (
        f"{metric} of {model_name} across {len(versions)} versions, from {_number(low[1])} "
        f"(v{low[0].number}) to {_number(high[1])} (v{high[0].number})"
    )
    champion = next((v for v in versions if v.status == Status.CHAMPION), None)
    if champion is not None:
        text += f"; champion v{champion.number}: {_number(champion.metrics.get(metric))}"
    rejected = sum(v.status == Status.REJECTED for v in versions)
    if rejected:
        text += f"; {rejected} rejected"
    return text + ". Every version is in the table below."


# ---------------------------------------------------------------- diagnostics

_LIGHT, _DARK = (255, 255, 255), (10, 83, 190)  # white to the pages' accent (#0a53be)
_WHITE, _BLACK = "#ffffff", "#000000"


def _luminance(rgb) -> float:
    def channel(c):
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(one: str, other: str) -> float:
    """WCAG contrast ratio of two #rrggbb colours."""
    a, b = (_luminance(bytes.fromhex(colour[1:])) for colour in (one, other))
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)


def heat(share: float) -> tuple[str, str]:
    """Background for a cell holding `share` (0..1) of its row, and the text colour
    (black or white, whichever contrasts more: never below 4.5:1)."""
    rgb = [round(light + (dark - light) * share) for light, dark in zip(_LIGHT, _DARK, strict=True)]
    background = "#" + "".join(f"{c:02x}" for c in rgb)
    text = max((_BLACK, _WHITE), key=lambda colour: contrast(background, colour))
    return background, text


def _confusion(diagnostics: dict) -> dict | None:
    try:
        labels = [str(label) for label in diagnostics["confusion_matrix"]["labels"]]
        matrix = [[int(count) for count in row] for row in diagnostics["confusion_matrix"]["matrix"]]
    except (KeyError, TypeError, ValueError):
        return None
    if len(matrix) != len(labels) or any(len(row) != len(labels) for row in matrix):
        return None
    rows = []
    for i, (label, counts) in enumerate(zip(labels, matrix, strict=True)):
        total = sum(counts)
        cells = []
        for j, count in enumerate(counts):
            share = count / total if total else 0.0
            background, text = heat(share)
            cells.append(
                {
                    "count": count,
                    "percent": round(share * 100),
                    "background": background,
                    "text": text,
                    "correct": i == j,
                    "predicted": labels[j],
                }
            )
        rows.append({"label": label, "total": total, "cells": cells})
    correct = sum(matrix[i][i] for i in range(len(labels)))
    total = sum(map(sum, matrix))
    return {"labels": labels, "rows": rows, "correct": correct, "total": total}


def _scatter(diagnostics: dict, model_name: str, champion) -> dict | None:
    try:
        points = [
            [float(actual), float(predicted)]
            for actual, predicted in diagnostics["predicted_vs_actual"]["points"]
        ]
    except (KeyError, TypeError, ValueError):
        return None
    if not points:
        return None
    version = f"v{champion.number}"
    values = [value for point in points for value in point]
    return {
        "id": f"scatter-{model_name}",
        "data": {
            "kind": "scatter",
            "model": model_name,
            "version": version,
            "points": points,
            "low": min(values),
            "high": max(values),
        },
        "label": (
            f"Predicted against actual values for {len(points)} held-out rows of {model_name} {version}, "
            f"actual from {min(p[0] for p in points):.4g} to {max(p[0] for p in points):.4g}; "
            "the diagonal line is where a prediction equals the actual value."
        ),
        "count": len(points),
    }


TARGET_STATS = (
    ("min", "Minimum"),
    ("p05", "5th percentile"),
    ("p50", "Median"),
    ("mean", "Mean"),
    ("p95", "95th percentile"),
    ("max", "Maximum"),
    ("std", "Standard deviation"),
)


def _target(diagnostics: dict) -> list[dict] | None:
    target = diagnostics.get("target")
    if not isinstance(target, dict):
        return None
    return [
        {"key": key, "name": name, "value": f"{target[key]:.6g}"}
        for key, name in TARGET_STATS
        if isinstance(target.get(key), int | float)
    ]


# ---------------------------------------------------------------- training runs (staff)


def _runs(user, model_names: list[str]) -> tuple[dict[str, list[dict]], str | None]:
    try:
        runs = {name: trainings_list(user, model=name, limit=RUNS_SHOWN) for name in model_names}
    except history.HistoryUnavailable:
        return {}, "The training history (MongoDB) does not answer right now; try again shortly."
    ids = {run.requested_by for found in runs.values() for run in found if run.requested_by is not None}
    names = usernames(ids)
    return {name: [_run_view(run, names) for run in found] for name, found in runs.items()}, None


def _seconds(start, end) -> float | None:
    return (end - start).total_seconds() if start and end else None


def _run_view(run, usernames: dict) -> dict:
    started = run.started_at or run.created_at
    stages = [
        {"stage": step.get("stage"), "at": step.get("at"), "after_s": _seconds(started, step.get("at"))}
        for step in run.progress or []
    ]
    ours, theirs = run.metrics or {}, run.champion_metrics or {}
    names = list(ours) + [name for name in theirs if name not in ours]
    comparison = [
        {
            "name": name,
            "ours": ours.get(name),
            "theirs": theirs.get(name),
            "difference": ours[name] - theirs[name]
            if isinstance(ours.get(name), int | float) and isinstance(theirs.get(name), int | float)
            else None,
        }
        for name in names
    ]
    return {
        "run": run,
        "by": usernames.get(run.requested_by),
        "stages": stages,
        "comparison": comparison,
        # From its (last) start; a run that finished unstarted (it failed in the queue) from its creation.
        "duration_s": _seconds(run.started_at or run.created_at, run.completed_at),
        "queued_s": _seconds(run.created_at, run.started_at),
    }


# ---------------------------------------------------------------- promote / roll back (staff)


def _staff(request):
    if not request.user.is_staff:
        raise PermissionDenied("Staff only.")


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
    _staff(request)
    model = model_get_or_404(request.user, name)
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
    _staff(request)
    model = model_get_or_404(request.user, name)
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
    names = _metric_names(model, [version, *([champion] if champion else [])])
    return [{"name": n, "ours": version.metrics.get(n), "theirs": theirs.get(n)} for n in names]
