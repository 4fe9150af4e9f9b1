"""Rows and frames as the input a pipeline takes, the same way for training, held-out
scoring and predictions.

Two kinds of pipeline: the platform's own (predictor/estimators.py) take a matrix of their
features by position; one imported from outside (predictor/imports.py) was fitted on a
pandas DataFrame and has `feature_names_in_`, so it takes a DataFrame with those columns,
typed as pandas reads the CSV: numbers as floats, booleans as bool (object when one is
missing), categories as text, a missing value NaN."""

from operator import itemgetter

import numpy as np
import pandas as pd

from .estimators import BOOLEAN, CATEGORY, categorical_columns


def _number(value) -> float:
    return np.nan if value is None else float(value)


def rows_frame(rows: list[dict], features: list[dict]) -> pd.DataFrame:
    """One column per feature ({"name", "type"}), in order: numbers and booleans as float64
    (booleans 1.0 / 0.0, missing NaN), categories as text or None."""
    columns = {}
    for feature in features:
        name = feature["name"]
        values = [row.get(name) for row in rows]
        if feature["type"] == CATEGORY:
            columns[name] = pd.Series([None if v is None else str(v) for v in values], dtype=object)
        else:
            columns[name] = pd.Series([_number(v) for v in values], dtype="float64")
    return pd.DataFrame(columns, index=pd.RangeIndex(len(rows)))


def matrix(frame: pd.DataFrame, categorical: set[int]):
    """The frame's columns as one matrix: floats, or, with categories, objects holding
    floats (NaN when missing) and, in the categorical positions, text (None when missing)."""
    if not categorical:
        return frame.to_numpy(dtype=float)
    out = np.empty(frame.shape, dtype=object)
    for position in range(frame.shape[1]):
        column = frame.iloc[:, position]
        if position in categorical:
            out[:, position] = [None if value is None or value != value else str(value) for value in column]
        else:
            out[:, position] = column.to_numpy(dtype=float)
    return out


def input_names(pipeline) -> list[str] | None:
    """The column names a pipeline fitted on a DataFrame takes, in order; None for one that
    takes a matrix (the platform's own)."""
    names = getattr(pipeline, "feature_names_in_", None)
    return None if names is None else [str(name) for name in names]


# What pandas.read_csv reads as booleans by default; any other spelling stays text there.
PANDAS_TRUE, PANDAS_FALSE = frozenset({"True", "TRUE", "true"}), frozenset({"False", "FALSE", "false"})


def _pandas_like(column: pd.Series, kind: str | None, spellings: dict | None = None) -> pd.Series:
    """A column as pandas.read_csv gave it to a model fitted on the file. `spellings`: a
    boolean column's words in the file ({"true": "Yes", "false": "No"}, from its profile),
    text to such a model unless pandas reads them as booleans."""
    if kind == BOOLEAN or spellings:
        words = None
        if spellings and not (
            spellings.get("true") in PANDAS_TRUE and spellings.get("false") in PANDAS_FALSE
        ):
            words = {True: spellings.get("true", "True"), False: spellings.get("false", "False")}
        present = column.notna()

        def value_of(value):
            if value is None or value != value:
                return np.nan
            return words[bool(value)] if words else bool(value)

        values = column.map(value_of)
        return values.astype(bool) if words is None and present.all() else values.astype(object)
    if kind == CATEGORY or column.dtype == object:
        return column.astype(object).where(column.notna(), np.nan)
    return column


def named_frame(frame: pd.DataFrame, names: list[str], features: list[dict] | None = None) -> pd.DataFrame:
    """The DataFrame a pipeline with `feature_names_in_` takes: `names` in order, booleans
    (1.0 / 0.0 in the platform's frames, typed by `features`) back to bool, NaN for missing."""
    typed = {feature["name"]: feature for feature in features or []}
    return pd.DataFrame(
        {
            name: _pandas_like(
                frame[name], typed.get(name, {}).get("type"), typed.get(name, {}).get("spellings")
            )
            for name in names
        },
        index=frame.index,
    )


def model_input(pipeline, frame: pd.DataFrame, features: list[dict] | None = None):
    """What the pipeline takes, from a frame of its features (rows_frame, a dataset's frame):
    the matrix of the features in order, or, for a pipeline with `feature_names_in_`, the
    DataFrame of those columns (`features`: their types, to give booleans back as bool)."""
    names = input_names(pipeline)
    if names is not None:
        return named_frame(frame, names, features)
    return matrix(frame, categorical_columns(pipeline))


def rows_matrix(pipeline, rows: list[dict], names: list[str], spellings: dict[str, dict] | None = None):
    """Rows (validated: numbers, booleans, text, None) as the pipeline's matrix, its
    categories read from the pipeline itself (the worker has the artifact, not the schema).
    A pipeline with `feature_names_in_` gets a DataFrame of those columns instead, a boolean
    feature spelled as in its dataset (`spellings`, by feature: see _pandas_like)."""
    named = input_names(pipeline)
    if named is not None:
        spellings = spellings or {}
        frame = pd.DataFrame([[row.get(name) for name in named] for row in rows], columns=named)
        return pd.DataFrame(
            {name: _pandas_like(frame[name], None, spellings.get(name)) for name in named}, index=frame.index
        )
    categorical = categorical_columns(pipeline)
    if not categorical:
        # numpy reads None as NaN and True as 1.0 in a float array.
        take = itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))
        return np.array([take(row) for row in rows], dtype=float).reshape(len(rows), len(names))
    out = np.empty((len(rows), len(names)), dtype=object)
    for position, name in enumerate(names):
        if position in categorical:
            out[:, position] = [row[name] for row in rows]
        else:
            out[:, position] = [np.nan if row[name] is None else float(row[name]) for row in rows]
    return out
