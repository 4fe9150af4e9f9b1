"""The models page: every model, who owns it and what it is defined on, how its versions
compare (a chart per model and the table it summarises), the `auto` leaderboard of its
estimators, the serving version's held-out diagnostics and, for the models a user may change
(their own; staff: all), the training runs, a Train button and the promote / roll back
confirmations (plain links and forms, no script). The charts' data: api/views/model_charts.py;
the Train, promote and roll back actions: api/views/model_actions.py; the new model form:
api/views/model_new_page.py.

Queries: the models with their champions (model_list), every version of every model in
one query, the dataset versions the models are defined on and their owners' names in one
each, and one MongoDB read of the recent training runs per model the user may change.
"""

from collections import defaultdict

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from predictor import definitions, history
from predictor.models import ModelVersion

from ..permissions import can_build_models
from ..selectors import (
    dataset_can_see,
    dataset_versions_by_id,
    model_can_change,
    model_greater_is_better,
    model_list,
    rollback_target,
    trainings_list,
    usernames,
    versions_all,
)
from .model_charts import confusion_chart, scatter_chart, target_rows

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


# ---------------------------------------------------------------- the page


@login_required
def models_page(request):
    user = request.user
    models = model_list(user)
    versions = defaultdict(list)
    for version in versions_all(VERSION_FIELDS):
        versions[version.model_id].append(version)
    changeable = {item.model.name for item in models if model_can_change(user, item.model)}
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
        "linked": dataset_can_see(user, data.dataset),
        "target": model.target,
        "estimator": model.estimator or None,
        "features": len(model.features or ()),
    }


# ---------------------------------------------------------------- one model's section


def metric_names(model, versions) -> list[str]:
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
    names = metric_names(model, versions)
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
        "confusion": confusion_chart(diagnostics),
        "scatter": scatter_chart(diagnostics, model.name, champion),
        "target": target_rows(diagnostics),
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
