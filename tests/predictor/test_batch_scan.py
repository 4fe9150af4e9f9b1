"""predictor.batch_scan: a batch CSV's structure checked, and its chunks' byte ranges found,
as its raw bytes stream by in pieces of any size."""

import codecs
import csv
import importlib.resources
import io
import random
import tracemalloc
from itertools import pairwise

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from predictor.batch_scan import MAX_LINE_BYTES, SNIFF_BYTES, BatchScan, ScanResult
from predictor.tabular import reading
from predictor.tabular.reading import CSVRefused, CSVTooLarge

PENGUINS = importlib.resources.files("palmerpenguins") / "data"
BOM = codecs.BOM_UTF8
PIECES = (1, 3, 64 * 1024)
CHUNK_ROWS = (1, 7, 100, 10**9)


def penguins(name: str = "penguins.csv") -> bytes:
    return (PENGUINS / name).read_bytes()


def breast_cancer(**to_csv) -> bytes:
    return load_breast_cancer(as_frame=True).frame.to_csv(index=False, **to_csv).encode()


def quirky_penguins() -> bytes:
    """penguins-raw rewritten as Excel on Windows would: a BOM, CRLF line ends, blank lines
    (before the header too), and comments with quotes, commas and line breaks in them."""
    rows = list(csv.reader(io.StringIO(penguins("penguins-raw.csv").decode(), newline="")))
    rows[3][-1] = 'Nest "A", first visit\r\nsecond visit, no eggs'
    rows[10][-1] = "three\nlines,\n\nwith a blank one"
    rows[11][-1] = '"quoted", all of it'
    rows[200][-1] = "two\r\nlines"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    out.write("\r\n  \r\n")  # the header is on line 3
    for number, row in enumerate(rows):
        writer.writerow(row)
        if number in (5, 6, 120):
            out.write("\r\n")
        if number == 50:
            out.write(" \t \r\n\n")
    out.write("\r\n\r\n")
    return BOM + out.getvalue().encode()


FILES = {
    "penguins": penguins,
    "penguins-raw": lambda: penguins("penguins-raw.csv"),
    "quirky penguins": quirky_penguins,
    "breast cancer": breast_cancer,
    "breast cancer, ';' and decimal commas": lambda: breast_cancer(sep=";", decimal=","),
}


def scan(data: bytes, piece: int = 64 * 1024, chunk_rows: int = 100, **options) -> ScanResult:
    scanner = BatchScan(chunk_rows=chunk_rows, max_bytes=options.pop("max_bytes", 10**9), **options)
    for at in range(0, len(data), piece):
        scanner.feed(data[at : at + piece])
    return scanner.finish()


def feed_pieces(scanner: BatchScan, data: bytes, piece: int, accepted: list[int]) -> None:
    """Feeds the bytes in pieces, noting the size of each piece taken (until one is refused)."""
    for at in range(0, len(data), piece):
        scanner.feed(data[at : at + piece])
        accepted.append(len(data[at : at + piece]))


def refusal(data: bytes, piece: int = 64 * 1024, kind: type[CSVRefused] = CSVRefused, **options) -> str:
    with pytest.raises(kind) as raised:
        scan(data, piece, **options)
    [message] = raised.value.errors["file"]
    assert list(raised.value.errors) == ["file"]
    return message


def blank(row: list[str]) -> bool:
    return not row or (len(row) == 1 and not row[0].strip())


def records(data: bytes, delimiter: str) -> list[tuple[int, list[str]]]:
    """What the csv module reads in the bytes, over them whole: each record that is not blank,
    with the line (counting \\n) it starts on."""
    text = data.decode("utf-8-sig")
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    reader = csv.reader(lines, delimiter=delimiter, quotechar='"', doublequote=True, strict=True)
    found, end = [], 0
    for row in reader:
        start, end = end + 1, reader.line_num
        if not blank(row):
            found.append((start, row))
    return found


