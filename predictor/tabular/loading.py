"""load_frame: a profiled table read again, typed as its profile says, in chunks of rows."""

from typing import BinaryIO

import numpy as np
import pandas as pd

from . import cells
from .cells import BOOLEAN, CATEGORY, NUMBER
from .profiling import CHUNK_ROWS
from .reading import CSVRefused, Table, gc_paused


def _typed_distinct(texts: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """The distinct raw texts typed, and which of them are not of the kind."""
    texts = cells.stripped(texts)
    missing = cells.missing_mask(texts)
    if kind == NUMBER:
        values = cells.numbers_of(texts)
        bad = ~missing & ~np.isfinite(values)
    elif kind == BOOLEAN:
        bad = ~missing & ~cells.boolean_mask(texts)
        values = cells.true_mask(texts).astype(np.float64)
    elif kind == CATEGORY:
        bad = np.zeros(len(texts), dtype=bool)
        values = texts
    else:
        raise ValueError(f"unknown column type {kind!r}")
    values[missing] = None if kind == CATEGORY else np.nan
    return values, bad


def _typed(raw: np.ndarray, column: dict, starts: list[int]) -> np.ndarray:
    kind = column["type"]
    if kind == NUMBER and column.get("distinct") is None:
        # Many distinct numbers: parsing every cell costs less than tallying them first.
        parsed = cells.numbers_and_missing(raw)
        if parsed is not None:
            return parsed[0]
    # Each distinct text typed once. A category column then holds one str object per
    # distinct value and chunk, not one per cell: a million rows take their pointers' memory.
    codes, distinct = pd.factorize(raw)
    values, bad = _typed_distinct(np.asarray(distinct, dtype=object), kind)
    if bad.any():
        # Only a file other than the one profiled gets here: say where, so that it can be found.
        row = int(np.flatnonzero(bad[codes])[0])
        text = f"column {column['name']!r} holds {raw[row]!r}, which is not a {kind} as profiled"
        message = f"line {starts[row]}: {text}."
        raise CSVRefused({"file": [message]})
    return values[codes]


def load_frame(
    stream: BinaryIO, columns: list[dict], *, usecols: list[str] | None = None, delimiter: str = ","
) -> pd.DataFrame:
    """The table typed by a Profile's `columns` (as stored, i.e. JSON round-tripped dicts):
    number -> float64 (NaN for missing); boolean -> float64 1.0/0.0/NaN; category -> object
    dtype holding str, or None for missing. Only `usecols` (in that order) when given."""
    profiled = {column["name"]: column for column in columns}
    names = list(usecols) if usecols is not None else list(profiled)
    unknown = [name for name in names if name not in profiled]
    if unknown:
        raise ValueError(f"usecols names columns the profile does not have: {unknown}")
    if len(set(names)) != len(names):
        raise ValueError(f"usecols names a column twice: {names}")
    table = Table(stream, delimiter=delimiter)
    positions = {name: number for number, name in enumerate(table.header)}
    absent = [name for name in names if name not in positions]
    if absent:
        raise CSVRefused({"file": [f"The header has no column {name!r}." for name in absent]})
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    rows = 0
    with gc_paused():
        for chunk, starts in table.chunks(CHUNK_ROWS, lines=True):
            rows += len(chunk)
            matrix = np.array(chunk, dtype=object)
            for name in names:
                parts[name].append(_typed(matrix[:, positions[name]], profiled[name], starts))
    # Each column joined as its chunks are let go, and kept as it is (copy=False): pandas
    # would otherwise copy the float columns into one block, twice the table at the peak.
    return pd.DataFrame(
        {
            name: pd.Series(
                np.concatenate(parts.pop(name)),
                dtype=object if profiled[name]["type"] == CATEGORY else np.float64,
                copy=False,
            )
            for name in names
        },
        index=pd.RangeIndex(rows),
        columns=names,
        copy=False,
    )
