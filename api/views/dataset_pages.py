"""The datasets pages: your datasets and the shared ones, an upload form (model builders),
one dataset's versions with its latest version's column profile drawn as small histograms
and bars, its preview rows, and its deletion (its owner, staff).

Everything works as plain forms; with JavaScript the upload shows its progress
(api/static/api/upload.js): the same POST, sent by XMLHttpRequest, answered with where to
go (JSON) on success or with the page (its form and errors) on a refusal.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse

from predictor.datasets import DatasetInUse
from predictor.errors import FieldErrors
from predictor.history import HistoryUnavailable
from predictor.tabular import BOOLEAN, NUMBER, CSVTooLarge

from ..permissions import can_build_models
from ..selectors import (
    dataset_can_change,
    dataset_changeable_or_404,
    dataset_get_or_404,
    dataset_models_visible,
    dataset_visible,
    datasets_list,
)
from ..serializers import DatasetUploadSerializer
from ..services import dataset_create, dataset_remove

MONGO_DOWN = "MongoDB is unavailable, so the file could not be stored; nothing was kept. Try again shortly."
MONGO_DOWN_DELETE = "MongoDB is unavailable, so nothing was deleted; try again shortly."
NOT_A_BUILDER = "Uploading datasets needs the model builder permission; ask staff to grant it."
# The bars listed per category column (its `top` holds 10).
TOP_SHOWN = 5


def _is_upload_script(request) -> bool:
    """The upload sent by api/static/api/upload.js (to show its progress)."""
    return request.headers.get("X-Requested-With") == "XMLHttpRequest"


# ---------------------------------------------------------------- the list and the upload


def _errors(detail) -> dict[str, list[str]]:
    return {key: [str(message) for message in value] for key, value in detail.items()}


@login_required
def datasets_page(request):
    """GET: the list and, for model builders, the upload form. POST: the upload."""
    builder = can_build_models(request.user)
    values = {"name": "", "visibility": "private", "description": ""}
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        if not builder:
            raise PermissionDenied(NOT_A_BUILDER)
        values = {name: request.POST.get(name, "").strip() for name in values}
        serializer = DatasetUploadSerializer(data={**values, "file": request.FILES.get("file")})
        if not serializer.is_valid():
            errors, status = _errors(serializer.errors), 400
        else:
            try:
                version = dataset_create(user=request.user, **serializer.validated_data)
            except FieldErrors as exc:  # CSVRefused, CSVTooLarge, DatasetRefused
                errors = {key: list(messages_) for key, messages_ in exc.errors.items()}
                status = 413 if isinstance(exc, CSVTooLarge) else 400
            except HistoryUnavailable:
                errors, status = {"__all__": [MONGO_DOWN]}, 503
            else:
                return _uploaded(request, version)
    context = {
        "datasets": [_summary(dataset) for dataset in datasets_list(request.user)],
        "builder": builder,
        "values": values,
        "errors": errors,
        "form_errors": [
            m for key, found in errors.items() if key not in values and key != "file" for m in found
        ],
        "max_bytes": settings.DATASET_MAX_BYTES,
        "max_rows": f"{settings.DATASET_MAX_ROWS:,}",
        "max_columns": f"{settings.DATASET_MAX_COLUMNS:,}",
    }
    return render(request, "api/datasets.html", context, status=status)


def _uploaded(request, version):
    dataset = version.dataset
    messages.success(
        request,
        f"Uploaded {dataset.name} v{version.number}: {version.rows:,} rows, {len(version.columns)} columns.",
    )
    where = reverse("dataset", args=[dataset.name])
    if _is_upload_script(request):
        # XMLHttpRequest would follow a redirect itself (and show the message to nobody).
        return JsonResponse({"location": where}, status=201)
    return redirect(where)


def _summary(dataset) -> dict:
    versions = list(dataset.versions.all())  # prefetched, newest first
    latest = versions[0] if versions else None
    return {
        "dataset": dataset,
        "owner": dataset.owner.username if dataset.owner else None,
        "latest": latest,
        "columns": len(latest.columns) if latest else None,
        "versions": len(versions),
    }


# ---------------------------------------------------------------- one dataset


@login_required
def dataset_page(request, name: str):
    dataset = dataset_get_or_404(request.user, name)
    versions = list(dataset.versions.all())
    latest = versions[0] if versions else None
    columns = [column_view(column, latest.rows) for column in latest.columns] if latest else []
    context = {
        "dataset": dataset,
        "owner": dataset.owner.username if dataset.owner else None,
        "versions": versions,
        "latest": latest,
        "columns": columns,
        "preview": _preview(latest) if latest else None,
        "models": dataset_models_visible(request.user, dataset),
        "can_change": dataset_can_change(request.user, dataset),
        "builder": can_build_models(request.user),
    }
    return render(request, "api/dataset.html", context)


def _sig(value, digits: int = 4) -> str:
    return "\u2013" if value is None else f"{value:.{digits}g}"


def _value_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def column_view(column: dict, rows: int) -> dict:
    """A column of the profile as the page shows it: its figures as text, and its
    distribution as histogram bars (numbers) or bars of its most frequent values."""
    kind = column["type"]
    missing = column.get("missing", 0)
    distinct = column.get("distinct")
    view = {
        "name": column["name"],
        "type": kind,
        "missing": missing,
        "missing_percent": f"{missing / rows * 100:.1f}" if rows else "0.0",
        "distinct": f"{distinct:,}" if distinct is not None else f"over {settings.DATASET_MAX_CATEGORIES:,}",
        "histogram": None,
        "bars": None,
    }
    if missing >= rows:
        view["summary"] = "missing on every row"
        return view
    if kind == NUMBER:
        view["summary"] = (
            f"{_sig(column.get('min'))} to {_sig(column.get('max'))}, mean {_sig(column.get('mean'))}"
        )
        view["histogram"] = _histogram(column)
        return view
    top = column.get("top") or []
    view["bars"] = [
        {
            "value": _value_text(value),
            "count": count,
            "width": f"{count / rows * 100:.2f}" if rows else "0",
            "percent": f"{count / rows * 100:.1f}" if rows else "0.0",
        }
        for value, count in top[:TOP_SHOWN]
    ]
    if kind == BOOLEAN:
        view["summary"] = ", ".join(f"{bar['value']} {bar['count']:,}" for bar in view["bars"])
    else:
        first = view["bars"][0] if view["bars"] else None
        view["summary"] = f"most frequent: {first['value']} ({first['count']:,})" if first else ""
    if distinct is None or distinct > len(view["bars"]):
        view["more"] = (
            f"{distinct - len(view['bars']):,} more values" if distinct is not None else "many more values"
        )
    return view


def _histogram(column: dict) -> dict | None:
    """The histogram's bins as SVG rectangles in a 100 by 40 box, the fullest 38 high."""
    histogram = column.get("histogram")
    if not histogram or not histogram.get("counts"):
        return None
    counts, edges = histogram["counts"], histogram["edges"]
    fullest = max(counts) or 1
    width = 100 / len(counts)
    bins = []
    for index, count in enumerate(counts):
        height = count / fullest * 38
        bins.append(
            {
                "x": f"{index * width + 0.4:.2f}",
                "width": f"{width - 0.8:.2f}",
                "y": f"{40 - height:.2f}",
                "height": f"{height:.2f}",
                "title": f"{_sig(edges[index])} to {_sig(edges[index + 1])}: {count:,} rows",
            }
        )
    top = max(range(len(counts)), key=lambda i: counts[i])
    label = (
        f"Histogram of {column['name']}: {len(counts)} bins from {_sig(edges[0])} to {_sig(edges[-1])}; "
        f"the fullest, {_sig(edges[top])} to {_sig(edges[top + 1])}, holds {counts[top]:,} rows"
    )
    if histogram.get("sampled"):
        label += " (from a sample)"
    return {"bins": bins, "low": _sig(edges[0]), "high": _sig(edges[-1]), "label": label + "."}


