"""Batches from CSV on the pages: each problem named by line and column, nothing half-queued;
results and a template back as CSV. (The browser side is tests/pages/test_job_page.py; a CSV
file, scored as a batch file, tests/pages/test_batch_pages.py.)"""

import csv
import io

import pytest
from django.test import Client

from api.batch_csv import batch_errors_named, batch_rows, results_csv

NAMES = [{"name": "a", "type": "number"}, {"name": "b", "type": "number"}]
TYPED = [
    {"name": "island", "type": "category", "nullable": False, "categories": ["Biscoe", "Dream"]},
    {"name": "mass", "type": "number", "nullable": True, "min": 2700.0, "max": 6300.0},
    {"name": "clutch", "type": "boolean", "nullable": True},
]


def test_rows_are_read_by_header_name_in_any_order_with_their_lines():
    rows, lines, errors = batch_rows("b,a\n1,2\n\n3, 4.5\n", NAMES, max_rows=10)
    assert errors == []
    assert rows == [{"b": 1.0, "a": 2.0}, {"b": 3.0, "a": 4.5}]
    # A blank line keeps the numbering of the file.
    assert lines == [2, 4]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a,b\n1,x\n", ['Line 2, column b: "x" is not a number.']),
        (
            "a,b\n1,inf\n2,-1e999\n",
            ["Line 2, column b: must be a finite number.", "Line 3, column b: must be a finite number."],
        ),
        ("a,b\n1,2,3\n", ["Line 2: 3 cells, but the header has 2."]),
        (
            "a,c\n1,2\n",
            ["Line 1 (header): not features of this model: c.", "Line 1 (header): missing features: b."],
        ),
        ("a,a,b\n1,1,2\n", ["Line 1 (header): column a appears twice."]),
        ("", ["The CSV is empty; its first line must name the features."]),
        ("a,b\n", ["The CSV has a header but no rows."]),
        ("a,b\n1,2\n3,4\n5,6\n", ["At most 2 rows per batch; line 4 is row 3."]),
    ],
)
def test_every_problem_names_its_line_and_column(text, expected):
    rows, lines, errors = batch_rows(text, NAMES, max_rows=2)
    assert (rows, lines, errors) == ([], [], expected)


def test_missing_cells_are_none_and_the_submit_says_whether_that_is_allowed():
    # Empty, NA, null, nan... as a dataset's profile reads them (predictor.tabular.cell_missing).
    rows, lines, errors = batch_rows("a,b\n1,\n2,NA\n3, null \nnan,4\n", NAMES, max_rows=10)
    assert errors == []
    assert rows == [
        {"a": 1.0, "b": None},
        {"a": 2.0, "b": None},
        {"a": 3.0, "b": None},
        {"a": None, "b": 4.0},
    ]
    assert lines == [2, 3, 4, 5]


def test_cells_are_read_by_the_type_of_their_feature():
    text = "island,mass,clutch\nBiscoe,3750,Yes\n Atlantis ,,false\nDream,NA,n\n"
    rows, _, errors = batch_rows(text, TYPED, max_rows=10)
    assert errors == []
    assert rows == [
        {"island": "Biscoe", "mass": 3750.0, "clutch": True},
        {"island": "Atlantis", "mass": None, "clutch": False},  # an unseen category is the API's to warn of
        {"island": "Dream", "mass": None, "clutch": False},
    ]


def test_a_boolean_that_is_no_boolean_is_named():
    _, _, errors = batch_rows("island,mass,clutch\nDream,1,maybe\n3,x,1\n", TYPED, max_rows=10)
    assert errors == [
        'Line 2, column clutch: "maybe" is not true or false (true/false, yes/no).',
        'Line 3, column mass: "x" is not a number.',
        'Line 3, column clutch: "1" is not true or false (true/false, yes/no).',
    ]


def test_a_long_list_of_problems_is_cut_and_counted():
    text = "a,b\n" + "x,y\n" * 30
    _, _, errors = batch_rows(text, NAMES, max_rows=100)
    assert len(errors) == 21
    assert errors[-1] == "... and 40 more problems."


def test_the_services_own_errors_are_named_by_the_line_of_their_row():
    named = batch_errors_named({"inputs[1].a": ["Must be a finite number."], "inputs": ["Too many."]}, [2, 5])
    assert named == ["Line 5, column a: Must be a finite number.", "Batch: Too many."]


def test_results_are_written_with_the_features_then_the_result():
    out = io.StringIO()
    results_csv(out, [{"a": 1.0, "b": 2.0}], [{"label": "x", "probabilities": {"x": 0.75, "y": 0.25}}])
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [
        ["row", "a", "b", "label", "p_x", "p_y"],
        ["1", "1.0", "2.0", "x", "0.75", "0.25"],
    ]


