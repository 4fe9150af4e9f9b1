"""Checks a prediction input against a model version's feature schema, before any job exists."""

import math
from numbers import Real


class InvalidInput(Exception):
    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


def _finite(value: Real) -> bool:
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
        elif not _finite(value):
            errors[f"{path}.{name}"] = ["Must be a finite number."]
    known = set(names)
    for name in row:
        if name not in known:
            errors[f"{path}.{name}"] = ["Unknown feature for this model."]
    return errors


def validate_row(schema: list[dict], row, *, path: str = "input") -> dict[str, float]:
    """Return the row with float values, in schema order, or raise InvalidInput."""
    errors = row_errors(schema, row, path=path)
    if errors:
        raise InvalidInput(errors)
    return {feature["name"]: float(row[feature["name"]]) for feature in schema}