def check_spans(data: bytes, result: ScanResult, chunk_rows: int) -> None:
    """Each chunk's bytes, read on their own, are the file's next records: none lost or read twice."""
    whole = records(data, result.delimiter)
    (header_line, header), body = whole[0], whole[1:]
    assert result.header == [name.strip() for name in header]
    assert result.size == len(data)
    assert result.bom == data.startswith(BOM)
    assert result.rows == len(body) == sum(chunk.rows for chunk in result.chunks)
    chunks = result.chunks
    assert [chunk.rows for chunk in chunks[:-1]] == [chunk_rows] * (len(chunks) - 1)
    assert 0 < chunks[-1].rows <= chunk_rows
    assert all(one.end == two.start for one, two in pairwise(chunks))
    assert [row for _, row in records(data[: chunks[0].start], result.delimiter)] == [header]
    assert records(data[chunks[-1].end :], result.delimiter) == []  # only blank lines after
    read = []
    for number, chunk in enumerate(chunks):
        assert data[chunk.start - 1 : chunk.start] == b"\n"  # at a line's start
        assert chunk.first_line == data[: chunk.start].count(b"\n") + 1
        assert chunk.first_line == body[number * chunk_rows][0]
        rows = [row for _, row in records(data[chunk.start : chunk.end], result.delimiter)]
        assert len(rows) == chunk.rows
        read.extend(rows)
    assert read == [row for _, row in body]
    assert header_line < chunks[0].first_line


# --- Chunks ------------------------------------------------------------------------------


@pytest.mark.parametrize("piece", PIECES)
@pytest.mark.parametrize("name", FILES)
def test_chunks_hold_every_record_once_in_order(name, piece):
    data = FILES[name]()
    for chunk_rows in CHUNK_ROWS:
        check_spans(data, scan(data, piece, chunk_rows), chunk_rows)


def test_the_test_files_have_what_they_are_for():
    quirky = quirky_penguins()
    assert quirky.startswith(BOM + b"\r\n")
    assert b'"Nest ""A"", first visit\r\nsecond visit' in quirky
    assert b"\r\n\r\nPAL0708" in quirky  # a blank line between records
    assert quirky.count(b"\n") == quirky.count(b"\r\n") + 4  # LFs alone: 3 in a comment, 1 blank line
    semicolons = breast_cancer(sep=";", decimal=",")
    assert b";" in semicolons
    assert b"," in semicolons
    assert b"." not in semicolons


@pytest.mark.parametrize(
    ("name", "delimiter", "columns"),
    [
        ("penguins", ",", 8),
        ("penguins-raw", ",", 17),
        ("quirky penguins", ",", 17),
        ("breast cancer", ",", 31),
        ("breast cancer, ';' and decimal commas", ";", 31),
    ],
)
def test_delimiter_header_and_bom(name, delimiter, columns):
    result = scan(FILES[name]())
    assert result.delimiter == delimiter
    assert len(result.header) == columns
    assert result.bom == (name == "quirky penguins")
    assert result.header[0] in ("species", "studyName", "mean radius")  # no BOM in the name


@pytest.mark.parametrize("name", FILES)
def test_header_delimiter_and_rows_as_reading_table_reads_them(name):
    data = FILES[name]()
    table = reading.Table(io.BytesIO(data))
    rows = sum(len(chunk) for chunk, _ in table.chunks(1000))
    result = scan(data)
    assert (result.header, result.delimiter, result.rows) == (table.header, table.delimiter, rows)


@pytest.mark.parametrize("name", ["penguins.csv", "penguins-raw.csv"])
def test_rows_as_pandas_counts_them(name):
    data = penguins(name)
    assert scan(data).rows == len(pd.read_csv(io.BytesIO(data))) == 344
    assert scan(quirky_penguins()).rows == 344


@pytest.mark.parametrize("piece", PIECES)
def test_first_lines_with_blank_lines_and_records_over_lines(piece):
    data = b'\n\nname,comment\r\nA,"one\r\ntwo"\r\n\r\nB,plain\r\nC,"x\n\ny"\nD,d\n  \n'
    #          1 2 3              4           5      6     7          8     9 10   11   12
    result = scan(data, piece, chunk_rows=1)
    assert [chunk.first_line for chunk in result.chunks] == [4, 7, 8, 11]
    assert result.header == ["name", "comment"]
    assert [data[chunk.start : chunk.end] for chunk in result.chunks] == [
        b'A,"one\r\ntwo"\r\n\r\n',
        b"B,plain\r\n",
        b'C,"x\n\ny"\n',
        b"D,d\n",  # the last: to its record's end, not the blank line after
    ]
    check_spans(data, result, 1)
    assert [(c.first_line, c.rows) for c in scan(data, piece, chunk_rows=3).chunks] == [(4, 3), (11, 1)]


