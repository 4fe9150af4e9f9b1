"""Rows (JSON-shaped dicts) as the typed frame a pipeline takes, the same way for training
samples, held-out scoring and predictions."""

import numpy as np
import pandas as pd

from .estimators import CATEGORY, NUMBER, categorical_columns


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


def model_input(pipeline, frame: pd.DataFrame):
    """What the pipeline was fitted on: a frame for one fitted on named columns, the plain
    float matrix for one fitted before models had typed features (the first shipped versions)."""
    if hasattr(pipeline, "feature_names_in_"):
        return frame
    return frame.to_numpy(dtype=float)


def pipeline_rows_frame(pipeline, rows: list[dict], names: list[str]):
    """Rows as the pipeline takes them, its categories read from the pipeline itself (the
    worker has the artifact, not the schema)."""
    categorical = categorical_columns(pipeline)
    features = [{"name": name, "type": CATEGORY if name in categorical else NUMBER} for name in names]
    return model_input(pipeline, rows_frame(rows, features))
