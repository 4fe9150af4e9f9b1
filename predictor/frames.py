"""Rows and frames as the matrix a pipeline takes, the same way for training, held-out
scoring and predictions (predictor/estimators.py builds the pipelines that take them)."""

from operator import itemgetter

import numpy as np
import pandas as pd

from .estimators import CATEGORY, categorical_columns


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


def model_input(pipeline, frame: pd.DataFrame):
    """The matrix the pipeline was fitted on, from a frame of its features in order."""
    return matrix(frame, categorical_columns(pipeline))


def rows_matrix(pipeline, rows: list[dict], names: list[str]):
    """Rows (validated: numbers, booleans, text, None) as the pipeline's matrix, its
    categories read from the pipeline itself (the worker has the artifact, not the schema)."""
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
