"""Labelled rows for a model (uploads now, feedback later): validated whole, stored whole."""

import csv
import io
from datetime import timedelta

from django.conf import settings

from . import history, registry
from .definitions import UnknownModel
from .errors import FieldErrors
from .tabular import cell_missing
from .validation import InvalidInput, finite, rows_validate

LABEL = "label"
# Where csv.DictReader puts the cells of a line beyond the header's columns.
EXTRA_CELLS = "(extra cells)"
# One upload is one MongoDB insert; 10,000 rows of ~30 features stay well under 16 MB.
MAX_ROWS = 10_000


def label_error(version, label) -> str | None:
    if version.classes is not None:
        if not isinstance(label, str) or label not in version.classes:
            return f"Must be one of {version.classes}."
        return None
    if isinstance(label, bool) or not isinstance(label, int | float) or not finite(label):
        return "Must be a finite number."
    return None


def _check(version, rows: list, place) -> list[tuple[dict, object]]:
    """Each row's features as floats in schema order (validation.rows_validate) with its
    label, or InvalidInput naming every fault under `place(index)` of its row, row by row."""
    features = [
        {name: value for name, value in row.items() if name != LABEL} if isinstance(row, dict) else row
        for row in rows
    ]
    try:
        clean, errors = rows_validate(version.feature_schema, features, where=place), {}
    except InvalidInput as exc:
        clean, errors = None, dict(exc.errors)
    for index, row in enumerate(rows):
        where = place(index)
        if not isinstance(row, dict):
            errors[where] = ["Expected an object of features and a label."]
        elif LABEL not in row:
            errors[f"{where}.{LABEL}"] = ["This field is required."]
        elif problem := label_error(version, row[LABEL]):
            errors[f"{where}.{LABEL}"] = [problem]
    if errors:
        # A row's faults together, its features' then its label's, rows in order.
        row_of = {place(index): index for index in range(len(rows))}
        raise InvalidInput(dict(sorted(errors.items(), key=lambda error: row_of[error[0].split(".")[0]])))
    return list(zip(clean, [row[LABEL] for row in rows], strict=True))


_BOOLEANS = {
    "true": True,
    "t": True,
    "yes": True,
    "y": True,
    "false": False,
    "f": False,
    "no": False,
    "n": False,
}


def _cell(feature: dict | None, text: str):
    """A CSV cell as the schema's type takes it; a cell that is not one is kept as text, and
    the row's check names it."""
    if cell_missing(text):
        return None
    kind = (feature or {}).get("type", "number")
    if kind == "category":
        return text.strip()
    if kind == "boolean":
        return _BOOLEANS.get(text.strip().lower(), text)
    try:
        return float(text)
    except ValueError:
        return text


def _csv_rows(text: str, version) -> list[dict]:
    # Cells beyond the header land under EXTRA_CELLS and are reported as unknown; missing
    # cells are left out and reported as required.
    reader = csv.DictReader(io.StringIO(text), restkey=EXTRA_CELLS)
    schema = {feature["name"]: feature for feature in version.feature_schema}
    rows = []
    for row in reader:
        parsed = {}
        for name, value in row.items():
            if value is None:
                continue
            if name == EXTRA_CELLS or (name == LABEL and version.classes is not None):
                parsed[name] = value
                continue
            parsed[name] = _cell(schema.get(name), value)
        rows.append(parsed)
    return rows


def _csv_line(index: int) -> str:
    return f"line {index + 2}"  # line 1 is the header


def _rows_index(index: int) -> str:
    return f"rows[{index}]"


def samples_upload(
    *, model_name: str, rows: list | None = None, csv_text: str | None = None, uploaded_by: int
) -> dict:
    """Validate every row against the serving version; store all of them or none."""
    version = registry.champion_get(model_name)
    if version is None:
        raise UnknownModel(model_name)
    if csv_text is not None:
        rows, place = _csv_rows(csv_text, version), _csv_line
    else:
        place = _rows_index
    if not rows:
        raise InvalidInput({"rows": ["No rows were sent."]})
    if len(rows) > MAX_ROWS:
        raise InvalidInput({"rows": [f"At most {MAX_ROWS} rows per upload; got {len(rows)}."]})
    clean = _check(version, rows, place)
    batch_id = history.samples_add(model=model_name, rows=clean, source="upload", created_by=uploaded_by)
    return {"model": model_name, "stored": len(clean), "batch_id": batch_id}


class FeedbackRefused(FieldErrors):
    """Feedback on a prediction that cannot take it (not succeeded, no such row, a bad label)."""


class FeedbackQuotaExceeded(FeedbackRefused):
    """The user gave as much feedback as one user may in a day; the label was not kept."""

    def __init__(self, errors: dict[str, list[str]], *, retry_after_s: int):
        super().__init__(errors)
        self.retry_after_s = retry_after_s


def feedback_record(*, job: history.JobView, label, index: int | None, given_by: int) -> dict:
    """Keep the true label of a finished prediction as a training sample (one per row:
    sending it again replaces it)."""
    if job.status != history.SUCCEEDED:
        raise FeedbackRefused(
            {"status": [f"Only a succeeded prediction takes feedback; this one is {job.status}."]}
        )
    if job.is_batch and index is None:
        raise FeedbackRefused({"index": ["This is a batch: say which row (0-based) the label is for."]})
    index = index or 0
    if index >= len(job.rows):
        raise FeedbackRefused({"index": [f"This job has {len(job.rows)} row(s)."]})
    version = registry.version_get(job.model, job.version)
    if version is None:  # deleted in the admin since the job ran
        raise FeedbackRefused(
            {"label": [f"{job.model} v{job.version} no longer exists; it takes no feedback."]}
        )
    if problem := label_error(version, label):
        raise FeedbackRefused({"label": [problem]})
    _check_quota(given_by, job_id=job.id, row=index)
    history.sample_upsert(
        model=job.model, features=job.rows[index], label=label, job_id=job.id, row=index, created_by=given_by
    )
    return {"prediction": job.id, "index": index, "model": job.model, "label": label}


def _check_quota(user_id: int, *, job_id: str, row: int) -> None:
    """Feedback becomes training data with nobody reviewing it: one user adds at most
    FEEDBACK_DAILY_QUOTA new samples a day (correcting a label already given is free); the
    promotion gate is the last line."""
    quota = settings.FEEDBACK_DAILY_QUOTA
    if history.sample_exists(job_id=job_id, row=row):
        return
    window = timedelta(days=1)
    since = history.now() - window
    given, oldest = history.samples_count_since(created_by=user_id, source="feedback", since=since)
    if given >= quota:
        # A slot frees when the oldest counted label leaves the 24-hour window.
        retry_after = (oldest + window - history.now()).total_seconds() if oldest else window.total_seconds()
        raise FeedbackQuotaExceeded(
            {"label": [f"You have given {quota} labels in the last 24 hours, the most one user may."]},
            retry_after_s=max(int(retry_after) + 1, 1),
        )
