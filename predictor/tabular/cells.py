"""What one cell's text means: missing, a boolean word, a number, or a category's text.

profile_csv and load_frame both type cells only through these functions, so a table loads
with exactly the types its profile reported. cell_value types one cell of a row to predict
by its feature's schema (the web's batch CSV, the batch scorer).
"""

import math
from itertools import product

import numpy as np
import pandas as pd

NUMBER, CATEGORY, BOOLEAN = "number", "category", "boolean"

MISSING_WORDS = frozenset({"", "na", "n/a", "nan", "null", "none", "#n/a", "?"})
TRUE_WORDS = frozenset({"true", "yes", "t", "y"})
FALSE_WORDS = frozenset({"false", "no", "f", "n"})


def _spellings(words: frozenset[str]) -> frozenset[str]:
    """Every upper/lower-case spelling of the words. Matching these exactly is the same as
    lower-casing first, but lets pandas test a whole column without lower-casing each cell."""
    return frozenset(
        "".join(letters) for word in words for letters in product(*({c.lower(), c.upper()} for c in word))
    )


_MISSING = _spellings(MISSING_WORDS)
_TRUE = _spellings(TRUE_WORDS)
_FALSE = _spellings(FALSE_WORDS)
_BOOLEAN = _TRUE | _FALSE


def cell_missing(text: str) -> bool:
    """Whether a cell counts as missing: empty or a missing-value word, whatever its case,
    once surrounding whitespace is stripped."""
    return text.strip() in _MISSING


def stripped(cells) -> np.ndarray:
    """The cells' text without surrounding whitespace, as an object array."""
    return np.array([cell.strip() for cell in cells], dtype=object)


def missing_mask(texts: np.ndarray) -> np.ndarray:
    """Which of the (stripped) texts are missing, as cell_missing decides."""
    return pd.Series(texts, dtype=object, copy=False).isin(_MISSING).to_numpy()


def boolean_mask(texts: np.ndarray) -> np.ndarray:
    """Which of the (stripped) texts are boolean words."""
    return pd.Series(texts, dtype=object, copy=False).isin(_BOOLEAN).to_numpy()


def all_boolean(texts: np.ndarray) -> bool:
    """Whether every one of the (stripped, present) texts is a boolean word."""
    return bool(boolean_mask(texts).all())


def true_mask(texts: np.ndarray) -> np.ndarray:
    return pd.Series(texts, dtype=object, copy=False).isin(_TRUE).to_numpy()


def boolean_of(text: str) -> bool:
    return text in _TRUE


def numbers_of(texts: np.ndarray) -> np.ndarray:
    """The (stripped, present) texts as float64; NaN or ±inf where a text is no finite number.
    pandas' parser rather than float(): both take decimal notation with a point and an exponent,
    but float() also takes "1_000" and non-ASCII digits, which a CSV number never is."""
    return np.asarray(pd.to_numeric(texts, errors="coerce"), dtype=np.float64)


def numbers_and_missing(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The raw (unstripped) cells as (float64 values, NaN where missing; the missing mask),
    or None when a cell that is not missing is no finite number. The same as stripping each
    cell, then cell_missing and numbers_of, but only the cells the parser (which skips
    surrounding spaces itself) did not take are stripped and looked at one by one."""
    values = numbers_of(raw)
    odd = np.flatnonzero(~np.isfinite(values))
    missing = np.zeros(len(values), dtype=bool)
    if len(odd):
        texts = stripped(raw[odd])
        absent = missing_mask(texts)
        rest = odd[~absent]
        if len(rest):
            again = numbers_of(texts[~absent])
            if not np.isfinite(again).all():
                return None
            values[rest] = again
        missing[odd[absent]] = True
        values[missing] = np.nan
    return values, missing


def all_numbers(texts: np.ndarray) -> np.ndarray | None:
    """The (stripped, present) texts as float64 when every one is a finite number, else None."""
    # Parsing a text that is no number is slow: a category column shows it in its first cells.
    if not np.isfinite(numbers_of(texts[:64])).all():
        return None
    values = numbers_of(texts)
    return values if np.isfinite(values).all() else None


def _number(cell: str) -> tuple[float | None, str | None]:
    try:
        value = float(cell)
    except ValueError:
        return None, f"{_shown(cell)} is not a number."
    if not math.isfinite(value):
        return None, "must be a finite number."
    return value, None


def _boolean(cell: str) -> tuple[bool | None, str | None]:
    word = cell.lower()
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS, None
    return None, f"{_shown(cell)} is not true or false (true/false, yes/no)."


def _shown(cell: str) -> str:
    return '"' + (cell if len(cell) <= 30 else cell[:27] + "...") + '"'


def cell_value(feature: dict, cell: str):
    """(the cell as the API takes it for this feature, None or a problem). A missing cell
    (empty, NA, null...: cell_missing) is None whatever the type; the caller says if the
    feature may not be null."""
    if cell_missing(cell):
        return None, None
    cell = cell.strip()
    kind = feature.get("type", NUMBER)
    if kind == BOOLEAN:
        return _boolean(cell)
    if kind == CATEGORY:
        return cell, None
    return _number(cell)