def test_a_file_without_a_line_break_at_its_end():
    data = b"a,b\r\n1,2\r\n3,4"
    result = scan(data, chunk_rows=1)
    assert result.chunks[-1].end == len(data) == result.size
    check_spans(data, result, 1)
    assert scan(b'a,b\n1,"x\ny"', chunk_rows=5).chunks[0].end == 11


def test_fewer_fields_than_the_header_pass():
    lines = penguins().split(b"\n")
    lines[200] = lines[200].rsplit(b",", 2)[0]
    assert scan(b"\n".join(lines)).rows == 344


def test_blank_records_are_those_reading_skips():
    # Whitespace (even a non-breaking space) alone is blank; delimiters alone are a row of
    # empty cells, as reading.Table counts them; so is a quoted empty cell in a wide table.
    data = "a,b\n1,2\n \t\n\u00a0\n,\n\n3,4\n".encode()
    result = scan(data, chunk_rows=10)
    assert result.rows == 3
    one_column = 'name\nx\n\n  \n\u00a0\n""\ny\n'.encode()
    assert scan(one_column).rows == 2
    assert scan(b"a\tb\n1\t2\n\t\n", piece=1).rows == 2


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [("a\tb\tc\n1\t2,5\t3\n", "\t"), ("a|b|c\n1|2|3\n", "|"), ("a;b\n1,5;2,5\n", ";"), ("name\nx\n", ",")],
)
def test_delimiters(text, delimiter):
    assert scan(text.encode(), piece=1).delimiter == delimiter


def test_the_delimiter_is_decided_on_the_first_lines():
    # Sniffed on the first 20 lines: later lines with commas in them are ";" records.
    head = "a;b;c\n" + "1;2;3\n" * 30
    data = (head + "x,y;2;3\n" * 10).encode()
    assert scan(data, piece=1).delimiter == ";"
    assert scan(data).rows == 40
    # A header of more than 64 KB, sniffed on its start.
    names = ";".join(f"column number {n}" for n in range(5000))
    wide = (names + "\n" + ";".join("1" * 5000) + "\n").encode()
    assert len(names) > SNIFF_BYTES
    result = scan(wide, piece=1000)
    assert (result.delimiter, len(result.header), result.rows) == (";", 5000, 1)


CELLS = [
    "",
    " ",
    "7",
    "-0.5",
    "NA",
    "x",
    "a,b",
    "c;d",
    "e\tf",
    "g|h",
    'say "hi"',
    '""',
    "two\nlines",
    "cr\r\nlf",
    "a\rb\nc",
    "\n\n",
    "é",
    "Zürich, CH",
    "  spaced  ",
]


def random_csv(rng: random.Random) -> tuple[bytes, str]:
    """A table csv.writer writes, with blank lines, a BOM and line ends at random."""
    delimiter = rng.choice([",", ";", "\t", "|"])
    columns = rng.randint(2, 5)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=rng.choice(["\n", "\r\n"]))
    out.write(rng.choice(["", "\n", " \r\n"]))
    writer.writerow([f"c{n}" for n in range(columns)])
    for _ in range(rng.randint(1, 30)):
        if rng.random() < 0.15:
            out.write(rng.choice(["\n", "\r\n", "  \n", "\t\n" if delimiter != "\t" else "\n"]))
        width = columns if rng.random() < 0.9 else rng.randint(1, columns)  # fewer fields pass
        writer.writerow([rng.choice(CELLS) for _ in range(width)])
    writer.writerow(["x"] * columns)  # not all rows blank
    text = out.getvalue()
    if rng.random() < 0.5:
        text = text.rstrip("\r\n")  # no line break at the end
    return (BOM if rng.random() < 0.3 else b"") + text.encode(), delimiter


def test_random_tables_in_random_pieces():
    rng = random.Random(20261208)
    for _ in range(400):
        data, delimiter = random_csv(rng)
        scanner, at = BatchScan(chunk_rows=(chunk_rows := rng.randint(1, 8)), max_bytes=len(data)), 0
        while at < len(data):
            size = rng.choice([1, 2, 3, rng.randint(1, 100), 64 * 1024])
            scanner.feed(data[at : at + size])
            at += size
        result = scanner.finish()
        assert result.delimiter == delimiter, data
        check_spans(data, result, chunk_rows)


# --- Refusals ----------------------------------------------------------------------------


def latin1_penguins() -> tuple[bytes, int]:
    lines = penguins().decode().split("\n")
    number = 1 + next(n for n, line in enumerate(lines) if "Biscoe" in line)
    lines[number - 1] = lines[number - 1].replace("Biscoe", "Biscoé", 1)
    return "\n".join(lines).encode("latin-1"), number


