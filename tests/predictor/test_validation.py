"""predictor.validation: a prediction input checked against a feature schema."""

import math

import numpy as np
import pytest

from predictor.validation import InvalidInput, row_errors, rows_clean, rows_validate

SCHEMA = [
    {"name": "radius", "type": "number", "min": 5.0, "max": 30.0},
    {"name": "texture", "type": "number", "min": 9.0, "max": 40.0},
    {"name": "area", "type": "number", "min": 140.0, "max": 2500.0},
]


def row(**overrides) -> dict:
    values = {"radius": 14.2, "texture": 19.3, "area": 654.9}
    values.update(overrides)
    return values


def validate_one(value) -> dict[str, float]:
    """One row through rows_validate, named "input" as a one-row prediction names it."""
    [clean] = rows_validate(SCHEMA, [value], where=lambda index: "input")
    return clean


def errors_of(value) -> dict[str, list[str]]:
    with pytest.raises(InvalidInput) as raised:
        validate_one(value)
    return raised.value.errors


def test_a_valid_row_comes_back_as_floats_in_schema_order():
    result = validate_one({"area": 654, "radius": 14.2, "texture": np.float64(19.3)})

    assert list(result) == ["radius", "texture", "area"]
    assert result == {"radius": 14.2, "texture": 19.3, "area": 654.0}
    assert all(type(value) is float for value in result.values())


def test_a_valid_row_has_no_errors():
    assert row_errors(SCHEMA, row(), path="input") == {}


def test_values_outside_the_training_range_are_accepted():
    assert validate_one(row(radius=0.0, area=1e6)) == {"radius": 0.0, "texture": 19.3, "area": 1e6}


def test_it_reports_a_missing_feature():
    values = row()
    del values["texture"]

    assert errors_of(values) == {"input.texture": ["This feature is required."]}


def test_it_reports_every_missing_feature_of_an_empty_row():
    assert errors_of({}) == {
        f"input.{name}": ["This feature is required."] for name in ("radius", "texture", "area")
    }


def test_it_reports_an_extra_feature():
    assert errors_of(row(perimeter=91.0)) == {"input.perimeter": ["Unknown feature for this model."]}


def test_it_reports_a_null_value():
    assert errors_of(row(texture=None)) == {"input.texture": ["May not be null; a number is required."]}


@pytest.mark.parametrize(
    ("value", "type_name"),
    [("19.3", "str"), ("", "str"), (True, "bool"), (False, "bool"), ([19.3], "list"), ({"v": 1}, "dict")],
)
def test_it_reports_a_value_that_is_not_a_number(value, type_name):
    assert errors_of(row(texture=value)) == {"input.texture": [f"A number is required, got {type_name}."]}


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, np.float64("nan")])
def test_it_reports_a_value_that_is_not_finite(value):
    assert errors_of(row(texture=value)) == {"input.texture": ["Must be a finite number."]}


def test_it_reports_an_integer_too_large_for_a_float():
    assert errors_of(row(texture=10**400)) == {"input.texture": ["Must be a finite number."]}


def test_it_reports_every_bad_feature_at_once():
    values = {"radius": None, "texture": "x", "extra": 1.0}

    assert errors_of(values) == {
        "input.radius": ["May not be null; a number is required."],
        "input.texture": ["A number is required, got str."],
        "input.area": ["This feature is required."],
        "input.extra": ["Unknown feature for this model."],
    }


@pytest.mark.parametrize(
    ("value", "type_name"), [([14.2, 19.3, 654.9], "list"), (None, "NoneType"), ("x", "str")]
)
def test_it_reports_a_row_that_is_not_an_object(value, type_name):
    assert errors_of(value) == {"input": [f"Expected an object of 3 features, got {type_name}."]}


def test_errors_are_keyed_under_the_given_path():
    assert row_errors(SCHEMA, row(area=None), path="rows[2]") == {
        "rows[2].area": ["May not be null; a number is required."]
    }
    assert row_errors(SCHEMA, 7, path="rows[2]") == {
        "rows[2]": ["Expected an object of 3 features, got int."]
    }


def test_invalid_input_carries_the_same_errors_as_row_errors():
    bad = row(radius="big", texture=math.inf)

    with pytest.raises(InvalidInput) as raised:
        validate_one(bad)

    assert raised.value.errors == row_errors(SCHEMA, bad, path="input")
    assert set(raised.value.errors) == {"input.radius", "input.texture"}


def test_it_does_not_change_the_callers_row():
    values = {"area": 654, "radius": 14.2, "texture": 19.3}

    validate_one(values)

    assert values == {"area": 654, "radius": 14.2, "texture": 19.3}
    assert type(values["area"]) is int


NAMES = [feature["name"] for feature in SCHEMA]


def test_the_whole_batch_check_gives_what_the_row_by_row_one_gives():
    rows = [row(), {"area": 654, "radius": 14, "texture": 19.5}, row(radius=-0.0, area=1e300)]

    clean = rows_clean(NAMES, rows)

    assert clean == [{name: float(r[name]) for name in NAMES} for r in rows]
    assert all(row_errors(SCHEMA, r, path="input") == {} for r in rows)
    assert [list(r) for r in clean] == [NAMES] * 3
    assert all(type(value) is float for r in clean for value in r.values())


def test_rows_already_clean_are_kept_as_they_are():
    rows = [row(), row(radius=3.5)]
    assert rows_clean(NAMES, rows) is rows


@pytest.mark.parametrize(
    "bad",
    [
        {"radius": 14.2, "texture": 19.3},  # a feature missing
        row(perimeter=1.0),  # an unknown one
        row(radius=True),
        row(radius=None),
        row(radius="14.2"),
        row(radius=math.inf),
        row(radius=math.nan),
        row(radius=10**400),
        [14.2, 19.3, 654.9],
        "row",
        None,
    ],
)
def test_any_bad_row_sends_the_batch_to_the_row_by_row_check(bad):
    # None: the caller then names each fault with row_errors, which finds one here.
    assert rows_clean(NAMES, [row(), bad]) is None
    assert row_errors(SCHEMA, bad, path="inputs[1]")


def test_a_bad_batch_names_each_fault_under_its_row_up_to_the_limit():
    rows = [row(), row(radius=None), row(texture="x", area=math.inf), {}]

    with pytest.raises(InvalidInput) as raised:
        rows_validate(SCHEMA, rows, where=lambda index: f"inputs[{index}]")
    assert list(raised.value.errors) == [
        "inputs[1].radius",
        "inputs[2].texture",
        "inputs[2].area",
        *(f"inputs[3].{name}" for name in NAMES),
    ]

    with pytest.raises(InvalidInput) as raised:
        rows_validate(SCHEMA, rows, where=lambda index: f"inputs[{index}]", max_errors=2)
    assert list(raised.value.errors) == ["inputs[1].radius", "inputs[2].texture"]