def _preview(version) -> dict:
    names = [column["name"] for column in version.columns]
    rows = [[_value_text(row.get(name)) for name in names] for row in version.preview or []]
    return {"names": names, "rows": rows}


# ---------------------------------------------------------------- deleting


@login_required
def dataset_delete_page(request, name: str):
    """GET: what deleting removes, and a form to do it; POST: do it, unless models learned
    from it (then a 409 naming them)."""
    dataset = dataset_changeable_or_404(request.user, name)
    versions = list(dataset.versions.all())
    context = {
        "dataset": dataset,
        "versions": versions,
        "size": filesizeformat(sum(version.size_bytes for version in versions)),
        "back": reverse("dataset", args=[dataset.name]),
    }
    if request.method == "POST":
        try:
            dataset_remove(dataset=dataset)
        except DatasetInUse as exc:
            context["in_use"] = exc.users
            return render(request, "api/dataset_delete.html", context, status=409)
        except HistoryUnavailable:
            # The records go first, then the stored bytes no other version shares.
            if dataset_visible(request.user, name) is not None:
                context["error"] = MONGO_DOWN_DELETE
                return render(request, "api/dataset_delete.html", context, status=503)
            messages.warning(
                request, "MongoDB did not answer: the deleted dataset's stored file was left behind."
            )
        count = f"{len(versions)} version" + ("" if len(versions) == 1 else "s")
        messages.success(request, f"Deleted the dataset {name} ({count}).")
        return redirect("datasets")
    return render(request, "api/dataset_delete.html", context)
