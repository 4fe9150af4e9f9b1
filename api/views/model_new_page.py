"""The new model form: a dataset, a target chosen from its columns (the task it gives shown
before submitting), the estimator, visibility and features; in two steps without script."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse

from predictor import definitions, estimators, history
from predictor.errors import FieldErrors

from ..permissions import can_build_models
from ..selectors import (
    datasets_list,
)
from ..serializers import ModelCreateSerializer
from ..services import (
    QueueUnavailable,
    model_create,
)
from .model_pages import estimator_name

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