@pytest.mark.parametrize("piece", PIECES)
def test_latin1_is_refused_naming_its_line(piece):
    data, number = latin1_penguins()
    message = refusal(data, piece)
    byte = data.index("é".encode("latin-1")) + 1
    assert message.startswith(f"line {number} is not UTF-8 text: byte {byte:,} of the file is 0xE9")
    assert "0xE9 ('é' in Windows-1252)" in message
    assert "Save the file as UTF-8 (in Excel: CSV UTF-8)" in message


@pytest.mark.parametrize("piece", PIECES)
def test_not_utf8_after_the_first_64_kb_and_in_the_header(piece):
    data = penguins("penguins-raw.csv") * 3
    at = data.index(b"Torgersen", 110_000)
    data = data[:at] + b"Torg\xe9rsen" + data[at + 9 :]
    line = data[:at].count(b"\n") + 1
    assert refusal(data, piece).startswith(f"line {line} is not UTF-8 text")
    assert refusal(b"caf\xe9,b\n1,2\n", piece).startswith("line 1 is not UTF-8 text: byte 4 ")
    # Cut inside a character at the end of the file.
    assert refusal("a,b\n1,é".encode()[:-1], piece).startswith("line 2 is not UTF-8 text")


def test_utf8_text_and_a_bom_pass():
    data = BOM + "name,città\nJürgen,Zürich\n李,北京\n".encode()
    for piece in PIECES:
        result = scan(data, piece, chunk_rows=1)
        assert result.header == ["name", "città"]
        assert result.bom
        assert result.rows == 2
        assert result.chunks[0].start == data.index(b"J")


def test_utf16_and_workbooks_are_named():
    assert "UTF-16" in refusal(penguins().decode().encode("utf-16"))
    assert "ZIP archive" in refusal(b"PK\x03\x04" + bytes(range(256)))
    assert "UTF-16" in refusal(b"\xff\xfe", piece=1)


@pytest.mark.parametrize("piece", PIECES)
def test_no_header(piece):
    assert refusal(b"", piece) == "The file is empty."
    assert refusal(BOM, piece) == "The file is empty."
    assert refusal(b"\n\r\n  \n", piece) == "The file has only blank lines: there is no header."
    # A tab alone is two empty names, not a blank line, when it splits the lines best (as in reading).
    assert refusal(b"\n\t\n", piece) == "Column 1 has no name in the header (line 2)."
    assert refusal(b"species,island\n\n\r\n", piece) == "The file has a header but no data rows."


@pytest.mark.parametrize("piece", PIECES)
def test_header_names(piece):
    body = penguins().split(b"\n", 1)[1]
    assert refusal(b"species,,bill\n" + body, piece) == "Column 2 has no name in the header (line 1)."
    assert refusal(b"\n \nspecies,island,  \n", piece) == "Column 3 has no name in the header (line 3)."
    assert refusal(b"species,island, species\n" + body, piece) == (
        "Column name 'species' is used twice in the header (line 1): columns 1 and 3."
    )
    assert scan(b" species , island\nA,B\n", piece).header == ["species", "island"]


@pytest.mark.parametrize("piece", PIECES)
def test_too_many_columns(piece):
    header = ",".join(f"c{n}" for n in range(11)).encode()
    data = b"\n" + header + b"\n" + b",".join([b"1"] * 11) + b"\n"
    message = refusal(data, piece, kind=CSVTooLarge, max_columns=10)
    assert message == "The header (line 2) has 11 columns; the limit is 10."
    assert len(scan(data, piece, max_columns=11).header) == 11


@pytest.mark.parametrize("piece", PIECES)
def test_a_record_with_more_fields_than_the_header(piece):
    lines = penguins().split(b"\n")
    lines[199] += b",extra"
    assert refusal(b"\n".join(lines), piece) == "line 200 has 9 fields; the header has 8."
    raw = penguins("penguins-raw.csv").split(b"\n")
    raw[299] += b',"one\nmore"'
    assert refusal(b"\n".join(raw), piece) == "lines 300-301 (one record) have 18 fields; the header has 17."
    raw = penguins("penguins-raw.csv").split(b"\n")
    raw[9] = raw[9].replace(b"Torgersen", b"Torg,ersen")
    assert refusal(b"\n".join(raw), piece) == "line 10 has 18 fields; the header has 17."


