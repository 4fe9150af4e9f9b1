"""A batch CSV's structure checked while its bytes stream by, and where to cut it into chunks.

The web process hands BatchScan the upload's raw pieces as they arrive (feed), on their way
to GridFS; finish() then says the header, the delimiter, the rows and the byte range of each
chunk of `chunk_rows` data records, so that a worker reads its chunk's range directly. Held in
memory: the incomplete last line (or the record still inside quotes), the first 64 KB until
the delimiter is decided, and the chunk table; never the file.

The rules are reading.Table's (predictor/tabular/reading.py), with its messages: UTF-8 with
or without a BOM, the delimiter sniffed once on the first lines, the header the first record
that is not blank, no empty or repeated name. Records differ in three ways, each a choice for
speed or for the scorer:

- Lines end in \\n or \\r\\n. Bytes are split on \\n only (0x0A never occurs inside a UTF-8
  sequence), so a CR alone does not end a line: a file with CRs and no LF in its first 64 KB
  (an old Mac file) is refused, and so is a record with a CR alone outside quotes.
- A record goes on over line ends while its count of '"' is odd (a quoted field holding a
  line break; doubled quotes keep the count even). Its fields are counted as delimiters + 1
  when it has no quote, else by the csv module (strict).
- A record with FEWER fields than the header is let through (the scorer reports it per row);
  one with more is refused with the line it starts on.
"""

import codecs
import csv
import io
from dataclasses import dataclass

import numpy as np

from predictor.tabular import reading
from predictor.tabular.reading import CSVRefused, CSVTooLarge, refused

SNIFF_BYTES = 64 * 1024
SNIFF_LINES = 20
# A line with no line break in it (or a record whose quote never closes) is refused past this
# many bytes, rather than held whole while waiting for its end.
MAX_LINE_BYTES = reading.MAX_LINE_CHARS
_QUOTE = b'"'
_LF = 0x0A


@dataclass(frozen=True)
class ChunkSpan:
    """Chunk of data records: raw[start:end] holds exactly its `rows` records (and any blank
    lines among them); first_line is the file's line the first record starts on."""

    start: int
    end: int
    first_line: int
    rows: int


@dataclass(frozen=True)
class ScanResult:
    header: list[str]
    delimiter: str
    bom: bool
    rows: int
    size: int
    chunks: list[ChunkSpan]


