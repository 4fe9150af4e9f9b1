"""A CSV's bytes as checked records: UTF-8 text, lines, the delimiter, the header, then rows
of the header's width in chunks. What cannot be read is refused with the line it is on."""

import codecs
import contextlib
import csv
import gc
import io
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain
from typing import BinaryIO

from predictor.errors import FieldErrors

DELIMITERS = (",", ";", "\t", "|")
READ_BYTES = 1024 * 1024
SNIFF_CHARS = 64 * 1024
# Longer than any real row (500 columns of a few thousand characters); without a bound, a
# file with no line breaks would be held whole while waiting for one.
MAX_LINE_CHARS = 4 * 1024 * 1024

_NOT_CSV = {
    b"\xff\xfe": "The file is UTF-16 text; save it as UTF-8 (in Excel: CSV UTF-8) and upload it again.",
    b"\xfe\xff": "The file is UTF-16 text; save it as UTF-8 (in Excel: CSV UTF-8) and upload it again.",
    b"PK\x03\x04": "The file is a ZIP archive (an Excel .xlsx workbook?), not a CSV; export it as CSV UTF-8.",
    b"\xd0\xcf\x11\xe0": "The file is an Excel .xls workbook, not a CSV; export it as CSV UTF-8.",
}


class CSVRefused(FieldErrors):
    """An upload that is no readable table, with what is wrong and where: a 400."""


class CSVTooLarge(CSVRefused):
    """A table over one of the Limits: a 413."""


@dataclass(frozen=True)
class Limits:
    """What a table may be at most. max_categories: distinct values counted per column."""

    max_bytes: int = 100 * 1024 * 1024
    max_rows: int = 1_000_000
    max_columns: int = 500
    max_categories: int = 1_000


@contextlib.contextmanager
def gc_paused():
    """The cyclic garbage collector off while a table is read. Each chunk keeps 50,000 row
    lists alive, which set off full collections over every object of the process again and
    again: they took half the time. Reading makes no reference cycles to collect."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def refused(message: str, kind: type[CSVRefused] = CSVRefused) -> CSVRefused:
    return kind({"file": [message]})


def _size(count: int) -> str:
    text = f"{count:,} bytes"
    return f"{text} ({count / 1024 / 1024:.4g} MB)" if count >= 1024 * 1024 else text


def _size_left(stream: BinaryIO) -> int | None:
    """The bytes from the stream's position to its end, when it can tell without reading."""
    try:
        if not stream.seekable():
            return None
        here = stream.tell()
        end = stream.seek(0, io.SEEK_END)
        stream.seek(here)
    except (AttributeError, OSError, ValueError):
        return None
    return end - here


class _Text:
    """The stream's lines, UTF-8 decoded, each with its own line break (\\n, \\r\\n or \\r), so
    that the csv module's line_num counts the file's physical lines."""

    def __init__(self, stream: BinaryIO, max_bytes: int | None):
        self._stream = stream
        self._max_bytes = max_bytes
        self._read_bytes = 0
        self.encoding = "utf-8"
        if max_bytes is not None:
            size = _size_left(stream)
            if size is not None and size > max_bytes:
                raise refused(f"The file is {_size(size)}; the limit is {_size(max_bytes)}.", CSVTooLarge)

    def _read(self) -> bytes:
        data = self._stream.read(READ_BYTES) or b""
        self._read_bytes += len(data)
        if self._max_bytes is not None and self._read_bytes > self._max_bytes:
            raise refused(f"The file is over the limit of {_size(self._max_bytes)}.", CSVTooLarge)
        return data

    def _first(self) -> bytes:
        data = self._read()
        while data and len(data) < 4:  # a short read; the signatures below need 4 bytes
            more = self._read()
            if not more:
                break
            data += more
        for signature, message in _NOT_CSV.items():
            if data.startswith(signature):
                raise refused(message)
        return data

    def __iter__(self) -> Iterator[str]:
        data, offset = self._first(), 0
        if data.startswith(codecs.BOM_UTF8):
            self.encoding = "utf-8-sig"
            data, offset = data[len(codecs.BOM_UTF8) :], len(codecs.BOM_UTF8)
        decoder = codecs.getincrementaldecoder("utf-8")("strict")
        newlines, carry = 0, ""
        while True:
            final = not data
            pending = decoder.getstate()[0]
            try:
                text = decoder.decode(data, final)
            except UnicodeDecodeError as error:
                # The error's bytes are the decoder's pending ones (from the previous read,
                # never a line break) followed by this read's.
                raise _not_utf8(error, offset - len(pending), newlines) from None
            offset += len(data)
            newlines += data.count(b"\n")
            lines = io.StringIO(carry + text, newline="").readlines()
            carry = ""
            # The last line may go on in the next read; so may a "\r" that is half of "\r\n".
            if not final and lines and not lines[-1].endswith("\n"):
                carry = lines.pop()
                if len(carry) > MAX_LINE_CHARS:
                    raise refused(
                        f"line {newlines + 1} is over {MAX_LINE_CHARS:,} characters long; "
                        "this does not look like a CSV table."
                    )
            yield from lines
            if final:
                return
            data = self._read()


