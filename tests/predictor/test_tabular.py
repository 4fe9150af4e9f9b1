"""predictor.tabular: users' CSV tables checked, profiled and loaded typed."""

import csv
import dataclasses
import importlib.resources
import io
import json
import math

import numpy as np
import pandas as pd
import pytest

from predictor.errors import FieldErrors
from predictor.tabular import (
    BOOLEAN,
    CATEGORY,
    NUMBER,
    CSVRefused,
    CSVTooLarge,
    Limits,
    cell_missing,
    load_frame,
    loading,
    profile_csv,
    profiling,
    reading,
)

PENGUINS = importlib.resources.files("palmerpenguins") / "data"


def penguins(name: str = "penguins.csv") -> bytes:
    return (PENGUINS / name).read_bytes()


def profile_of(data: bytes, **limits) -> profiling.Profile:
    return profile_csv(io.BytesIO(data), limits=Limits(**limits))


def column(profile: profiling.Profile, name: str) -> dict:
    [found] = [column for column in profile.columns if column["name"] == name]
    return found


def refusal(data, kind=CSVRefused, **limits) -> list[str]:
    stream = data if hasattr(data, "read") else io.BytesIO(data)
    with pytest.raises(kind) as raised:
        profile_csv(stream, limits=Limits(**limits))
    return raised.value.errors["file"]


def frame_of(data: bytes, usecols=None) -> pd.DataFrame:
    """The table as a caller loads it: with the profile's columns as stored (JSON)."""
    profile = profile_of(data)
    stored = json.loads(json.dumps(profile.columns))
    return load_frame(io.BytesIO(data), stored, usecols=usecols, delimiter=profile.delimiter)