class BatchScan:
    """feed() the raw bytes as they arrive, then finish(). Both raise CSVRefused (CSVTooLarge
    past max_bytes or max_columns) at the first fault, naming the line."""

    def __init__(self, *, chunk_rows: int, max_bytes: int, max_columns: int = 10_000):
        if chunk_rows < 1:
            raise ValueError("chunk_rows must be at least 1")
        self._chunk_rows = chunk_rows
        self._max_bytes = max_bytes
        self._max_columns = max_columns
        self._size = 0  # bytes fed
        self._started = False  # the first bytes looked at: a workbook's signature, a BOM
        self._bom = False
        # The byte layer: the incomplete last line, where it starts, how many \n came before.
        self._tail = bytearray()
        self._tail_start = 0
        self._newlines = 0
        # Until the delimiter is decided: the complete lines so far, and where they start.
        self._delimiter: str | None = None
        self._sep = b","
        self._sample: bytearray | None = bytearray()
        self._sample_start = 0
        self._sample_lines = 0
        # The record layer: the line it is at (the file's numbering), the header's width, a
        # record open over lines (its lines, quotes, bytes, start, first line).
        self._line = 1
        self._header: list[str] | None = None
        self._most = 0  # delimiters a quote-free record may have: the header's width - 1
        self._open: list[bytes] | None = None
        self._open_quotes = 0
        self._open_bytes = 0
        self._open_start = 0
        self._open_line = 0
        # The chunk table: (offset, line) of each chunk's first record; records the last
        # chunk can still take; the end of the last record.
        self._starts: list[tuple[int, int]] = []
        self._left = 0
        self._end = 0
        self._result: ScanResult | None = None

    def chunk_start(self, index: int) -> int | None:
        """Where chunk `index` starts in the file, once the scan has come that far; else None."""
        return self._starts[index][0] if index < len(self._starts) else None

    def settled(self) -> int:
        """How far the file is placed: every chunk that starts before this offset is known
        (chunk_start), so the bytes before it belong to a chunk known now, or to none. The
        bytes after it (a line not yet ended, a quoted record still open, the lines held to
        sniff the delimiter) are not placed yet."""
        if self._result is not None:
            return self._size
        if self._sample is not None:
            return self._sample_start
        if self._open is not None:
            return self._open_start
        return self._tail_start

    # --- The bytes ------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        if self._result is not None:
            raise RuntimeError("feed() after finish()")
        if not isinstance(data, bytes):
            data = bytes(data)
        if len(data) > self._max_bytes - self._size:
            raise refused(f"The file is over the limit of {reading._size(self._max_bytes)}.", CSVTooLarge)
        self._size += len(data)
        if not self._started:
            self._tail += data
            if len(self._tail) < 4 and b"\n" not in self._tail:
                return
            data = self._start()
        while self._sample is not None and data:
            # Up to the first SNIFF_BYTES only, so that the sample is of the file's first bytes.
            room = SNIFF_BYTES - (self._tail_start + len(self._tail))
            self._split(data[:room])
            data = data[room:]
            if self._sample_lines >= SNIFF_LINES or self._tail_start + len(self._tail) >= SNIFF_BYTES:
                self._decide(complete=False)
        if data:
            self._split(data)

    def finish(self) -> ScanResult:
        if self._result is not None:
            return self._result
        if not self._started:
            self._tail = bytearray(self._start())  # fewer than 4 bytes, no line break
        if self._sample is not None:
            self._decide(complete=True)
        if self._tail:
            tail, self._tail = bytes(self._tail), bytearray()
            self._lines(tail, self._tail_start, final=True)
        if self._open is not None:
            raise refused(
                f'line {self._open_line}: the file ends inside a quoted field; a quote (") never closes.'
            )
        if self._header is None:
            raise refused(
                "The file is empty."
                if self._size <= len(codecs.BOM_UTF8) * self._bom
                else "The file has only blank lines: there is no header."
            )
        if not self._starts:
            raise refused("The file has a header but no data rows.")
        rows = len(self._starts) * self._chunk_rows - self._left
        ends = [start for start, _ in self._starts[1:]] + [min(self._end, self._size)]
        chunks = [
            ChunkSpan(start=start, end=end, first_line=line, rows=self._chunk_rows)
            for (start, line), end in zip(self._starts, ends, strict=True)
        ]
        chunks[-1] = ChunkSpan(
            start=chunks[-1].start,
            end=chunks[-1].end,
            first_line=chunks[-1].first_line,
            rows=self._chunk_rows - self._left,
        )
        self._result = ScanResult(
            header=self._header,
            delimiter=self._delimiter or ",",
            bom=self._bom,
            rows=rows,
            size=self._size,
            chunks=chunks,
        )
        return self._result

    def _start(self) -> bytes:
        """The file's first bytes (4 at least, or a whole line, or all there is): refused
        when they are a UTF-16 mark or a workbook's signature; a UTF-8 BOM is stepped over.
        Returns the bytes to split into lines."""
        data, self._tail = bytes(self._tail), bytearray()
        self._started = True
        for signature, message in reading._NOT_CSV.items():
            if data.startswith(signature):
                raise refused(message)
        if data.startswith(codecs.BOM_UTF8):
            self._bom = True
            data = data[len(codecs.BOM_UTF8) :]
            self._tail_start = self._sample_start = len(codecs.BOM_UTF8)
        return data

    def _split(self, data: bytes) -> None:
        """Complete lines to the record layer; the rest kept for the next piece."""
        last = data.rfind(b"\n")
        if last < 0:
            self._tail += data
            if len(self._tail) > MAX_LINE_BYTES:
                raise self._too_long()
            return
        block = data[: last + 1]
        if self._tail:
            block = bytes(self._tail) + block
        start = self._tail_start
        self._tail = bytearray(data[last + 1 :])
        self._tail_start = start + len(block)
        self._newlines += block.count(b"\n")
        if len(self._tail) > MAX_LINE_BYTES:
            raise self._too_long()
        self._lines(block, start)

    def _too_long(self) -> CSVRefused:
        return refused(
            f"line {self._newlines + 1} is over {MAX_LINE_BYTES:,} bytes long; "
            "this does not look like a CSV table."
        )

    def _decide(self, complete: bool) -> None:
        """The delimiter, sniffed on the first lines held; then those lines read as records."""
        held, self._sample = bytes(self._sample or b""), None
        if not held and b"\r" in self._tail:
            where = "in the file" if complete else f"in the first {SNIFF_BYTES // 1024} KB"
            raise refused(
                "The lines end with a carriage return (CR) alone, as in old Mac files: there is no "
                f"line feed (LF) {where}, so all of it reads as line 1. Save the file with LF or "
                "CRLF (Windows) line ends and upload it again."
            )
        try:
            text = held.decode()
        except UnicodeDecodeError as error:  # sniffed on the lines before; refused when read
            text = held[: held.rfind(b"\n", 0, error.start) + 1].decode()
            complete = False
        # Lines as reading.Table sniffs them: ended by \n, \r\n or \r. (A CR alone outside quotes,
        # refused below with its line, would otherwise fail the csv module for every delimiter.)
        lines = io.StringIO(text, newline="").readlines()
        if len(lines) > SNIFF_LINES:
            lines, complete = lines[:SNIFF_LINES], False
        elif self._tail and len(lines) < SNIFF_LINES:
            # The last line (at the end), or the start of one (the first 64 KB have few lines).
            lines += io.StringIO(bytes(self._tail).decode(errors="ignore"), newline="").readlines()
        elif self._tail:
            complete = False
        self._delimiter = reading.sniff(lines, complete)
        self._sep = self._delimiter.encode()
        if held:
            self._lines(held, self._sample_start)

    # --- The records ----------------------------------------------------------------------

    def _lines(self, block: bytes, start: int, final: bool = False) -> None:
        """Complete lines, each ending with \\n (`final`: the file's last line, without)."""
        if self._sample is not None:
            self._sample += block
            self._sample_lines += block.count(b"\n")
            return
        if not block.isascii():
            try:
                block.decode()
            except UnicodeDecodeError as error:
                before = self._line - 1
                good = block.rfind(b"\n", 0, error.start) + 1
                if good:
                    self._lines(block[:good], start)  # a fault on an earlier line comes first
                raise reading._not_utf8(error, start, before) from None
        if (
            len(self._sep) == 1
            and self._header is not None
            and self._open is None
            and _QUOTE not in block
            and block.isascii()
            and self._most  # a table of one column: each line has no delimiter, the lines way
            and (b"\r" not in block or block.count(b"\r") == block.count(b"\r\n"))
            and self._plain_block(block, start, final)
        ):
            return
        lines = block.split(b"\n")
        if not final:
            lines.pop()
        if (
            self._header is None
            or self._open is not None
            or _QUOTE in block
            or block.count(b"\r") != block.count(b"\r\n")
            or max(map(len, lines), default=0) > csv.field_size_limit()  # as the csv module reads
        ):
            self._mixed(lines, start)
        else:
            self._plain(lines, start)

    def _plain_block(self, block: bytes, pos: int, final: bool) -> bool:
        """_plain for a block of ASCII lines, a column of numbers at a time (numpy), not a
        line at a time: the same records, chunk starts and refusals. False (nothing done) for
        a block with a line longer than the csv module takes, which the careful way refuses."""
        data = np.frombuffer(block, dtype=np.uint8)
        breaks = np.flatnonzero(data == _LF)
        ends = np.append(breaks, len(block)) if final and not block.endswith(b"\n") else breaks
        if not len(ends):
            return True
        begins = np.empty_like(ends)
        begins[0], begins[1:] = 0, ends[:-1] + 1
        if int((ends - begins).max()) > csv.field_size_limit():
            return False
        # Per line: its delimiters (how many of them lie before its start, and before the next's).
        at = np.searchsorted(np.flatnonzero(data == self._sep[0]), np.append(begins, len(block)))
        delimiters = np.diff(at)
        wide = np.flatnonzero(delimiters > self._most)
        if len(wide):
            self._plain_block(block[: int(begins[wide[0]])], pos, final=False)  # the lines before count
            number = self._line
            raise self._too_wide(int(delimiters[wide[0]]) + 1, number, number)
        # A line without a delimiter is a record unless it is blank (rare; one at a time).
        record = delimiters > 0
        for line in np.flatnonzero(~record).tolist():
            record[line] = not _blank_line(block[begins[line] : ends[line]])
        records = np.flatnonzero(record)
        if len(records):
            # A chunk starts at the record `left` records on (the current one has room for
            # that many more), then every chunk_rows records.
            firsts = records[self._left :: self._chunk_rows]
            self._starts.extend(
                zip((pos + begins[firsts]).tolist(), (self._line + firsts).tolist(), strict=True)
            )
            after = len(records) - self._left
            self._left = self._left - len(records) if after <= 0 else -after % self._chunk_rows
            self._end = pos + int(ends[records[-1]]) + 1
        self._line += len(ends)
        return True

    def _plain(self, lines: list[bytes], pos: int) -> None:
        """Lines that are each a whole record, with no quote and no CR but a line end's."""
        sep, most, chunk_rows = self._sep, self._most, self._chunk_rows
        starts, left, end, number = self._starts, self._left, self._end, self._line
        for line in lines:
            after = pos + len(line) + 1
            delimiters = line.count(sep)
            if delimiters > most:
                raise self._too_wide(delimiters + 1, number, number)
            if delimiters or not _blank_line(line):
                if not left:
                    starts.append((pos, number))
                    left = chunk_rows
                left -= 1
                end = after
            pos = after
            number += 1
        self._left, self._end, self._line = left, end, number

    def _mixed(self, lines: list[bytes], pos: int) -> None:
        """Lines of any kind: the header, records with quotes, records over several lines.
        A run of lines that are each a whole record goes to the csv module in one go."""
        run: list[bytes] = []
        run_pos = pos
        for line in lines:
            after = pos + len(line) + 1
            if self._open is not None:
                self._open.append(line)
                self._open_quotes += line.count(_QUOTE)
                self._open_bytes += len(line) + 1
                if not self._open_quotes & 1:
                    parts, self._open = self._open, None
                    self._record(parts, self._open_start, self._open_line, self._line, after)
                elif self._open_bytes > MAX_LINE_BYTES:
                    raise refused(
                        f"line {self._open_line}: a quoted field runs on for over {MAX_LINE_BYTES:,} "
                        'bytes; a quote (") that never closes is the usual cause.'
                    )
                self._line += 1
            else:
                quotes = line.count(_QUOTE)
                if quotes & 1:
                    if run:
                        self._run(run, run_pos)
                        run = []
                    self._open, self._open_quotes, self._open_bytes = [line], quotes, len(line) + 1
                    self._open_start, self._open_line = pos, self._line
                    self._line += 1
                elif self._header is None:
                    self._record([line], pos, self._line, self._line, after)
                    self._line += 1
                else:
                    if not run:
                        run_pos = pos
                    run.append(line)
            pos = after
        if run:
            self._run(run, run_pos)

    def _run(self, run: list[bytes], pos: int) -> None:
        """Lines that are each a whole record (an even count of quotes), from self._line on."""
        reader = csv.reader(
            b"\n".join(run).decode().split("\n"),
            delimiter=self._delimiter or ",",
            quotechar='"',
            doublequote=True,
            strict=True,
        )
        width, chunk_rows, starts = self._most + 1, self._chunk_rows, self._starts
        left, end, number, done = self._left, self._end, self._line, 0
        try:
            for row in reader:
                if reader.line_num != done + 1 or len(row) > width:
                    break  # a row over several lines (a stray quote), or too wide
                after = pos + len(run[done]) + 1
                if len(row) > 1 or (row and row[0].strip()):  # not reading._blank(row)
                    if not left:
                        starts.append((pos, number))
                        left = chunk_rows
                    left -= 1
                    end = after
                pos, number, done = after, number + 1, done + 1
        except csv.Error:
            pass
        self._left, self._end, self._line = left, end, number
        # Where the csv module stopped, each line on its own: what is wrong, and on which line.
        for line in run[done:]:
            after = pos + len(line) + 1
            self._record([line], pos, self._line, self._line, after)
            pos = after
            self._line += 1

    def _record(self, parts: list[bytes], start: int, first: int, last: int, end: int) -> None:
        """One record read by the csv module: `parts` its lines from `first` to `last`."""
        reader = csv.reader(
            [part.decode() + "\n" for part in parts],
            delimiter=self._delimiter or ",",
            quotechar='"',
            doublequote=True,
            strict=True,
        )
        try:
            rows = list(reader)
        except csv.Error as error:
            raise self._broken(error, first, first + reader.line_num - 1, last) from None
        if len(rows) > 1:  # a quote inside an unquoted field: the count of quotes was off
            raise _stray_quote(first, last)
        if not rows or reading._blank(rows[0]):
            return
        row = rows[0]
        if self._header is None:
            self._take_header(row, first)
            return
        if len(row) > self._most + 1:
            raise self._too_wide(len(row), first, last)
        if not self._left:
            self._starts.append((start, first))
            self._left = self._chunk_rows
        self._left -= 1
        self._end = end

    def _take_header(self, row: list[str], line: int) -> None:
        names = [name.strip() for name in row]
        if len(names) > self._max_columns:
            raise refused(
                f"The header (line {line}) has {len(names):,} columns; the limit is {self._max_columns:,}.",
                CSVTooLarge,
            )
        seen: dict[str, int] = {}
        for number, name in enumerate(names, 1):
            if not name:
                raise refused(f"Column {number} has no name in the header (line {line}).")
            if name in seen:
                raise refused(
                    f"Column name {name!r} is used twice in the header (line {line}): "
                    f"columns {seen[name]} and {number}."
                )
            seen[name] = number
        self._header = names
        self._most = len(names) - 1

    def _too_wide(self, fields: int, first: int, last: int) -> CSVRefused:
        where = f"line {first} has" if first == last else f"lines {first}-{last} (one record) have"
        return refused(f"{where} {fields} fields; the header has {self._most + 1}.")

    def _broken(self, error: csv.Error, first: int, line: int, last: int) -> CSVRefused:
        text, line = str(error), min(max(line, first), last)
        if "new-line character" in text:  # the csv module is given lines: a CR alone, outside quotes
            return refused(
                f"line {line}: a carriage return (CR) without a line feed (LF) breaks the line "
                "inside a record; save the file with LF or CRLF (Windows) line ends and upload "
                "it again."
            )
        if "unexpected end of data" in text:  # a quoted field open at the end of the record
            return _stray_quote(first, last)
        return reading._broken(error, line)


def _blank_line(line: bytes) -> bool:
    """A line without a delimiter or quote that is only whitespace: reading._blank's row."""
    return not (line.strip() if line.isascii() else line.decode().strip())


def _stray_quote(first: int, last: int) -> CSVRefused:
    where = f"line {first}" if first == last else f"lines {first}-{last} (one record)"
    return refused(
        f'{where}: a quote (") in the middle of a field opens a quoted field that does not close '
        'where the record ends; put the whole field in quotes and write each quote inside it as "".'
    )
