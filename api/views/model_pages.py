"""The models page: every model, who owns it and what it is defined on, how its versions
compare (a chart per model and the table it summarises), the `auto` leaderboard of its
estimators, the serving version's held-out diagnostics and, for the models a user may change
(their own; staff: all), the training runs, a Train button and the promote / roll back
confirmations (plain links and forms, no script). And the new model form (model builders).

Queries: the models with their champions (model_list), every version of every model in
one query, the dataset versions the models are defined on and their owners' names in one
each, and one MongoDB read of the recent training runs per model the user may change.
"""

from collections import defaultdict

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from predictor import datasets, definitions, estimators, history, registry
from predictor.errors import FieldErrors
from predictor.models import DatasetVersion, ModelVersion
from predictor.predictions import UnknownVersion

from ..permissions import can_build_models
from ..selectors import (
    champion_get,
    datasets_list,
    model_get_or_404,
    model_greater_is_better,
    model_list,
    rollback_target,
    trainings_list,
    usernames,
    version_get,
    versions_all,
)
from ..serializers import VERSION_MAX, ModelCreateSerializer
from ..services import (
    QueueUnavailable,
    model_create,
    training_submit,
    version_promote_by,
    version_rollback_by,
)

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
    "estimator",
    "leaderboard",
)
# Training runs shown per model (those the user may change), most recent first.
RUNS_SHOWN = 10


# ---------------------------------------------------------------- selectors (to move)


def dataset_versions_by_id(ids) -> dict[int, DatasetVersion]:
    """{id: dataset version, its dataset loaded} for the given ids, in one query; the
    profile and preview are left unread."""
    ids = {pk for pk in ids if pk is not None}
    if not ids:
        return {}
    found = DatasetVersion.objects.select_related("dataset").defer("columns", "preview").filter(pk__in=ids)
    return {version.pk: version for version in found}


# ---------------------------------------------------------------- the page


@login_required
def models_page(request):
    user = request.user
    models = model_list(user)
    versions = defaultdict(list)
    for version in versions_all(VERSION_FIELDS):
        versions[version.model_id].append(version)
    changeable = {item.model.name for item in models if registry.can_change(user, item.model)}
    runs, runs_error = _runs(user, sorted(changeable)) if changeable else ({}, None)
    data = dataset_versions_by_id(item.model.dataset_version_id for item in models)
    owners = usernames(item.model.owner_id for item in models if item.model.owner_id is not None)
    sections = [
        _section(
            item.model,
            item.champion,
            versions[item.model.id],
            runs=runs.get(item.model.name, []),
            can_change=item.model.name in changeable,
            owner=owners.get(item.model.owner_id),
            definition=_definition(user, item.model, data.get(item.model.dataset_version_id)),
        )
        for item in models
    ]
    context = {"sections": sections, "runs_error": runs_error, "builder": can_build_models(user)}
    return render(request, "api/models.html", context)


def _definition(user, model, data) -> dict | None:
    """What the model learns from: the dataset version (linked when the user may see the
    dataset), the target and the estimator."""
    if data is None:
        return None
    return {
        "dataset": data.dataset.name,
        "version": data.number,
        "linked": datasets.can_see(user, data.dataset),
        "target": model.target,
        "estimator": model.estimator or None,
        "features": len(model.features or ()),
    }


# ---------------------------------------------------------------- one model's section


def _metric_names(model, versions) -> list[str]:
    """The primary metric first, then every other metric some version has."""
    names = [model.primary_metric]
    for version in versions:
        names += [name for name in version.metrics if name not in names]
    return names


def _section(
    model,
    champion,
    versions,
    *,
    runs: list | None,
    can_change: bool,
    owner: str | None,
    definition: dict | None,
) -> dict:
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
        "rollback_target": rollback_target(model.name) if can_change else None,
        "can_change": can_change,
        "owner": owner,
        "definition": definition,
        "leaderboard": _leaderboard(model, champion, versions),
        "confusion": _confusion(diagnostics),
        "scatter": _scatter(diagnostics, model.name, champion),
        "target": _target(diagnostics),
        "held_out_rows": diagnostics.get("held_out_rows"),
        "runs": runs or [],
    }


ESTIMATOR_NAMES = {
    "logistic_regression": "Logistic regression",
    "ridge": "Ridge regression",
    "random_forest": "Random forest",
    "hist_gradient_boosting": "Histogram gradient boosting",
}


def estimator_name(name: str | None) -> str:
    return ESTIMATOR_NAMES.get(name or "", (name or "").replace("_", " "))