class Unseekable(io.RawIOBase):
    """An upload read as it arrives: no size known up front."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self._data.readinto(buffer)


class Trickle(Unseekable):
    """A stream that hands out one byte per read."""

    def readinto(self, buffer) -> int:
        return self._data.readinto(memoryview(buffer)[:1])


# --- The Palmer penguins ------------------------------------------------------


def test_it_profiles_the_penguins():
    profile = profile_of(penguins())

    assert profile.rows == 344
    assert profile.delimiter == ","
    assert profile.encoding == "utf-8"
    assert [(c["name"], c["type"]) for c in profile.columns] == [
        ("species", CATEGORY),
        ("island", CATEGORY),
        ("bill_length_mm", NUMBER),
        ("bill_depth_mm", NUMBER),
        ("flipper_length_mm", NUMBER),
        ("body_mass_g", NUMBER),
        ("sex", CATEGORY),
        ("year", NUMBER),
    ]
    assert column(profile, "species") == {
        "name": "species",
        "type": CATEGORY,
        "missing": 0,
        "distinct": 3,
        "values": [["Adelie", 152], ["Gentoo", 124], ["Chinstrap", 68]],
        "top": [["Adelie", 152], ["Gentoo", 124], ["Chinstrap", 68]],
    }
    assert column(profile, "sex")["missing"] == 11
    assert column(profile, "sex")["values"] == [["male", 168], ["female", 165]]


def test_the_penguins_numbers_agree_with_pandas():
    profile = profile_of(penguins())
    table = pd.read_csv(io.BytesIO(penguins()))

    for name in ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"):
        summary, values = column(profile, name), table[name]
        assert summary["missing"] == values.isna().sum(), name
        assert summary["distinct"] == values.nunique(), name
        assert summary["min"] == values.min(), name
        assert summary["max"] == values.max(), name
        assert summary["mean"] == float(f"{values.mean():.6g}"), name
        assert summary["histogram"]["counts"] == np.histogram(values.dropna(), bins=10)[0].tolist(), name
        assert summary["histogram"]["sampled"] is False


def test_the_penguins_bill_length_in_detail():
    bill = column(profile_of(penguins()), "bill_length_mm")

    assert bill["missing"] == 2
    assert (bill["min"], bill["max"], bill["mean"]) == (32.1, 59.6, 43.9219)
    assert bill["integers"] is False
    assert bill["distinct"] == 164
    assert bill["values"] is None  # more than 100 distinct
    assert bill["top"][:2] == [[41.1, 7], [45.2, 6]]
    assert len(bill["top"]) == 10
    assert bill["histogram"]["edges"] == [
        32.1,
        34.85,
        37.6,
        40.35,
        43.1,
        45.85,
        48.6,
        51.35,
        54.1,
        56.85,
        59.6,
    ]
    assert sum(bill["histogram"]["counts"]) == 342


def test_the_penguins_year_is_whole_numbers_with_every_value_listed():
    year = column(profile_of(penguins()), "year")

    assert year["integers"] is True
    assert year["values"] == [[2009.0, 120], [2008.0, 114], [2007.0, 110]]
    assert year["histogram"] == {
        "edges": [2007.0, 2007.2, 2007.4, 2007.6, 2007.8, 2008.0, 2008.2, 2008.4, 2008.6, 2008.8, 2009.0],
        "counts": [110, 0, 0, 0, 0, 114, 0, 0, 0, 120],
        "sampled": False,
    }
    assert column(profile_of(penguins()), "flipper_length_mm")["integers"] is True


def test_the_penguins_preview_is_the_first_five_rows_typed():
    preview = profile_of(penguins()).preview

    assert len(preview) == 5
    assert preview[0] == {
        "species": "Adelie",
        "island": "Torgersen",
        "bill_length_mm": 39.1,
        "bill_depth_mm": 18.7,
        "flipper_length_mm": 181.0,
        "body_mass_g": 3750.0,
        "sex": "male",
        "year": 2007.0,
    }
    assert preview[3] == {
        "species": "Adelie",
        "island": "Torgersen",
        "bill_length_mm": None,
        "bill_depth_mm": None,
        "flipper_length_mm": None,
        "body_mass_g": None,
        "sex": None,
        "year": 2007.0,
    }


def test_the_profile_is_json_as_it_is():
    profile = profile_of(penguins("penguins-raw.csv"))

    text = json.dumps(dataclasses.asdict(profile), allow_nan=False)

    assert json.loads(text)["columns"] == json.loads(json.dumps(profile.columns))


def test_it_profiles_the_raw_penguins_export():
    profile = profile_of(penguins("penguins-raw.csv"))

    assert profile.rows == 344
    assert len(profile.columns) == 17
    # A quoted field holding the delimiter, on every row.
    assert column(profile, "Stage")["values"] == [["Adult, 1 Egg Stage", 344]]
    assert column(profile, "Region") | {"top": None} == {
        "name": "Region",
        "type": CATEGORY,
        "missing": 0,
        "distinct": 1,
        "values": [["Anvers", 344]],
        "top": None,
    }
    assert column(profile, "Clutch Completion")["type"] == BOOLEAN
    assert column(profile, "Clutch Completion")["values"] == [[True, 308], [False, 36]]
    assert column(profile, "Date Egg")["type"] == CATEGORY
    assert column(profile, "Date Egg")["distinct"] == 50
    assert column(profile, "Individual ID")["distinct"] == 190
    assert column(profile, "Sample Number")["integers"] is True
    assert column(profile, "Sex")["values"] == [["MALE", 168], ["FEMALE", 165]]
    assert column(profile, "Delta 15 N (o/oo)")["missing"] == 14
    assert column(profile, "Delta 13 C (o/oo)")["missing"] == 13
    comments = column(profile, "Comments")
    assert comments["type"] == CATEGORY
    assert comments["missing"] == 290
    assert comments["top"][0] == ["Nest never observed with full clutch.", 34]
    assert profile.preview[0]["Comments"] == "Not enough blood for isotopes."
    assert profile.preview[0]["Delta 15 N (o/oo)"] is None


def test_load_frame_types_the_penguins_as_profiled():
    frame = frame_of(penguins())
    expected = pd.read_csv(io.BytesIO(penguins()))

    assert frame.shape == (344, 8)
    assert list(frame.columns) == list(expected.columns)
    assert frame.dtypes.to_dict() == {
        "species": np.dtype(object),
        "island": np.dtype(object),
        "bill_length_mm": np.float64,
        "bill_depth_mm": np.float64,
        "flipper_length_mm": np.float64,
        "body_mass_g": np.float64,
        "sex": np.dtype(object),
        "year": np.float64,
    }
    for name in ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"):
        np.testing.assert_array_equal(frame[name].to_numpy(), expected[name].to_numpy(dtype=float))
    assert frame["species"].tolist() == expected["species"].tolist()
    assert frame["sex"].tolist() == [None if pd.isna(sex) else sex for sex in expected["sex"]]
    assert frame.loc[3, "sex"] is None


def test_load_frame_types_the_raw_penguins_as_profiled():
    data = penguins("penguins-raw.csv")
    profile = profile_of(data)
    frame = frame_of(data)

    assert frame["Clutch Completion"].dtype == np.float64
    assert frame["Clutch Completion"].value_counts().to_dict() == {1.0: 308, 0.0: 36}
    assert frame["Stage"].unique().tolist() == ["Adult, 1 Egg Stage"]
    for summary in profile.columns:
        assert frame[summary["name"]].isna().sum() == summary["missing"], summary["name"]
        present = frame[summary["name"]].dropna()
        assert present.nunique() == summary["distinct"], summary["name"]
        if summary["type"] == CATEGORY:
            assert frame[summary["name"]].dtype == object
            assert all(type(value) is str for value in present)
        else:
            assert frame[summary["name"]].dtype == np.float64


def test_load_frame_takes_only_usecols_in_their_order():
    frame = frame_of(penguins(), usecols=["year", "species"])

    assert list(frame.columns) == ["year", "species"]
    assert frame.iloc[0].tolist() == [2007.0, "Adelie"]
    assert len(frame) == 344


def test_load_frame_refuses_usecols_the_profile_does_not_have():
    with pytest.raises(ValueError, match="beak"):
        frame_of(penguins(), usecols=["year", "beak"])


# --- Encodings ---------------------------------------------------------------


def test_it_reads_a_bom_and_crlf_export():
    data = "\ufeffname,price\r\ncafé,2.5\r\nthé,3\r\n".encode()
    profile = profile_of(data)

    assert profile.encoding == "utf-8-sig"
    assert [c["name"] for c in profile.columns] == ["name", "price"]
    assert column(profile, "name")["values"] == [["café", 1], ["thé", 1]]
    assert column(profile, "price")["values"] == [[2.5, 1], [3.0, 1]]
    assert frame_of(data)["name"].tolist() == ["café", "thé"]


def test_it_refuses_latin1_naming_the_line_and_byte():
    data = "name,price\ntea,2\ncafé,3\n".encode("latin-1")

    assert refusal(data) == [
        "line 3 is not UTF-8 text: byte 21 of the file is 0xE9 ('é' in Windows-1252). "
        "Save the file as UTF-8 (in Excel: CSV UTF-8) and upload it again."
    ]


def test_it_refuses_latin1_in_a_later_read_naming_its_line(monkeypatch):
    monkeypatch.setattr(reading, "READ_BYTES", 5)
    data = b"name,price\n" + b"tea,2\n" * 50 + "café,3\n".encode("cp1252")

    [message] = refusal(data)

    assert message.startswith(f"line 52 is not UTF-8 text: byte {11 + 6 * 50 + 4} of the file is 0xE9")


def test_it_refuses_a_file_that_ends_inside_a_character():
    assert refusal(b"name\ncaf\xc3") == [
        "line 2 is not UTF-8 text: byte 9 of the file is 0xC3 ('Ã' in Windows-1252). "
        "Save the file as UTF-8 (in Excel: CSV UTF-8) and upload it again."
    ]


def test_it_refuses_utf16():
    assert refusal("name\ncafé\n".encode("utf-16")) == [
        "The file is UTF-16 text; save it as UTF-8 (in Excel: CSV UTF-8) and upload it again."
    ]


def test_it_refuses_an_excel_workbook():
    [message] = refusal(b"PK\x03\x04\x14\x00\x06\x00rest of a zip")

    assert "not a CSV" in message


def test_characters_and_line_breaks_split_between_reads_are_read_whole(monkeypatch):
    data = "\ufeffnom;ville\r\nAndré;Zürich\r\nŁucja;Kraków\r\n\r\nJosé;São Paulo\r\n".encode()
    whole = profile_of(data)
    monkeypatch.setattr(reading, "READ_BYTES", 3)

    assert dataclasses.asdict(profile_of(data)) == dataclasses.asdict(whole)
    assert whole.rows == 3
    assert column(whole, "ville")["values"] == [["Kraków", 1], ["São Paulo", 1], ["Zürich", 1]]


@pytest.mark.parametrize("read_bytes", range(1, 12))
def test_a_crlf_split_between_reads_is_one_line_break(monkeypatch, read_bytes):
    monkeypatch.setattr(reading, "READ_BYTES", read_bytes)

    assert refusal(b"a,b\r\n1,2\r\n3,4\r\n5\r\n") == ["line 4 has 1 field; the header has 2."]


def test_a_stream_that_reads_a_byte_at_a_time_is_read_whole():
    data = "\ufeffa,b\r\n1,x\r\n2,y\r\n".encode()

    profile = profile_csv(Trickle(data))

    assert profile.encoding == "utf-8-sig"
    assert [c["name"] for c in profile.columns] == ["a", "b"]
    assert profile.rows == 2


def test_the_raw_penguins_read_a_few_bytes_at_a_time_profile_the_same(monkeypatch):
    data = penguins("penguins-raw.csv")
    whole = dataclasses.asdict(profile_of(data))
    monkeypatch.setattr(reading, "READ_BYTES", 7)

    assert dataclasses.asdict(profile_of(data)) == whole


# --- Delimiters and lines ------------------------------------------------------


def test_it_reads_a_semicolon_european_export():
    data = (
        "Kunde;Betrag;Stadt;Aktiv\n"
        "Müller;12.50;München;ja\n"
        "Schmidt;7.25;Köln, Altstadt;nein\n"
        '"Weber; Söhne";100;"Berlin";ja\n'
    ).encode()

    profile = profile_of(data)

    assert profile.delimiter == ";"
    assert column(profile, "Betrag")["type"] == NUMBER
    assert column(profile, "Betrag")["values"] == [[7.25, 1], [12.5, 1], [100.0, 1]]
    assert column(profile, "Stadt")["values"] == [["Berlin", 1], ["Köln, Altstadt", 1], ["München", 1]]
    assert column(profile, "Kunde")["values"][2] == ["Weber; Söhne", 1]
    # German yes/no are not boolean words.
    assert column(profile, "Aktiv")["type"] == CATEGORY


def test_decimal_commas_are_not_numbers():
    profile = profile_of(b"name;weight\na;1,5\nb;2,25\n")

    assert profile.delimiter == ";"
    assert column(profile, "weight")["type"] == CATEGORY


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_it_sniffs_each_delimiter(delimiter):
    data = delimiter.join(["a", "b", "c"]) + "\n" + delimiter.join(["1", "x y", "2.5"]) + "\n"

    profile = profile_of(data.encode())

    assert profile.delimiter == delimiter
    assert [c["name"] for c in profile.columns] == ["a", "b", "c"]
    assert frame_of(data.encode()).iloc[0].tolist() == [1.0, "x y", 2.5]


def test_commas_inside_quotes_do_not_make_a_tab_file_comma_separated():
    data = b'name\tnote\n"Smith, J"\t"a, b, c"\n"Doe, A"\t"d, e, f"\n'

    profile = profile_of(data)

    assert profile.delimiter == "\t"
    assert column(profile, "name")["values"] == [["Doe, A", 1], ["Smith, J", 1]]


def test_a_one_column_file_is_a_table():
    profile = profile_of(b"city\nParis\nLyon\nParis\n")

    assert profile.delimiter == ","
    assert profile.rows == 3
    assert column(profile, "city")["values"] == [["Paris", 2], ["Lyon", 1]]


def test_blank_lines_are_not_rows():
    data = b"\n\n  \na,b\n1,x\n\n   \n2,y\r\n\r\n3,z\n\n"

    profile = profile_of(data)

    assert [c["name"] for c in profile.columns] == ["a", "b"]
    assert profile.rows == 3
    assert column(profile, "a")["missing"] == 0
    assert frame_of(data)["b"].tolist() == ["x", "y", "z"]


def test_a_quoted_field_may_hold_line_breaks():
    data = b'id,comment\n1,"first line\nsecond line"\n2,"one\r\ntwo"\n3,plain\n'

    profile = profile_of(data)

    assert profile.rows == 3
    assert column(profile, "comment")["values"] == [
        ["first line\nsecond line", 1],
        ["one\r\ntwo", 1],
        ["plain", 1],
    ]
    assert frame_of(data)["comment"].tolist() == ["first line\nsecond line", "one\r\ntwo", "plain"]


def test_old_mac_line_breaks_work():
    profile = profile_of(b"a,b\r1,2\r3,4\r")

    assert profile.rows == 2
    assert column(profile, "b")["values"] == [[2.0, 1], [4.0, 1]]


def test_a_line_without_end_is_refused(monkeypatch):
    monkeypatch.setattr(reading, "MAX_LINE_CHARS", 100)
    monkeypatch.setattr(reading, "READ_BYTES", 64)

    assert refusal(b"a,b\n1,2\n" + b"x" * 500) == [
        "line 3 is over 100 characters long; this does not look like a CSV table."
    ]


# --- Header ----------------------------------------------------------------


def test_the_header_is_the_first_line_that_is_not_blank_and_names_are_stripped():
    profile = profile_of(b"\n\n name , price \nx,1\n")

    assert [c["name"] for c in profile.columns] == ["name", "price"]


def test_a_header_of_numbers_is_a_header():
    profile = profile_of(b"1,2,3\n4,5,6\n")

    assert [c["name"] for c in profile.columns] == ["1", "2", "3"]
    assert profile.rows == 1


def test_it_refuses_an_empty_file():
    assert refusal(b"") == ["The file is empty."]


def test_it_refuses_a_file_of_blank_lines():
    assert refusal(b"\n\r\n   \n\n") == ["The file is empty."]


def test_it_refuses_a_header_with_no_data_rows():
    assert refusal(b"a,b,c\n\n\n") == ["The file has a header but no data rows."]


def test_it_refuses_an_empty_column_name_naming_the_column():
    assert refusal(b"a,,c\n1,2,3\n") == ["Column 2 has no name in the header (line 1)."]


def test_it_refuses_a_duplicate_column_name_naming_both_columns():
    assert refusal(b"\nid,name,Name, name\n1,a,b,c\n") == [
        "Column name 'name' is used twice: columns 2 and 4."
    ]


def test_it_reports_every_header_problem_at_once():
    assert refusal(b"a,b,a,,b\n1,2,3,4,5\n") == [
        "Column name 'a' is used twice: columns 1 and 3.",
        "Column 4 has no name in the header (line 1).",
        "Column name 'b' is used twice: columns 2 and 5.",
    ]


# --- Records ----------------------------------------------------------------


def test_it_refuses_a_row_with_too_many_fields():
    assert refusal(b"a,b,c,d\n1,2,3,4\n1,2,3,4,5\n") == ["line 3 has 5 fields; the header has 4."]


def test_it_refuses_a_row_with_too_few_fields():
    assert refusal(b"a,b,c,d\n1,2,3,4\n\n1,2,3\n") == ["line 4 has 3 fields; the header has 4."]


def test_a_ragged_row_after_a_quoted_line_break_is_named_by_its_physical_line():
    assert refusal(b'a,b\n1,"x\ny"\n2,z,extra\n') == ["line 4 has 3 fields; the header has 2."]


def test_a_ragged_record_over_several_lines_names_them():
    assert refusal(b'a,b\n1,"x\ny",3\n') == ["lines 2-3 (one record) have 3 fields; the header has 2."]


def test_it_refuses_a_quote_that_never_closes():
    assert refusal(b'a,b\n1,2\n3,"open\n4,5\n') == [
        'line 3: the file ends inside a quoted field; a quote (") never closes.'
    ]


@pytest.fixture
def field_limit_of_50():
    limit = csv.field_size_limit(50)
    yield
    csv.field_size_limit(limit)


@pytest.mark.usefixtures("field_limit_of_50")
def test_a_quote_that_never_closes_is_stopped_at_the_field_limit():
    data = b'a,b\n1,2\n3,"open\n' + b"4,5\n" * 30

    assert refusal(data) == [
        'line 3: a field is longer than 50 characters; a quote (") that never closes is the usual cause.'
    ]


def test_it_refuses_text_after_a_closing_quote():
    assert refusal(b'a,b\n1,"x"y\n') == [
        'line 2: a quoted field has text after its closing quote; inside quotes, write a quote as "".'
    ]


def test_quotes_doubled_inside_quotes_and_inside_plain_text_are_kept():
    profile = profile_of(b'size,label\n1,"27"" screen"\n2,5" screen\n')

    assert column(profile, "label")["values"] == [['27" screen', 1], ['5" screen', 1]]


# --- Limits -------------------------------------------------------------------


def test_it_refuses_a_file_over_the_byte_limit_naming_both_sizes():
    data = b"a,b\n" + b"1,2\n" * 50

    assert refusal(data, CSVTooLarge, max_bytes=100) == ["The file is 204 bytes; the limit is 100 bytes."]


def test_it_refuses_a_stream_over_the_byte_limit_while_reading_it():
    data = b"a,b\n" + b"1,2\n" * 50

    assert refusal(Unseekable(data), CSVTooLarge, max_bytes=100) == [
        "The file is over the limit of 100 bytes."
    ]


def test_a_file_of_exactly_the_byte_limit_is_read():
    data = b"a,b\n" + b"1,2\n" * 24

    assert len(data) == 100
    assert profile_csv(Unseekable(data), limits=Limits(max_bytes=100)).rows == 24
    assert profile_of(data, max_bytes=100).rows == 24


def test_the_byte_limit_is_told_in_megabytes_too():
    class Huge(Unseekable):
        def seekable(self):
            return True

        def tell(self):
            return 0

        def seek(self, offset, whence=io.SEEK_SET):
            return 200 * 1024 * 1024 if whence == io.SEEK_END else 0

    assert refusal(Huge(b""), CSVTooLarge) == [
        "The file is 209,715,200 bytes (200 MB); the limit is 104,857,600 bytes (100 MB)."
    ]


def test_it_refuses_more_rows_than_the_limit():
    assert refusal(b"a\n1\n2\n3\n4\n", CSVTooLarge, max_rows=3) == [
        "The file has more than 3 data rows; the limit is 3."
    ]


def test_blank_lines_do_not_count_as_rows_toward_the_limit():
    assert profile_of(b"a\n1\n\n2\n\n3\n\n", max_rows=3).rows == 3


def test_it_refuses_more_columns_than_the_limit():
    assert refusal(b"a,b,c,d\n1,2,3,4\n", CSVTooLarge, max_columns=3) == [
        "The header has 4 columns; the limit is 3."
    ]


def test_a_refusal_for_size_is_a_refusal_by_field():
    with pytest.raises(CSVTooLarge) as raised:
        profile_of(b"a,b\n1,2\n", max_columns=1)

    assert isinstance(raised.value, CSVRefused)
    assert isinstance(raised.value, FieldErrors)


# --- Missing values and types --------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        *("", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "none", "n/a", "na", "#N/A", "?"),
        *("   ", " NA ", "\tnull", "nA", "#n/a", "NONE", "nUlL"),
    ],
)
def test_these_cells_are_missing(text):
    assert cell_missing(text)


@pytest.mark.parametrize("text", ["0", "-", "n.a.", "??", "NA2", "none of these", "nil", "false"])
def test_these_cells_are_not_missing(text):
    assert not cell_missing(text)


def test_missing_cells_are_counted_whatever_their_spelling():
    data = b"x,y\n1,a\n NA ,b\n?,c\n,d\nnull,e\n#N/A,f\n2,g\n"

    x = column(profile_of(data), "x")

    assert x["type"] == NUMBER
    assert x["missing"] == 5
    assert x["values"] == [[1.0, 1], [2.0, 1]]


def test_boolean_words_in_any_case_make_a_boolean_column():
    data = b"flag,i\nyes,1\nNo,2\nTRUE,3\nf,4\nY,5\nn,6\n,7\nT,8\nfalse,9\n"

    flag = column(profile_of(data), "flag")

    assert flag == {
        "name": "flag",
        "type": BOOLEAN,
        "missing": 1,
        "distinct": 2,
        "values": [[False, 4], [True, 4]],
        "top": [[False, 4], [True, 4]],
        # Each value's most frequent spelling, ties to the first in code-point order.
        "spellings": {"false": "No", "true": "T"},
    }
    loaded = frame_of(data)["flag"]
    assert loaded.dtype == np.float64
    np.testing.assert_array_equal(loaded.to_numpy(), [1, 0, 1, 0, 1, 0, np.nan, 1, 0])


def test_a_boolean_preview_is_typed():
    assert profile_of(b"ok,n\nyes,1\nNO,2\n,3\n").preview == [
        {"ok": True, "n": 1.0},
        {"ok": False, "n": 2.0},
        {"ok": None, "n": 3.0},
    ]


def test_zero_one_columns_are_numbers():
    flag = column(profile_of(b"flag\n0\n1\n1\n"), "flag")

    assert flag["type"] == NUMBER
    assert flag["values"] == [[1.0, 2], [0.0, 1]]
    assert flag["integers"] is True


def test_boolean_words_mixed_with_numbers_make_a_category():
    assert column(profile_of(b"flag\nyes\n1\n"), "flag")["type"] == CATEGORY


@pytest.mark.parametrize("odd", ["inf", "-inf", "Infinity", "1e999", "1,000", "1_000", "0x1F", "١٢"])
def test_numbers_that_are_not_finite_decimals_make_a_category(odd):
    data = f'v\n1\n2.5\n"{odd}"\n'.encode()

    v = column(profile_of(data), "v")

    assert v["type"] == CATEGORY
    assert v["values"] == sorted([[odd, 1], ["1", 1], ["2.5", 1]])
    assert frame_of(data)["v"].tolist() == ["1", "2.5", odd]


def test_numbers_may_have_surrounding_whitespace_signs_and_exponents():
    data = "v\n 1 \n-2.5\n+3\n1e3\n.5\n\u00a07\u00a0\n".encode()

    v = column(profile_of(data), "v")

    assert v["type"] == NUMBER
    assert v["values"] == [[-2.5, 1], [0.5, 1], [1.0, 1], [3.0, 1], [7.0, 1], [1000.0, 1]]
    assert v["integers"] is False
    np.testing.assert_array_equal(frame_of(data)["v"].to_numpy(), [1, -2.5, 3, 1000, 0.5, 7])


def test_categories_keep_their_text_stripped():
    data = b"code,n\n 007 ,1\nK1A 0B1,2\n007,3\n"

    code = column(profile_of(data), "code")

    assert code["type"] == CATEGORY
    assert code["values"] == [["007", 2], ["K1A 0B1", 1]]
    assert frame_of(data)["code"].tolist() == ["007", "K1A 0B1", "007"]


def test_a_column_missing_on_every_row_is_a_number_column_with_nothing_in_it():
    data = b"a,empty\n1,\n2,NA\n3, \n"

    empty = column(profile_of(data), "empty")

    assert empty == {
        "name": "empty",
        "type": NUMBER,
        "missing": 3,
        "distinct": 0,
        "values": [],
        "top": [],
        "min": None,
        "max": None,
        "mean": None,
        "integers": True,
        "histogram": None,
    }
    loaded = frame_of(data)["empty"]
    assert loaded.dtype == np.float64
    assert loaded.isna().all()


def test_a_constant_column_has_one_value():
    data = b"a,k\n1,5\n2,5\n3,5\n"

    k = column(profile_of(data), "k")

    assert (k["distinct"], k["values"], k["min"], k["max"], k["mean"]) == (1, [[5.0, 3]], 5.0, 5.0, 5.0)
    # numpy's bins around a single value: [v - 0.5, v + 0.5].
    assert k["histogram"]["edges"] == [4.5, 4.6, 4.7, 4.8, 4.9, 5.0, 5.1, 5.2, 5.3, 5.4, 5.5]
    assert k["histogram"]["counts"] == [0, 0, 0, 0, 0, 3, 0, 0, 0, 0]


def test_a_type_can_change_in_a_later_chunk(monkeypatch):
    monkeypatch.setattr(profiling, "CHUNK_ROWS", 2)
    monkeypatch.setattr(loading, "CHUNK_ROWS", 2)
    data = b"zip,n\n02134,1\n2134,2\n10001,3\n,4\nK1A 0B1,5\n"

    zip_code = column(profile_of(data), "zip")

    assert zip_code["type"] == CATEGORY
    assert zip_code["missing"] == 1
    assert zip_code["values"] == [["02134", 1], ["10001", 1], ["2134", 1], ["K1A 0B1", 1]]
    assert frame_of(data)["zip"].tolist() == ["02134", "2134", "10001", None, "K1A 0B1"]


def test_a_boolean_column_is_a_category_when_a_later_chunk_says_so(monkeypatch):
    monkeypatch.setattr(profiling, "CHUNK_ROWS", 2)

    flag = column(profile_of(b"flag\nyes\nno\n\nmaybe\n"), "flag")

    assert flag["type"] == CATEGORY
    assert flag["values"] == [["maybe", 1], ["no", 1], ["yes", 1]]


def test_chunks_add_up_to_the_whole(monkeypatch):
    data = penguins("penguins-raw.csv")
    whole = dataclasses.asdict(profile_of(data))
    monkeypatch.setattr(profiling, "CHUNK_ROWS", 7)

    assert dataclasses.asdict(profile_of(data)) == whole


# --- Counting ---------------------------------------------------------------


def test_values_are_sorted_by_count_then_value():
    data = b"letter\nb\na\nc\nb\nd\nc\nc\n"

    letter = column(profile_of(data), "letter")

    assert letter["values"] == [["c", 3], ["b", 2], ["a", 1], ["d", 1]]


def test_values_are_listed_up_to_a_hundred_distinct_and_top_is_ten():
    hundred = "v\n" + "".join(f"{i}\n" for i in range(100))
    over = hundred + "100\n"

    listed, unlisted = column(profile_of(hundred.encode()), "v"), column(profile_of(over.encode()), "v")

    assert listed["distinct"] == 100
    assert len(listed["values"]) == 100
    assert unlisted["distinct"] == 101
    assert unlisted["values"] is None
    assert unlisted["top"] == [[float(i), 1] for i in range(10)]


def test_a_high_cardinality_id_column_is_not_counted_past_max_categories():
    data = "id,kind\n" + "".join(f"user-{i},{'ab'[i % 2]}\n" for i in range(20))

    profile = profile_of(data.encode(), max_categories=5)

    assert column(profile, "id")["distinct"] is None
    assert column(profile, "id")["values"] is None
    assert len(column(profile, "id")["top"]) == 10
    assert column(profile, "kind")["distinct"] == 2
    assert column(profile, "kind")["values"] == [["a", 10], ["b", 10]]


def test_counting_stays_bounded_and_keeps_the_frequent_values(monkeypatch):
    monkeypatch.setattr(profiling, "CHUNK_ROWS", 500)
    rows = [f"id-{i}" for i in range(3_000)] + ["busy"] * 40
    data = ("id\n" + "\n".join(rows) + "\n").encode()

    ids = column(profile_of(data), "id")

    assert ids["distinct"] is None
    assert ids["top"][0] == ["busy", 40]


def test_a_number_column_of_many_values_turning_category_late(monkeypatch):
    monkeypatch.setattr(profiling, "CHUNK_ROWS", 500)
    data = ("v\n" + "".join(f"{i}\n" for i in range(3_000)) + "n/a\nunknown\n").encode()

    v = column(profile_of(data), "v")

    assert (v["type"], v["missing"], v["distinct"], v["values"]) == (CATEGORY, 1, None, None)


# --- Numbers --------------------------------------------------------------------


def test_a_histogram_over_few_values_is_exact():
    data = ("v\n" + "".join(f"{i}\n" for i in range(10)) + "9\n").encode()

    histogram = column(profile_of(data), "v")["histogram"]

    assert histogram == {
        "edges": [0.0, 0.9, 1.8, 2.7, 3.6, 4.5, 5.4, 6.3, 7.2, 8.1, 9.0],
        "counts": [1, 1, 1, 1, 1, 1, 1, 1, 1, 2],
        "sampled": False,
    }


def test_a_histogram_over_many_values_is_sampled_and_scaled_to_them():
    data = ("v\n" + "".join(f"{i % 1000}\n" for i in range(25_000)) + "NA\n").encode()

    v = column(profile_of(data), "v")
    again = column(profile_of(data), "v")

    assert v["histogram"]["sampled"] is True
    assert sum(v["histogram"]["counts"]) == 25_000
    assert all(2_100 < count < 2_900 for count in v["histogram"]["counts"])
    assert v["histogram"] == again["histogram"]  # seeded
    assert (v["min"], v["max"], v["mean"], v["missing"]) == (0.0, 999.0, 499.5, 1)


def test_stats_are_rounded_to_six_significant_digits():
    v = column(profile_of(b"v\n0.1234567891\n1.23456789\n10000001\n"), "v")

    assert (v["min"], v["max"], v["mean"]) == (0.123457, 1e7, 3.33333e6)
    # Values are the data, not rounded.
    assert v["values"] == [[0.1234567891, 1], [1.23456789, 1], [10000001.0, 1]]


def test_huge_numbers_do_not_overflow_the_mean():
    v = column(profile_of(b"v\n1e308\n-1e308\n1.5e308\n"), "v")

    assert v["mean"] == 5e307
    assert v["histogram"] is None  # its bins would be wider than the largest float
    json.dumps(v, allow_nan=False)


# --- load_frame ------------------------------------------------------------------


def test_load_frame_reproduces_the_profile_of_a_messy_table():
    data = (
        "\ufeffid;score;ok;city;note;empty\r\n"
        "1; 2.5 ;Yes;Paris;NA;\r\n"
        "\r\n"
        '2;n/a;no;Lyon ;"multi\nline";null\r\n'
        "3;-1e2;Y;?;plain;\r\n"
    ).encode()
    profile = profile_of(data)

    frame = frame_of(data)

    assert profile.delimiter == ";"
    assert [c["type"] for c in profile.columns] == [NUMBER, NUMBER, BOOLEAN, CATEGORY, CATEGORY, NUMBER]
    assert frame.to_dict("list") == {
        "id": [1.0, 2.0, 3.0],
        "score": [2.5, pytest.approx(math.nan, nan_ok=True), -100.0],
        "ok": [1.0, 0.0, 1.0],
        "city": ["Paris", "Lyon", None],
        "note": [None, "multi\nline", "plain"],
        "empty": [pytest.approx(math.nan, nan_ok=True)] * 3,
    }
    for summary in profile.columns:
        assert frame[summary["name"]].isna().sum() == summary["missing"]


def test_load_frame_reads_in_chunks_the_same(monkeypatch):
    data = penguins("penguins-raw.csv")
    whole = frame_of(data)
    monkeypatch.setattr(loading, "CHUNK_ROWS", 10)

    pd.testing.assert_frame_equal(frame_of(data), whole)


def test_numbers_of_a_column_of_many_values_are_read_as_in_one_of_few(monkeypatch):
    monkeypatch.setattr(profiling, "CHUNK_ROWS", 500)
    monkeypatch.setattr(loading, "CHUNK_ROWS", 500)
    cells = [f"{i}.5" for i in range(1_500)] + ["\u00a07\u00a0", " NA ", "  8  "]
    data = ("v\n" + "\n".join(cells) + "\n").encode()

    v = column(profile_of(data), "v")
    frame = frame_of(data)

    assert (v["type"], v["missing"], v["distinct"], v["min"], v["max"]) == (NUMBER, 1, None, 0.5, 1499.5)
    assert frame["v"].tail(3).tolist()[0] == 7.0
    assert math.isnan(frame["v"].tail(3).tolist()[1])
    assert frame["v"].tail(3).tolist()[2] == 8.0


def test_load_frame_refuses_a_value_the_profile_did_not_see():
    columns = profile_of(b"a,b\n1,x\n2,y\n").columns

    with pytest.raises(CSVRefused) as raised:
        load_frame(io.BytesIO(b"a,b\n1,x\n\nlots,y\n"), columns)

    assert raised.value.errors == {
        "file": ["line 4: column 'a' holds 'lots', which is not a number as profiled."]
    }


def test_load_frame_refuses_a_file_without_a_profiled_column():
    columns = profile_of(b"a,b\n1,x\n").columns

    with pytest.raises(CSVRefused) as raised:
        load_frame(io.BytesIO(b"a,c\n1,x\n"), columns)

    assert raised.value.errors == {"file": ["The header has no column 'b'."]}


def test_load_frame_refuses_the_same_broken_rows_as_the_profile():
    columns = [{"name": "a", "type": NUMBER}, {"name": "b", "type": NUMBER}]

    with pytest.raises(CSVRefused) as raised:
        load_frame(io.BytesIO(b"a,b\n1,2\n3\n"), columns)

    assert raised.value.errors == {"file": ["line 3 has 1 field; the header has 2."]}
