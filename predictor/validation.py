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


def row_errors(schema: list[dict], row, *, path: str) -> dict[str, list[str]]:
    if not isinstance(row, dict):
        return {path: [f"Expected an object of {len(schema)} features, got {type(row).__name__}."]}
    errors: dict[str, list[str]] = {}
    names = [feature["name"] for feature in schema]
    for name in names:
        if name not in row:
            errors[f"{path}.{name}"] = ["This feature is required."]
            continue
        value = row[name]
        if value is None:
            errors[f"{path}.{name}"] = ["May not be null; a number is required."]
        elif isinstance(value, bool) or not isinstance(value, Real):
            errors[f"{path}.{name}"] = [f"A number is required, got {type(value).__name__}."]
        elif not finite(value):
            errors[f"{path}.{name}"] = ["Must be a finite number."]
    known = set(names)
    for name in row:
        if name not in known:
            errors[f"{path}.{name}"] = ["Unknown feature for this model."]
    return errors


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
    clean = rows_clean(names, rows)
    if clean is not None:
        return clean
    errors: dict[str, list[str]] = {}
    for index, row in enumerate(rows):
        errors.update(row_errors(schema, row, path=where(index)))
        if max_errors is not None and len(errors) >= max_errors:
            break
    if errors:
        raise InvalidInput(dict(list(errors.items())[:max_errors]))
    # Valid, but not what rows_clean takes (a numpy float, an empty schema).
    return [{name: float(row[name]) for name in names} for row in rows]