def _leaderboard(model, champion, versions) -> dict | None:
    """The `auto` leaderboard of the serving version, else of the newest version that has
    one: each estimator's cross-validated score (best first), as a chart and a table."""
    with_board = [v for v in versions if getattr(v, "leaderboard", None)]
    if not with_board:
        return None
    version = next((v for v in with_board if champion and v.pk == champion.pk), with_board[-1])
    entries = [entry for entry in version.leaderboard if isinstance(entry, dict)]
    metric = next((entry.get("metric") for entry in entries if entry.get("metric")), model.primary_metric)
    better = definitions.greater_is_better(metric)
    rows = [
        {
            "estimator": entry.get("estimator"),
            "name": estimator_name(entry.get("estimator")),
            "cv_score": entry.get("cv_score"),
            "cv_std": entry.get("cv_std"),
            "fit_s": entry.get("fit_s"),
            "predict_us_per_row": entry.get("predict_us_per_row"),
            "cv_rows": entry.get("cv_rows"),
            "chosen": bool(entry.get("chosen")),
        }
        for entry in entries
    ]
    scored = [row for row in rows if isinstance(row["cv_score"], int | float)]
    chosen = next((row for row in rows if row["chosen"]), None)
    label = f"Cross-validated {metric} of each estimator tried for {model.name} v{version.number}"
    if scored:
        label += ": " + "; ".join(f"{row['name']} {_number(row['cv_score'])}" for row in scored)
    if chosen:
        label += f". Chosen: {chosen['name']}"
    chart_id = f"leaderboard-{model.name}"
    return {
        "version": version.number,
        "metric": metric,
        "better": better,
        "rows": rows,
        "cv_rows": next((row["cv_rows"] for row in rows if row["cv_rows"]), None),
        "chart_id": chart_id,
        # A bar (and a name of two lines) per estimator, and room for the axis.
        "height": f"{2.6 * len(scored) + 3.5:.1f}rem",
        "label": label + ". Every estimator is in the table below.",
        "chart": {
            "kind": "leaderboard",
            "model": model.name,
            "version": f"v{version.number}",
            "metric": metric,
            "greater_is_better": better,
            "entries": [
                {
                    "label": row["name"],
                    "score": row["cv_score"],
                    "std": row["cv_std"],
                    "chosen": row["chosen"],
                }
                for row in scored
            ],
        },
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


# ---------------------------------------------------------------- training runs


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


# ---------------------------------------------------------------- train, promote, roll back

NOT_YOURS = "Only the model's owner or staff may change it."


def _changeable(request, name: str):
    """The model, when the user may change it (its owner, staff): Http404 when they may not
    see it, PermissionDenied (403) when they may see but not change it."""
    model = model_get_or_404(request.user, name)
    if not registry.can_change(request.user, model):
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
    names = _metric_names(model, [version, *([champion] if champion else [])])
    return [{"name": n, "ours": version.metrics.get(n), "theirs": theirs.get(n)} for n in names]


# ---------------------------------------------------------------- the new model form

NOT_A_BUILDER = "Creating models needs the model builder permission; ask staff to grant it."
TASK_WORDS = {
    definitions.BINARY: "binary classification",
    definitions.MULTICLASS: "multiclass classification",
    definitions.REGRESSION: "regression",
}
# The form's fields besides the features, with what they start as.
MODEL_FORM_DEFAULTS = {
    "name": "",
    "target": "",
    "task": estimators.AUTO,
    "estimator": estimators.AUTO,
    "visibility": "private",
    "description": "",
}


def _column_reason(column: dict) -> str:
    """Why `auto` takes a target column as classes or as a regression."""
    kind, distinct = column["type"], column.get("distinct")
    values = f"{distinct:,} distinct values" if distinct is not None else "very many distinct values"
    if kind != definitions.NUMBER:
        return f"a {kind} column of {values}: classes"
    if column.get("integers") and distinct is not None and distinct <= definitions.AUTO_CLASSES_MAX:
        return f"a number column of {values}, all whole ({definitions.AUTO_CLASSES_MAX} or fewer): classes"
    return f"a number column of {values}: regression"


def _target_choices(columns: list[dict]) -> list[dict]:
    """Each column as a target: the task `auto`, classification and regression give it."""
    choices = []
    for column in columns:
        tasks = {asked: definitions.task_infer(column, asked) for asked in definitions.TASK_CHOICES}
        choices.append(
            {
                "name": column["name"],
                "type": column["type"],
                "tasks": tasks,
                "words": {asked: TASK_WORDS[task] for asked, task in tasks.items()},
                "reason": _column_reason(column),
            }
        )
    return choices


def _feature_choices(columns: list[dict], rows: int, target: str, checked: list[str] | None) -> list[dict]:
    """The features' checkboxes: every column but the target; by default all checked but
    those a model cannot use (missing on every row, or an id-like category)."""
    choices = []
    for column in columns:
        name = column["name"]
        unusable = None
        if column.get("missing", 0) >= rows:
            unusable = "missing on every row"
        elif column["type"] == definitions.CATEGORY and column.get("distinct") is None:
            unusable = "too many distinct values (an id?)"
        elif column.get("distinct") == 1 and not column.get("missing"):
            unusable = "the same on every row"
        on = (name in checked) if checked is not None else unusable is None
        choices.append(
            {
                "name": name,
                "type": column["type"],
                "checked": on and name != target,
                "is_target": name == target,
                "unusable": unusable,
            }
        )
    return choices


@login_required
def model_new_page(request):
    """GET: step 1, the dataset (`?dataset=`); then step 2, the rest of the definition. POST:
    define the model and queue its first training."""
    user = request.user
    if not can_build_models(user):
        raise PermissionDenied(NOT_A_BUILDER)
    visible = datasets_list(user)
    asked = (request.POST if request.method == "POST" else request.GET).get("dataset", "")
    chosen = next((dataset for dataset in visible if dataset.name == asked), None)
    latest = next(iter(chosen.versions.all()), None) if chosen else None
    values, errors, checked = dict(MODEL_FORM_DEFAULTS), {}, None
    status = 200
    if asked and chosen is None:
        errors["dataset"] = [f"No dataset {asked!r} that you can use."]
        status = 404
    if request.method == "POST" and chosen is not None and latest is not None:
        values = {name: request.POST.get(name, default).strip() for name, default in values.items()}
        checked = request.POST.getlist("features")
        outcome = _model_create(request, chosen, latest, values, checked)
        if not isinstance(outcome, dict):
            return outcome
        errors, status = outcome, 400
    elif request.method == "POST" and chosen is not None:
        errors["dataset"] = [f"{chosen.name} has no version."]
        status = 400
    elif request.method == "POST":
        errors.setdefault("dataset", ["Choose a dataset."])
        status = 400
    columns = latest.columns if latest else []
    targets = _target_choices(columns)
    target = next((choice for choice in targets if choice["name"] == values["target"]), None)
    named = {"dataset", "features", *values}
    context = {
        "datasets": visible,
        "chosen": chosen,
        "latest": latest,
        "values": values,
        "errors": errors,
        "form_errors": [m for key, found in errors.items() if key not in named for m in found],
        "targets": targets,
        "target": target,
        "features": _feature_choices(columns, latest.rows if latest else 0, values["target"], checked),
        "estimators": [
            {
                "name": name,
                "label": estimator_name(name),
                "description": e.description,
                "kinds": sorted(e.build),
            }
            for name, e in estimators.ESTIMATORS.items()
        ],
        # For api/static/api/model_new.js: the task each target gives, as words and as the
        # kind of estimator it takes, per task asked (auto, classification, regression).
        "tasks_data": {
            choice["name"]: {
                "words": choice["words"],
                "kinds": {asked: estimators.kind_of(task) for asked, task in choice["tasks"].items()},
                "reason": choice["reason"],
            }
            for choice in targets
        },
    }
    return render(request, "api/model_new.html", context, status=status)


def _model_create(request, dataset, version, values: dict, checked: list[str]):
    """The redirect to the new model, or the errors by field."""
    features = [name for name in checked if name != values["target"]]
    if not features:
        return {"features": ["Choose at least one feature."]}
    data = {
        **{name: value for name, value in values.items() if value or name == "target"},
        "dataset": dataset.name,
        "dataset_version": version.number,
        "features": features,
    }
    serializer = ModelCreateSerializer(data=data)
    if not serializer.is_valid():
        return {key: [str(message) for message in found] for key, found in serializer.errors.items()}
    data = dict(serializer.validated_data)
    data.pop("dataset")
    try:
        model, notes, _run = model_create(
            user=request.user, dataset=dataset, dataset_version=data.pop("dataset_version"), **data
        )
    except FieldErrors as exc:  # DefinitionRefused, a dataset version gone, params
        return {key: list(found) for key, found in exc.errors.items()}
    except QueueUnavailable:
        return {"__all__": ["The training queue is unavailable, so nothing was created; try again shortly."]}
    except history.HistoryUnavailable:
        return {"__all__": ["MongoDB is unavailable, so nothing was created; try again shortly."]}
    messages.success(
        request, f"{model.name} is defined on {dataset.name} v{version.number}: training queued."
    )
    for note in notes:
        messages.info(request, note)
    return redirect(f"{reverse('models')}#model-{model.name}")