def _not_utf8(error: UnicodeDecodeError, start: int, newlines: int) -> CSVRefused:
    line = newlines + error.object[: error.start].count(b"\n") + 1
    byte = error.object[error.start]
    as_windows = bytes([byte]).decode("cp1252", errors="replace")
    guess = (
        f" ({as_windows!r} in Windows-1252)" if as_windows.isprintable() and as_windows != "\ufffd" else ""
    )
    return refused(
        f"line {line} is not UTF-8 text: byte {start + error.start + 1:,} of the file is "
        f"0x{byte:02X}{guess}. Save the file as UTF-8 (in Excel: CSV UTF-8) and upload it again."
    )


def _blank(row: list[str]) -> bool:
    return not row or (len(row) == 1 and not row[0].strip())


def _sample(lines: Iterator[str]) -> tuple[list[str], bool]:
    """The first lines, about SNIFF_CHARS of them, and whether they are all there is."""
    sample, size = [], 0
    for line in lines:
        sample.append(line)
        size += len(line)
        if size >= SNIFF_CHARS:
            return sample, False
    return sample, True


def sniff(sample: list[str], complete: bool) -> str:
    """The delimiter that splits the sample's records most consistently into the header's
    number of fields (then: into the most fields; then: the earlier in DELIMITERS); "," when
    none splits the header. csv.Sniffer counts characters outside the csv parser, so a
    delimiter inside quoted text, or a decimal comma in a ";" file, can mislead it."""
    best, best_key = ",", (0.0, 1)
    for delimiter in DELIMITERS:
        try:
            records = [row for row in csv.reader(sample, delimiter=delimiter) if not _blank(row)]
        except csv.Error:
            continue
        if not complete and len(records) > 1:
            records.pop()  # may be cut short by the end of the sample
        if not records or len(records[0]) < 2:
            continue
        width = len(records[0])
        key = (sum(len(row) == width for row in records) / len(records), width)
        if key > best_key:
            best, best_key = delimiter, key
    return best


def _broken(error: csv.Error, line: int) -> CSVRefused:
    text = str(error)
    if "field larger than field limit" in text:
        why = (
            f"a field is longer than {csv.field_size_limit():,} characters; "
            'a quote (") that never closes is the usual cause'
        )
    elif "unexpected end of data" in text:
        why = 'the file ends inside a quoted field; a quote (") never closes'
    elif "expected after" in text:
        why = 'a quoted field has text after its closing quote; inside quotes, write a quote as ""'
    else:
        why = text
    return refused(f"line {line}: {why}.")


class Table:
    """A CSV's header, then its rows in chunks, refusing what is not a table as it goes.
    `delimiter` None: sniffed. `limits` None: no limits (a table already profiled)."""

    def __init__(self, stream: BinaryIO, *, delimiter: str | None = None, limits: Limits | None = None):
        self._limits = limits
        self._text = _Text(stream, limits.max_bytes if limits else None)
        lines: Iterator[str] = iter(self._text)
        if delimiter is None:
            sample, complete = _sample(lines)
            delimiter = sniff(sample, complete)
            lines = chain(sample, lines)
        self.delimiter = delimiter
        # strict: a stray quote is refused with its line rather than read as something else.
        self._reader = csv.reader(lines, delimiter=delimiter, quotechar='"', doublequote=True, strict=True)
        self.header = self._read_header()

    @property
    def encoding(self) -> str:
        return self._text.encoding

    def _read_header(self) -> list[str]:
        reader = self._reader
        end = 0
        try:
            for row in reader:
                end = reader.line_num
                if not _blank(row):
                    break
            else:
                raise refused("The file is empty.")
        except csv.Error as error:
            raise _broken(error, end + 1) from None
        names = [name.strip() for name in row]
        if self._limits and len(names) > self._limits.max_columns:
            raise refused(
                f"The header has {len(names):,} columns; the limit is {self._limits.max_columns:,}.",
                CSVTooLarge,
            )
        errors, seen = [], {}
        for number, name in enumerate(names, 1):
            if not name:
                errors.append(f"Column {number} has no name in the header (line {end}).")
            elif name in seen:
                errors.append(f"Column name {name!r} is used twice: columns {seen[name]} and {number}.")
            else:
                seen[name] = number
        if errors:
            raise CSVRefused({"file": errors})
        return names

    def chunks(self, size: int, *, lines: bool = False) -> Iterator[tuple[list[list[str]], list[int]]]:
        """Lists of at most `size` rows, with (when `lines`) the line each row starts on.
        Blank lines are skipped; a row of another width than the header's is refused."""
        reader, width = self._reader, len(self.header)
        max_rows = self._limits.max_rows if self._limits else None
        rows: list[list[str]] = []
        starts: list[int] = []
        count, end = 0, reader.line_num
        try:
            for row in reader:
                start, end = end + 1, reader.line_num
                if len(row) != width or width == 1:
                    if _blank(row):
                        continue
                    if len(row) != width:
                        where = (
                            f"line {start} has" if start == end else f"lines {start}-{end} (one record) have"
                        )
                        fields = f"{len(row)} field" + ("" if len(row) == 1 else "s")
                        raise refused(f"{where} {fields}; the header has {width}.")
                count += 1
                if max_rows is not None and count > max_rows:
                    raise refused(
                        f"The file has more than {max_rows:,} data rows; the limit is {max_rows:,}.",
                        CSVTooLarge,
                    )
                rows.append(row)
                if lines:
                    starts.append(start)
                if len(rows) == size:
                    yield rows, starts
                    rows, starts = [], []
        except csv.Error as error:
            raise _broken(error, end + 1) from None
        if not count:
            raise refused("The file has a header but no data rows.")
        if rows:
            yield rows, starts
