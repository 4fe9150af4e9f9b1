"""Every CSV the platform writes opens in a spreadsheet without running a formula: a cell
that would start one is written as text (a leading `'`), numbers stay numbers.

The prediction input takes only numbers, so the hostile strings are put straight into
stored jobs (error, model name, labels, feature names), as a worker or an old document
could hold them, and read back through the real downloads."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client

from predictor.csv_cells import cell, writer
from predictor.history.jobs import batch_encode

HYPERLINK = '=HYPERLINK("http://evil","x")'
SUM = "@SUM(1+1)"
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        HYPERLINK,
        SUM,
        "+cmd|' /C calc'!A0",
        "-2+3+cmd|' /C calc'!A0",
        "\t=1+1",
        "\r=1+1",
        "=",
        "-",
        "+",
        "@",
        "=1",  # a formula, not a number
    ],
)
def test_a_cell_that_starts_a_formula_is_written_as_text(value):
    assert cell(value) == "'" + value


@pytest.mark.parametrize(
    "value",
    ["-1.5", "+3", "-1e-05", "-1E+20", "+2.5e3", "-.5", "-5.", "-0", "1.5", "0", "-123456789012345678901"],
)
def test_numbers_written_as_text_stay_numbers(value):
    assert cell(value) == value
    float(value)  # and they are numbers to anyone reading them back


@pytest.mark.parametrize("value", [-1.5, -3, -1e-05, 1e20, 0.0, 7, -(10**30), Decimal("-1.25"), True])
def test_number_values_come_back_as_they_are(value):
    assert cell(value) is value


@pytest.mark.parametrize(
    "value",
    [
        "-inf",
        "-nan",
        "-Infinity",
        "-1.5abc",
        "- 1",
        "--1",
        "-1,5",
        "-1.5 ",
        "+1_000",
        "-\u0661\u0662",  # digits, but not ASCII ones: float() reads them, a spreadsheet does not
        "-0x10",
    ],
)
def test_what_only_looks_like_a_number_after_a_sign_is_text(value):
    assert cell(value) == "'" + value


@pytest.mark.parametrize("value", [" =1+1", "  @SUM(1+1)", "\n=1+1", " -cmd"])
def test_whitespace_before_a_formula_does_not_hide_it(value):
    assert cell(value) == "'" + value


@pytest.mark.parametrize("value", [None, ""])
def test_nothing_stays_nothing(value):
    assert cell(value) is value


@pytest.mark.parametrize(
    "value", ["benign", "mean_radius", "a=b", "x-1", "'=already text", "2024-03-01T12:00:00Z", " x"]
)
def test_safe_text_is_unchanged(value):
    assert cell(value) == value


def test_values_that_are_not_strings_are_judged_as_they_will_be_written():
    class Hostile:
        def __str__(self):
            return HYPERLINK

    assert cell(Hostile()) == "'" + HYPERLINK
    assert cell(float("-inf")) == "'-inf"  # not a number a spreadsheet reads, a formula
    nan = float("nan")
    assert cell(nan) is nan
    assert cell({"label": "=x"}) == {"label": "=x"}  # written as "{'label'...", safe


def read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_the_writer_escapes_every_cell_headers_too_and_keeps_numbers():
    out = io.StringIO()
    rows = writer(out)
    rows.writerow(["row", HYPERLINK, "value"])
    rows.writerows([[1, SUM, -1.5], [2, "-1e-05", -1e-05]])
    assert read(out.getvalue()) == [
        ["row", "'" + HYPERLINK, "value"],
        ["1", "'" + SUM, "-1.5"],
        ["2", "-1e-05", "-1e-05"],
    ]


def test_the_writer_quotes_text_so_a_separator_inside_it_starts_no_cell():
    # Spreadsheets in many locales split on `;`: a bare `x;=1+1` would put =1+1 in a cell.
    out = io.StringIO()
    writer(out).writerow(["x;=1+1", "a\t@SUM(1)", -1.5, 2, None])
    assert out.getvalue() == '"x;=1+1","a\t@SUM(1)",-1.5,2,""\r\n'


def test_the_writer_hands_back_what_its_output_returns_for_streaming():
    class Echo:
        def write(self, value):
            return value

    assert writer(Echo()).writerow(["=1", 2]) == '"\'=1",2\r\n'


# End to end: the real downloads, from documents in the real MongoDB-wire server.


def stored_with_hostile_strings(stored_job, **fields):
    """A finished job whose error and model name would each run a formula, and whose times
    give a negative queue time (started 1.5 s "before" it was created)."""
    return stored_job(
        status="failed",
        model=SUM,
        error=HYPERLINK,
        output={"label": "-cmd"},
        created_at=T0,
        started_at=T0 - timedelta(seconds=1.5),
        completed_at=T0 + timedelta(seconds=2),
        **fields,
    )


def streamed_rows(response) -> list[dict]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.mark.parametrize("where", ["api", "page"])
def test_the_history_export_writes_hostile_strings_as_text_and_numbers_as_numbers(
    where, api, user, stored_job
):
    job = stored_with_hostile_strings(stored_job)
    if where == "api":
        response = api.get("/api/v1/predictions/?format=csv")
    else:
        client = Client()
        client.force_login(user)
        response = client.get("/history.csv")
    [row] = streamed_rows(response)
    assert row["id"] == job.id
    assert row["error"] == "'" + HYPERLINK
    assert row["model"] == "'" + SUM
    assert (float(row["queue_s"]), float(row["predict_s"]), float(row["total_s"])) == (-1.5, 3.5, 2.0)
    assert row["queue_s"] == "-1.5"  # not '-1.5: still a number in the spreadsheet
    assert row["version"] == str(job.version)
    assert json.loads(row["output"]) == {"label": "-cmd"}  # JSON starts with `{`: safe as is
    assert row["completed_at"] == "2024-03-01T12:00:02Z"


def test_a_batchs_results_write_hostile_labels_and_feature_names_as_text(ada, ada_client, stored_job):
    inputs = [{"mean_radius": -1.5, HYPERLINK: 2.0}, {"mean_radius": -1e-05, HYPERLINK: 3.0}]
    outputs = [
        {"label": SUM, "probabilities": {"=evil": 0.75, "benign": 0.25}},
        {"label": "benign", "probabilities": {"=evil": 0.5, "benign": 0.5}},
    ]
    job = stored_job(
        owner=ada, status="succeeded", create={"input": None, "inputs": inputs}, output=batch_encode(outputs)
    )
    response = ada_client.get(f"/history/{job.id}/results.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert read(response.content.decode()) == [
        ["row", "mean_radius", "'" + HYPERLINK, "label", "p_=evil", "p_benign"],
        ["1", "-1.5", "2.0", "'" + SUM, "0.75", "0.25"],
        ["2", "-1e-05", "3.0", "benign", "0.5", "0.5"],
    ]


def test_a_single_rows_result_writes_a_hostile_label_as_text(ada, ada_client, stored_job):
    job = stored_job(owner=ada, status="succeeded", output={"label": HYPERLINK, "probabilities": {"x": 1.0}})
    rows = read(ada_client.get(f"/history/{job.id}/results.csv").content.decode())
    assert rows[0][-2:] == ["label", "p_x"]
    assert rows[1][-2:] == ["'" + HYPERLINK, "1.0"]
    assert [float(value) for value in rows[1][1:-2]]  # the features: numbers


def test_the_batch_template_is_written_through_the_same_cells(ada_client, model_version):
    response = ada_client.get("/predict/template.csv?model=breast_cancer")
    text = response.content.decode()
    header, values = read(text)
    assert header == model_version.feature_names
    assert [float(value) for value in values]
    assert text.startswith(f'"{header[0]}",')  # text quoted, as every writer in api/ does
