"""load_frame: a profiled table read again, typed as its profile says, in chunks of rows."""

from typing import BinaryIO

import numpy as np
import pandas as pd

from . import cells
from .cells import BOOLEAN, CATEGORY, NUMBER
from .profiling import CHUNK_ROWS
from .reading import CSVRefused, Table, gc_paused


def _not_as_profiled(
    texts: np.ndarray, bad: np.ndarray, name: str, kind: str, starts: list[int]
) -> CSVRefused:
    # Only a file other than the one profiled gets here: say where, so that it can be found.
    index = int(np.flatnonzero(bad)[0])
    message = (
        f"line {starts[index]}: column {name!r} holds {texts[index]!r}, which is not a {kind} as profiled."
    )
    return CSVRefused({"file": [message]})


def _typed(raw: np.ndarray, kind: str, name: str, starts: list[int]) -> np.ndarray:
    if kind == NUMBER:
        parsed = cells.numbers_and_missing(raw)
        if parsed is not None:
            return parsed[0]
    texts = cells.stripped(raw)
    missing = cells.missing_mask(texts)
    if kind == NUMBER:
        values = cells.numbers_of(texts)
        raise _not_as_profiled(texts, ~missing & ~np.isfinite(values), name, kind, starts)
    if kind == BOOLEAN:
        bad = ~missing & ~cells.boolean_mask(texts)
        if bad.any():
            raise _not_as_profiled(texts, bad, name, kind, starts)
        values = cells.true_mask(texts).astype(np.float64)
        values[missing] = np.nan
        return values
    if kind == CATEGORY:
        values = np.full(len(texts), None, dtype=object)
        # One str object per distinct value and chunk, not per cell: a category column of a
        # million rows then takes its pointers' memory, not a million strings'.
        codes, uniques = pd.factorize(texts[~missing])
        values[~missing] = uniques[codes]
        return values
    raise ValueError(f"column {name!r} has an unknown type {kind!r}")


def load_frame(
    stream: BinaryIO, columns: list[dict], *, usecols: list[str] | None = None, delimiter: str = ","
) -> pd.DataFrame:
    """The table typed by a Profile's `columns` (as stored, i.e. JSON round-tripped dicts):
    number -> float64 (NaN for missing); boolean -> float64 1.0/0.0/NaN; category -> object
    dtype holding str, or None for missing. Only `usecols` (in that order) when given."""
    kinds = {column["name"]: column["type"] for column in columns}
    names = list(usecols) if usecols is not None else list(kinds)
    unknown = [name for name in names if name not in kinds]
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
                parts[name].append(_typed(matrix[:, positions[name]], kinds[name], name, starts))
    return pd.DataFrame(
        {
            name: pd.Series(
                np.concatenate(parts[name]), dtype=object if kinds[name] == CATEGORY else np.float64
            )
            for name in names
        },
        index=pd.RangeIndex(rows),
        columns=names,
    )