def test_typed_results_keep_booleans_and_missing_values_readable_and_add_the_warnings():
    out = io.StringIO()
    warning = {"feature": "island", "value": "Atlantis", "message": "'Atlantis' was not seen in training."}
    results_csv(
        out,
        [
            {"island": "Biscoe", "mass": None, "clutch": True},
            {"island": "Atlantis", "mass": 3000.0, "clutch": False},
        ],
        [{"value": 1.5}, {"value": 2.5, "warnings": [warning]}],
    )
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [
        ["row", "island", "mass", "clutch", "value", "warnings"],
        ["1", "Biscoe", "", "true", "1.5", ""],
        ["2", "Atlantis", "3000.0", "false", "2.5", "island: 'Atlantis' was not seen in training."],
    ]


def test_a_refused_batch_queues_nothing_and_says_why(history, ada_client, valid_input):
    header = ",".join(valid_input)
    good = ",".join(str(v) for v in valid_input.values())
    response = ada_client.post(
        "/predict/batch/",
        {"model": "breast_cancer", "rows": f"{header}\n{good}\n{good.replace(',', ',oops', 1)}\n"},
    )
    assert response.status_code == 400
    column = list(valid_input)[1]
    assert f"Line 3, column {column}: " in response.content.decode()
    assert history.PredictionJob.objects.count() == 0


def test_an_empty_cell_of_a_feature_that_may_not_be_null_is_refused_by_line(history, ada_client, valid_input):
    header = ",".join(valid_input)
    good = ",".join(str(v) for v in valid_input.values())
    empty = "," + good.split(",", 1)[1]
    response = ada_client.post(
        "/predict/batch/", {"model": "breast_cancer", "rows": f"{header}\n{good}\n{empty}\n"}
    )
    assert response.status_code == 400
    first = next(iter(valid_input))
    assert f"Line 3, column {first}: May not be null; a number is required." in response.content.decode()
    assert history.PredictionJob.objects.count() == 0


def test_a_file_is_a_batch_file_not_a_prediction_job(history, ada_client, valid_input):
    # A file of any size goes the batch file's way (tests/pages/test_batch_pages.py); pasted
    # rows stay one prediction job.
    from django.core.files.uploadedfile import SimpleUploadedFile

    header = ",".join(valid_input)
    good = ",".join(str(v) for v in valid_input.values())
    upload = SimpleUploadedFile("rows.csv", f"\ufeff{header}\n{good}\n{good}\n".encode(), "text/csv")
    response = ada_client.post("/predict/batch/", {"model": "breast_cancer", "file": upload})
    assert response.status_code == 302
    [batch] = history.BatchJob.objects()
    assert response["Location"] == f"/batches/{batch.id}/"
    assert (batch.filename, batch.rows_total) == ("rows.csv", 2)
    assert history.PredictionJob.objects.count() == 0


def test_a_file_that_is_not_utf8_is_refused(history, ada_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("rows.csv", b"\xff\xfe\x00a", "text/csv")
    response = ada_client.post("/predict/batch/", {"model": "breast_cancer", "file": upload})
    assert response.status_code == 400
    assert "UTF-8" in response.content.decode()
    assert history.PredictionJob.objects.count() == 0
    assert history.BatchJob.objects.count() == 0


def test_the_template_has_the_models_header(ada_client, model_version):
    response = ada_client.get("/predict/template.csv?model=breast_cancer")
    header, row = list(csv.reader(io.StringIO(response.content.decode())))
    assert header == model_version.feature_names
    assert len(row) == len(header)
    assert all(float(cell) for cell in row)


def test_the_live_part_and_the_results_are_only_the_owners(history, ada, ada_client, stored_job, make_user):
    job = stored_job(
        owner=ada,
        status="succeeded",
        output={"label": "benign", "probabilities": {"benign": 0.9, "malignant": 0.1}},
    )
    assert ada_client.get(f"/history/{job.id}/?part=live").status_code == 200
    rows = list(csv.reader(io.StringIO(ada_client.get(f"/history/{job.id}/results.csv").content.decode())))
    assert rows[0][-3:] == ["label", "p_benign", "p_malignant"]
    assert rows[1][-3:] == ["benign", "0.9", "0.1"]
    other = Client()
    other.force_login(make_user("eve"))
    assert other.get(f"/history/{job.id}/?part=live").status_code == 404
    assert other.get(f"/history/{job.id}/results.csv").status_code == 404
    logged_out = Client().get(f"/history/{job.id}/?part=live")
    assert logged_out.status_code == 302
    assert "/accounts/login/" in logged_out["Location"]
