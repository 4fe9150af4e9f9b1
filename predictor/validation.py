"""Checks a prediction input against a model version's feature schema, before any job exists."""

import math
from collections.abc import Callable
from itertools import chain
from numbers import Real
from operator import itemgetter

import numpy as np

from .errors import FieldErrors


class InvalidInput(FieldErrors):
    """A prediction input (or uploaded samples) that does not fit the feature schema."""


def finite(value: Real) -> bool:
    """math.isfinite, but False, not OverflowError, for an int beyond float range."""
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond float range, e.g. a JSON literal of 400 digits
        return False


def _value_error(feature: dict, value) -> str | None:
    kind = feature.get("type", "number")
    if value is None:
        if feature.get("nullable"):
            return None
        wanted = {"number": "a number", "category": "a category (a string)", "boolean": "true or false"}[kind]
        return f"May not be null; {wanted} is required."
    if kind == "category":
        if not isinstance(value, str):
            return f"A category (a string) is required, got {type(value).__name__}."
        return None
    if kind == "boolean":
        if not isinstance(value, bool):
            return f"true or false is required, got {type(value).__name__}."
        return None
    if isinstance(value, bool) or not isinstance(value, Real):
        return f"A number is required, got {type(value).__name__}."
    if not finite(value):
        return "Must be a finite number."
    return None


def row_errors(schema: list[dict], row, *, path: str) -> dict[str, list[str]]:
    if not isinstance(row, dict):
        return {path: [f"Expected an object of {len(schema)} features, got {type(row).__name__}."]}
    errors: dict[str, list[str]] = {}
    for feature in schema:
        name = feature["name"]
        if name not in row:
            errors[f"{path}.{name}"] = ["This feature is required."]
        elif problem := _value_error(feature, row[name]):
            errors[f"{path}.{name}"] = [problem]
    known = {feature["name"] for feature in schema}
    for name in row:
        if name not in known:
            errors[f"{path}.{name}"] = ["Unknown feature for this model."]
    return errors


def _typed(feature: dict, value):
    if value is None or feature.get("type") in ("category", "boolean"):
        return value
    return float(value)


def known_categories(schema: list[dict]) -> dict[str, frozenset]:
    """Each category feature's values seen in training (what rows_warnings checks against)."""
    return {
        f["name"]: frozenset(f["categories"])
        for f in schema
        if f.get("type") == "category" and "categories" in f
    }


def rows_warnings(
    schema: list[dict], rows: list[dict], *, known: dict[str, frozenset] | None = None
) -> list[list[dict]] | None:
    """Per row, the category values its model never saw in training ({"feature", "value",
    "message"}): such a row is still predicted (the value counts as none of the known ones).
    None when no row has any. `known`: known_categories(schema), when the caller keeps it."""
    if known is None:
        known = known_categories(schema)
    if not known:
        return None
    found = [
        [
            {
                "feature": name,
                "value": row[name],
                "message": f"{row[name]!r} was not seen in training; "
                "predicted as none of the known categories.",
            }
            for name, categories in known.items()
            if row.get(name) is not None and row[name] not in categories
        ]
        for row in rows
    ]
    return found if any(found) else None


_NUMBERS = {float, int}


def rows_clean(names: list[str], rows: list) -> list[dict[str, float]] | None:
    """The rows with float values in `names` order when every one is valid, else None (the
    caller then names what is wrong with row_errors). Whole-batch checks in C, several times
    faster than row_errors' per-row, per-feature Python on a large batch."""
    if not names:
        return None
    take = itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))
    try:
        values = [take(row) for row in rows]  # a missing feature, or a row that is no object
    except (KeyError, TypeError, IndexError):
        return None
    if not all(isinstance(row, dict) and len(row) == len(names) for row in rows):
        return None  # unknown features
    types = set(map(type, chain.from_iterable(values)))
    if not types <= _NUMBERS:  # bool, None, str... are not numbers here
        return None
    try:
        matrix = np.array(values, dtype=float)
    except OverflowError:
        return None
    if not np.isfinite(matrix).all():
        return None
    if types == {float} and all(list(row) == names for row in rows):
        return rows  # already what is stored: no copy
    return [dict(zip(names, row, strict=True)) for row in matrix.tolist()]


def rows_validate(
    schema: list[dict], rows: list, *, where: Callable[[int], str], max_errors: int | None = None
) -> list[dict[str, float]]:
    """The rows with float values, in schema order, or raise InvalidInput naming each fault
    (at most `max_errors` of them) under `where(index)` of its row, e.g. "inputs[3].radius".

    Every valid batch takes rows_clean's whole-batch path; only a batch it refuses is gone
    through row by row (row_errors), to say what is wrong. The caller's rows are not changed.
    """
    names = [feature["name"] for feature in schema]
    # The whole-batch path takes numbers only: a model with category or boolean features
    # (or none of its features present) is checked row by row.
    clean = rows_clean(names, rows) if all(f.get("type", "number") == "number" for f in schema) else None
    if clean is not None:
        return clean
    errors: dict[str, list[str]] = {}
    for index, row in enumerate(rows):
        errors.update(row_errors(schema, row, path=where(index)))
        if max_errors is not None and len(errors) >= max_errors:
            break
    if errors:
        raise InvalidInput(dict(list(errors.items())[:max_errors]))
    # Valid, but not what rows_clean takes (categories, booleans, nulls, a numpy float).
    return [{feature["name"]: _typed(feature, row[feature["name"]]) for feature in schema} for row in rows]
