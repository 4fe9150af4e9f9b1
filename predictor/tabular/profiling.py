"""profile_csv: a table's columns typed and summed up in one streaming pass, in chunks of
rows, each column's chunk handled whole by pandas rather than cell by cell."""

import math
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pandas as pd

from . import cells
from .cells import BOOLEAN, CATEGORY, NUMBER
from .reading import Limits, Table, gc_paused

DEFAULT_LIMITS = Limits()

CHUNK_ROWS = 50_000
PREVIEW_ROWS = 5
VALUES_AT_MOST = 100
TOP = 10
HISTOGRAM_BINS = 10
SAMPLE_SIZE = 10_000
# Distinct values a column keeps counting exactly, whatever max_categories says: more than
# VALUES_AT_MOST, and more than the 68 spellings of the boolean words.
KEEP_AT_LEAST = 1_000


@dataclass
class Profile:
    """A table's shape: the package docstring describes each column's summary."""

    rows: int
    columns: list[dict]
    preview: list[dict]
    delimiter: str
    encoding: str


def _round(value: float) -> float:
    return float(f"{value:.6g}")


def _tally(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values (in order of first appearance) and how often each occurs."""
    codes, distinct = pd.factorize(values)
    return np.asarray(distinct, dtype=values.dtype), np.bincount(codes, minlength=len(distinct))


class _Counts:
    """Counts per value, exact up to `keep` distinct values. Past that, a chunk's `keep` most
    frequent are merged in and only the `keep` most frequent overall stay, which bounds
    memory and time: counts then are lower bounds, and a value frequent only late may be
    left out."""

    def __init__(self, keep: int):
        self.keep = keep
        self.counts: pd.Series | None = None
        self.overflowed = False

    def add(self, values: np.ndarray, counts: np.ndarray, *, unique: bool = False) -> None:
        """Add `counts` of `values`. Unless `unique`, a value may come more than once: texts
        equal once stripped, or numbers written two ways ("1", "1.0")."""
        tally = pd.Series(counts, index=pd.Index(values, dtype=values.dtype, copy=False), copy=False)
        if not unique and not tally.index.is_unique:
            tally = tally.groupby(level=0, sort=False).sum()
        for merge in (False, True):
            if merge and self.counts is not None:
                tally = self.counts.add(tally, fill_value=0).astype(np.int64)
            if len(tally) > self.keep:
                self.overflowed = True
                tally = tally.nlargest(self.keep)
        self.counts = tally

    def items(self) -> list[tuple]:
        """(value, count) pairs, most frequent first, then by value."""
        if self.counts is None:
            return []
        pairs = zip(self.counts.index.tolist(), self.counts.tolist(), strict=True)
        return sorted(pairs, key=lambda pair: (-pair[1], pair[0]))


class _Sample:
    """A uniform sample without replacement of at most `size` values, seeded: each value gets
    a random key and the smallest keys stay (reservoir sampling, a chunk at a time)."""

    def __init__(self, size: int, seed: int):
        self.size = size
        self.rng = np.random.default_rng(seed)
        self.values = np.empty(0)
        self.keys = np.empty(0)

    def add(self, values: np.ndarray) -> None:
        keys = np.concatenate([self.keys, self.rng.random(len(values))])
        values = np.concatenate([self.values, values])
        if len(values) > self.size:
            kept = np.argpartition(keys, self.size - 1)[: self.size]
            keys, values = keys[kept], values[kept]
        self.keys, self.values = keys, values


class _Column:
    """What one column holds so far, for each type it may still turn out to be."""

    def __init__(self, name: str, keep: int, seed: int):
        self.name = name
        self.missing = 0
        self.present = 0
        self.maybe_boolean = True
        self.maybe_number = True
        self.texts = _Counts(keep)
        self.numbers = _Counts(keep)
        self.low, self.high, self.mean = math.inf, -math.inf, 0.0
        self.integers = True
        self.sample = _Sample(SAMPLE_SIZE, seed)

    def add(self, raw: np.ndarray) -> None:
        """A chunk of the column's cells, as they are in the file."""
        if self.maybe_number and not self.maybe_boolean and self.texts.overflowed:
            # A number column of many distinct values (measurements, ids): tallying its
            # texts first would cost more than parsing every cell.
            parsed = cells.numbers_and_missing(raw)
            if parsed is not None:
                numbers, missing = parsed
                self.missing += int(missing.sum())
                numbers = numbers[~missing]
                if len(numbers):
                    self._add_numbers(*_tally(numbers), unique=True)
                    self.present += len(numbers)
                return
            self._not_numbers()
        # Otherwise every rule applies to the distinct texts only, each weighed by its count:
        # a column of few values costs one pass of hashing.
        texts, counts = _tally(raw)
        texts = cells.stripped(texts)
        missing = cells.missing_mask(texts)
        self.missing += int(counts[missing].sum())
        texts, counts = texts[~missing], counts[~missing]
        if not len(texts):
            return
        if self.maybe_boolean and cells.all_boolean(texts):
            self.maybe_number = False
        else:
            self.maybe_boolean = False
        if self.maybe_number:
            numbers = cells.all_numbers(texts)
            if numbers is None:
                self._not_numbers()
            else:
                self._add_numbers(numbers, counts)
        # Counting a number column's texts only matters if a later chunk makes it a category;
        # once there are too many to count exactly, its top is approximate anyway.
        if not (self.maybe_number and self.texts.overflowed):
            self.texts.add(texts, counts)
        self.present += int(counts.sum())

    def _not_numbers(self) -> None:
        self.maybe_number = False
        self.numbers = self.sample = None

    def _add_numbers(self, numbers: np.ndarray, counts: np.ndarray, *, unique: bool = False) -> None:
        """Numbers, with how often each occurs."""
        count = int(counts.sum())
        self.low = min(self.low, float(numbers.min()))
        self.high = max(self.high, float(numbers.max()))
        # A weighted mean of chunk means of x/n: no sum of finite values can overflow.
        total = self.present + count
        chunk_mean = float(((numbers / count) * counts).sum())
        self.mean = self.mean * (self.present / total) + chunk_mean * (count / total)
        self.integers = self.integers and bool((numbers == np.floor(numbers)).all())
        self.numbers.add(numbers, counts, unique=unique)
        self.sample.add(np.repeat(numbers, counts))

    @property
    def type(self) -> str:
        # A column missing on every row has no type to read; as a number, callers drop it.
        if not self.present or (self.maybe_number and not self.maybe_boolean):
            return NUMBER
        return BOOLEAN if self.maybe_boolean else CATEGORY

    def summary(self, max_categories: int) -> dict:
        kind = self.type
        if kind == NUMBER:
            counts = self.numbers
            pairs = [(float(value), count) for value, count in counts.items()]
        elif kind == BOOLEAN:
            counts = self.texts
            merged = {True: 0, False: 0}
            # Each value's most frequent spelling ("Yes", "TRUE"...): what a model fitted on
            # the file by pandas saw (predictor/frames.py gives it back to imported models).
            spelled: dict[bool, tuple[int, str]] = {}
            for text, count in counts.items():
                value = cells.boolean_of(text)
                merged[value] += count
                best = spelled.get(value)
                # The most frequent; on a tie, the first in code-point order (not chunk order).
                if best is None or count > best[0] or (count == best[0] and text < best[1]):
                    spelled[value] = (count, text)
            pairs = sorted(((v, c) for v, c in merged.items() if c), key=lambda pair: (-pair[1], pair[0]))
        else:
            counts = self.texts
            pairs = counts.items()
        distinct = None if counts.overflowed or len(pairs) > max_categories else len(pairs)
        summary = {
            "name": self.name,
            "type": kind,
            "missing": self.missing,
            "distinct": distinct,
            "values": [list(pair) for pair in pairs]
            if distinct is not None and distinct <= VALUES_AT_MOST
            else None,
            "top": [list(pair) for pair in pairs[:TOP]],
        }
        if kind == NUMBER:
            summary.update(self._number_summary())
        elif kind == BOOLEAN:
            summary["spellings"] = {str(value).lower(): text for value, (_, text) in sorted(spelled.items())}
        return summary

    def _number_summary(self) -> dict:
        if not self.present:
            # Vacuously whole: no value is not.
            return {"min": None, "max": None, "mean": None, "integers": True, "histogram": None}
        return {
            "min": _round(self.low),
            "max": _round(self.high),
            "mean": _round(self.mean),
            "integers": self.integers,
            "histogram": self._histogram(),
        }

    def _histogram(self) -> dict | None:
        if not math.isfinite(self.high - self.low):
            return None  # bins this wide overflow float64
        counts, edges = np.histogram(self.sample.values, bins=HISTOGRAM_BINS, range=(self.low, self.high))
        sampled = self.present > len(self.sample.values)
        if sampled:
            counts = _scaled(counts, self.present)
        return {"edges": [_round(edge) for edge in edges], "counts": counts.tolist(), "sampled": sampled}


def _scaled(counts: np.ndarray, total: int) -> np.ndarray:
    """A sample's bin counts scaled to `total` values, rounded so they still add up to it
    (the largest remainders round up)."""
    exact = counts * (total / counts.sum())
    scaled = np.floor(exact).astype(np.int64)
    short = total - int(scaled.sum())
    scaled[np.argsort(scaled - exact, kind="stable")[:short]] += 1
    return scaled


def _typed(text: str, kind: str):
    text = text.strip()
    if cells.cell_missing(text):
        return None
    if kind == NUMBER:
        return float(cells.numbers_of(np.array([text], dtype=object))[0])
    if kind == BOOLEAN:
        return cells.boolean_of(text)
    return text


def profile_csv(stream: BinaryIO, *, limits: Limits = DEFAULT_LIMITS) -> Profile:
    """One streaming pass over the bytes. Raises CSVRefused / CSVTooLarge."""
    table = Table(stream, limits=limits)
    keep = max(limits.max_categories, KEEP_AT_LEAST)
    columns = [_Column(name, keep, seed=number) for number, name in enumerate(table.header)]
    first: list[list[str]] = []
    rows = 0
    with gc_paused():
        for chunk, _ in table.chunks(CHUNK_ROWS):
            rows += len(chunk)
            first.extend(chunk[: PREVIEW_ROWS - len(first)])
            # One 2-D array is much faster to make than a tuple per column (zip(*chunk)).
            matrix = np.array(chunk, dtype=object)
            for number, column in enumerate(columns):
                column.add(matrix[:, number])
    types = [column.type for column in columns]
    preview = [
        {name: _typed(text, kind) for name, kind, text in zip(table.header, types, row, strict=True)}
        for row in first
    ]
    return Profile(
        rows=rows,
        columns=[column.summary(limits.max_categories) for column in columns],
        preview=preview,
        delimiter=table.delimiter,
        encoding=table.encoding,
    )