@pytest.mark.parametrize("piece", PIECES)
def test_a_quote_open_at_the_end(piece):
    lines = penguins().split(b"\n")
    lines[299] = lines[299].replace(b",", b',"', 1)
    assert refusal(b"\n".join(lines), piece) == (
        'line 300: the file ends inside a quoted field; a quote (") never closes.'
    )
    assert refusal(b'a,b\r\n1,"2\r\n', piece).startswith("line 2: the file ends inside a quoted field")


def test_a_quote_that_never_closes_is_refused_before_the_end():
    lines = penguins().split(b"\n")
    lines[4] = lines[4].replace(b"Torgersen", b'"Torgersen', 1)
    data = b"\n".join(lines) + penguins().split(b"\n", 1)[1] * (2 * MAX_LINE_BYTES // len(penguins()))
    accepted: list[int] = []
    with pytest.raises(CSVRefused) as raised:
        feed_pieces(BatchScan(chunk_rows=100, max_bytes=10**9), data, 64 * 1024, accepted)
    assert sum(accepted) <= MAX_LINE_BYTES + 64 * 1024 < len(data)
    assert raised.value.errors["file"] == [
        f"line 5: a quoted field runs on for over {MAX_LINE_BYTES:,} bytes; "
        'a quote (") that never closes is the usual cause.'
    ]


@pytest.mark.parametrize("piece", PIECES)
def test_broken_quotes_name_their_line(piece):
    head = b"name,comment\n" + b"a,b\n" * 5
    assert refusal(head + b'c,"said "hi""\n', piece) == (
        'line 7: a quoted field has text after its closing quote; inside quotes, write a quote as "".'
    )
    stray = refusal(head + b'5" tall,"x\n' + b"a,b\n" * 3, piece)
    assert stray.startswith('line 7: a quote (") in the middle of a field opens a quoted field')
    assert stray.endswith('put the whole field in quotes and write each quote inside it as "".')
    assert refusal(head + b'5" tall,x\n"more",lines"\n', piece).startswith("lines 7-8 (one record): a quote")
    # Doubled quotes are quotes.
    result = scan(head + b'c,"said ""hi"", twice"\nd,""""\n', piece, chunk_rows=1)
    assert result.rows == 7
    assert result.chunks[-1].first_line == 8


@pytest.mark.parametrize("piece", PIECES)
def test_old_mac_line_ends(piece):
    message = refusal(penguins().replace(b"\n", b"\r"), piece)
    assert message.startswith("The lines end with a carriage return (CR) alone")
    assert "line 1" in message
    assert message.endswith("Save the file with LF or CRLF (Windows) line ends and upload it again.")
    # A CR alone inside a record, outside quotes, in a file that has LFs.
    data = b"a,b\r\n1,2\r\n3,4\r5,6\r\n"
    assert refusal(data, piece).startswith("line 3: a carriage return (CR) without a line feed (LF)")
    data = b'a,b\r\n1,"2\r\n3",4\r5\r\n'  # in a record over lines, after its quotes close
    assert refusal(data, piece).startswith("line 3: a carriage return (CR) without a line feed (LF)")
    assert scan(b'a,b\r\n1,"2\r3"\r\n', piece).rows == 1  # inside quotes, it is text
    # Among the lines the delimiter is sniffed on, too.
    assert refusal(b"a\tb\n1\t2\r3\n", piece).startswith("line 2: a carriage return (CR) without")


def test_old_mac_line_ends_are_refused_within_the_first_64_kb():
    data = (penguins("penguins-raw.csv") * 4).replace(b"\n", b"\r")
    accepted: list[int] = []
    with pytest.raises(CSVRefused) as raised:
        feed_pieces(BatchScan(chunk_rows=100, max_bytes=10**9), data, 1000, accepted)
    assert sum(accepted) < SNIFF_BYTES
    assert "no line feed (LF) in the first 64 KB" in raised.value.errors["file"][0]


def test_too_large_as_soon_as_the_limit_is_passed():
    data = penguins()
    for piece in (1, 1000):
        accepted: list[int] = []
        with pytest.raises(CSVTooLarge) as raised:
            feed_pieces(BatchScan(chunk_rows=100, max_bytes=len(data) - 1), data, piece, accepted)
        # Refused with the piece that goes past the limit: every byte before it was taken.
        assert sum(accepted) == (len(data) - 1 if piece == 1 else len(data) // piece * piece)
        assert raised.value.errors == {"file": [f"The file is over the limit of {len(data) - 1:,} bytes."]}
    assert scan(data, 1, max_bytes=len(data)).rows == 344
    big = 3 * 1024 * 1024
    with pytest.raises(CSVTooLarge) as raised:
        BatchScan(chunk_rows=1, max_bytes=big).feed(b"x" * (big + 1))
    assert raised.value.errors["file"] == ["The file is over the limit of 3,145,728 bytes (3 MB)."]


def test_a_line_without_end():
    scanner = BatchScan(chunk_rows=1, max_bytes=10**9)
    scanner.feed(b"a,b\n1,2\n")
    accepted: list[int] = []
    with pytest.raises(CSVRefused) as raised:
        feed_pieces(scanner, b"x" * (MAX_LINE_BYTES + 64 * 1024), 64 * 1024, accepted)
    assert sum(accepted) == MAX_LINE_BYTES  # refused with the first byte past the bound
    assert raised.value.errors["file"] == [
        f"line 3 is over {MAX_LINE_BYTES:,} bytes long; this does not look like a CSV table."
    ]


def test_the_first_fault_is_the_one_refused():
    lines = penguins().split(b"\n")
    lines[4] += b",extra"
    lines[8] = lines[8].replace(b"Adelie", b"Ad\xe9lie")
    data = b"\n".join(lines)
    for piece in PIECES:
        assert refusal(data, piece) == "line 5 has 9 fields; the header has 8."


def test_feeding_after_the_end():
    scanner = BatchScan(chunk_rows=1, max_bytes=100)
    scanner.feed(b"a,b\n1,2\n")
    result = scanner.finish()
    assert scanner.finish() is result
    with pytest.raises(RuntimeError):
        scanner.feed(b"3,4\n")


# --- Memory ------------------------------------------------------------------------------


def test_memory_holds_a_line_not_the_file():
    rng = random.Random(7)
    header, body = breast_cancer().split(b"\n", 1)
    body *= 12 * 1024 * 1024 // len(body)
    scanner = BatchScan(chunk_rows=50_000, max_bytes=10**9)
    tracemalloc.start()
    try:
        scanner.feed(header + b"\n")
        at = 0
        while at < len(body):  # pieces of any size up to 64 KB
            size = rng.randint(1, 64 * 1024)
            scanner.feed(body[at : at + size])
            at += size
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024, peak  # with 12 MB fed
    result = scanner.finish()
    assert result.rows == body.count(b"\n")
    assert len(result.chunks) == -(-result.rows // 50_000)


@pytest.mark.parametrize("seed", range(40))
def test_lines_read_a_block_at_a_time_scan_as_lines_read_one_at_a_time(seed, monkeypatch):
    """_plain_block (numpy, a block at a time) against _plain (a line at a time) on random
    ASCII tables: blank lines, lines of spaces, tabs and CRLFs, short records, now and then a
    record too wide; the same chunks, or the same refusal."""
    rng = random.Random(seed)
    pieces = ["a,b,c\n"]
    for _ in range(rng.randint(0, 400)):
        shape = rng.random()
        if shape < 0.1:
            pieces.append(rng.choice(["\n", " \n", "\t \r\n", "\x0b\n", " , \n", ",\n"]))
        elif shape < 0.12 and seed % 4 == 0:
            pieces.append("1,2,3,4\n")  # too wide: refused
        else:
            cells = [str(rng.randint(0, 99)) for _ in range(rng.choice([1, 2, 3, 3, 3]))]
            pieces.append(",".join(cells) + rng.choice(["\n", "\r\n"]))
    data = "".join(pieces).encode()
    if rng.random() < 0.5:
        data = data.rstrip(b"\r\n")  # the last line without its break

    def scanned(piece, chunk_rows):
        try:
            return scan(data, piece=piece, chunk_rows=chunk_rows)
        except CSVRefused as refusal:
            return str(refusal)

    for piece, chunk_rows in [(7, 1), (100, 3), (64 * 1024, 7), (64 * 1024, 10**9)]:
        by_blocks = scanned(piece, chunk_rows)
        with monkeypatch.context() as patch:
            patch.setattr(BatchScan, "_plain_block", lambda *args: False)
            by_lines = scanned(piece, chunk_rows)
        assert by_blocks == by_lines, (seed, piece, chunk_rows)
