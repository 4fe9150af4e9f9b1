"""predictor.batch_score: a chunk of a batch file scored with real pipelines on real public
tables (breast cancer: 30 numbers; diabetes: a regressor; the Palmer penguins: categories,
"NA" missing values, and a yes/no column added to it), compared with predict_rows on the
same rows typed as the web's batch CSV types them."""

import csv
import io
from collections import Counter
from importlib import resources
from types import SimpleNamespace

import pytest

from predictor import batch_score, csv_cells
from predictor.batch_score import ChunkScored, result_columns, score_chunk
from predictor.definitions import MULTICLASS
from predictor.estimators import CATEGORY, pipeline_build
from predictor.fitting import feature_schema
from predictor.frames import matrix
from predictor.inference import predict_rows
from predictor.shipped import SHIPPED, shipped_csv
from predictor.tabular import cell_value, load_frame, profile_csv
from tests.shipped import shipped_train

UNSEEN = "was not seen in training; predicted as none of the known categories."


def _table(text: str) -> tuple[list[str], str]:
    """A CSV's header (stripped names) and its records after the header line."""
    head, _, body = text.partition("\n")
    return [name.strip() for name in next(csv.reader([head]))], body


@pytest.fixture(scope="module")
def cancer():
    header, body = _table(shipped_csv(SHIPPED["breast_cancer"]).decode())
    result = shipped_train("breast_cancer")
    return SimpleNamespace(header=header, body=body, schema=result.feature_schema, pipeline=result.pipeline)


@pytest.fixture(scope="module")
def diabetes():
    header, body = _table(shipped_csv(SHIPPED["diabetes"]).decode())
    result = shipped_train("diabetes")
    return SimpleNamespace(header=header, body=body, schema=result.feature_schema, pipeline=result.pipeline)


def _with_heavy(text: str) -> str:
    """The penguins with a boolean column added: `heavy`, yes/no (NA where the mass is)."""
    lines = text.splitlines()
    out = [lines[0] + ",heavy"]
    for line in lines[1:]:
        mass = line.split(",")[5]
        out.append(line + "," + ("NA" if mass == "NA" else "yes" if float(mass) > 4000 else "no"))
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def penguins():
    text = _with_heavy((resources.files("palmerpenguins") / "data" / "penguins.csv").read_text())
    profile = profile_csv(io.BytesIO(text.encode()))
    frame = load_frame(io.BytesIO(text.encode()), profile.columns)
    features = [{"name": c["name"], "type": c["type"]} for c in profile.columns if c["name"] != "species"]
    assert [f["type"] for f in features] == [
        "category", "number", "number", "number", "number", "category", "number", "boolean"
    ]  # fmt: skip
    names = [f["name"] for f in features]
    schema = feature_schema(features, frame[names])
    typed = [{**f, **s} for f, s in zip(features, schema, strict=True)]
    pipeline = pipeline_build(typed, estimator="logistic_regression", task=MULTICLASS, params={})
    categorical = {index for index, f in enumerate(typed) if f["type"] == CATEGORY}
    pipeline.fit(matrix(frame[names], categorical), frame["species"].to_numpy(dtype=object))
    header, body = _table(text)
    # The year was never missing in training: it may not be null. The measures and sex may.
    assert [f["nullable"] for f in schema] == [False, True, True, True, True, True, False, True]
    return SimpleNamespace(header=header, body=body, schema=schema, pipeline=pipeline)


def score(model, text: str, *, first_line: int = 2, key_column: str | None = None, header=None):
    return score_chunk(
        text,
        header=header or model.header,
        delimiter=",",
        first_line=first_line,
        schema=model.schema,
        pipeline=model.pipeline,
        spellings=None,
        key_column=key_column,
    )


def typed(model, cells: list[str], header=None) -> dict:
    """A record's features as the web's batch CSV types them (predictor.tabular.cell_value)."""
    position = {name: index for index, name in enumerate(header or model.header)}
    row = {}
    for feature in model.schema:
        value, problem = cell_value(feature, cells[position[feature["name"]]])
        assert problem is None
        row[feature["name"]] = value
    return row


def expected_csv(model, keys: list, records: list[list[str]], *, warnings: bool = False, header=None) -> str:
    """What score_chunk should write for these valid records: predict_rows' outputs, in order,
    written by the platform's CSV writer."""
    rows = [typed(model, cells, header) for cells in records]
    outputs = predict_rows(model.pipeline, rows, [f["name"] for f in model.schema])
    classes = batch_score.pipeline_classes(model.pipeline)
    out = io.StringIO()
    writer = csv_cells.writer(out)
    for key, output in zip(keys, outputs, strict=True):
        if classes is not None:
            line = [key, output["label"], *[output["probabilities"][name] for name in classes]]
        else:
            line = [key, output["value"]]
        writer.writerow([*line, *([None] if warnings else []), None])
    return out.getvalue()


def lines_of(scored: ChunkScored) -> list[list[str]]:
    return list(csv.reader(io.StringIO(scored.csv)))


def records_of(body: str) -> list[list[str]]:
    return [record for record in csv.reader(io.StringIO(body)) if record]


def test_the_result_columns_are_the_key_the_result_the_warnings_and_the_error():
    assert result_columns(key_column=None, classes=["benign", "malignant"], warnings=False) == [
        "line", "label", "p_benign", "p_malignant", "error"
    ]  # fmt: skip
    assert result_columns(key_column="customer", classes=None, warnings=True) == [
        "customer", "value", "warnings", "error"
    ]  # fmt: skip


def test_a_numeric_classifiers_chunk_is_what_predict_rows_answers_on_the_same_rows_in_order(cancer):
    records = records_of(cancer.body)

    scored = score(cancer, cancer.body)

    assert len(records) == 569
    assert scored.csv == expected_csv(cancer, list(range(2, 571)), records)
    assert (scored.rows, scored.failed) == (569, 0)
    predicted = Counter(line[1] for line in lines_of(scored))
    assert scored.labels == dict(predicted)
    assert set(scored.labels) == {"benign", "malignant"}
    assert sum(scored.labels.values()) == 569
    columns = result_columns(
        key_column=None, classes=batch_score.pipeline_classes(cancer.pipeline), warnings=False
    )
    assert all(len(line) == len(columns) for line in lines_of(scored))


def test_a_chunk_from_the_middle_of_the_file_counts_its_lines_from_its_first(cancer):
    records = records_of(cancer.body)[100:200]
    text = "".join(line + "\n" for line in cancer.body.splitlines()[100:200])

    scored = score(cancer, text, first_line=102)

    assert scored.csv == expected_csv(cancer, list(range(102, 202)), records)


def test_a_regressors_chunk_writes_its_values_and_counts_no_labels(diabetes):
    records = records_of(diabetes.body)

    scored = score(diabetes, diabetes.body)

    assert scored.csv == expected_csv(diabetes, list(range(2, 2 + len(records))), records)
    assert (scored.rows, scored.failed, scored.labels) == (442, 0, {})
    assert batch_score.pipeline_classes(diabetes.pipeline) is None
    assert all(float(line[1]) > 0 for line in lines_of(scored))


def test_categories_and_na_cells_are_predicted_as_predict_rows_predicts_them(penguins):
    records = records_of(penguins.body)

    scored = score(penguins, penguins.body)

    assert (scored.rows, scored.failed) == (344, 0)
    assert scored.csv == expected_csv(penguins, list(range(2, 346)), records, warnings=True)
    # Line 5 of the file is all NA but its year: every other feature may be missing.
    assert records[3][2:7] == ["NA"] * 5
    assert lines_of(scored)[3][0] == "5"
    assert lines_of(scored)[3][1] in {"Adelie", "Chinstrap", "Gentoo"}
    assert set(scored.labels) == {"Adelie", "Chinstrap", "Gentoo"}
    assert sum(scored.labels.values()) == 344


def test_a_category_not_seen_in_training_is_predicted_with_a_warning(penguins):
    text = "".join(
        [
            "Adelie,Atlantis,39.1,18.7,181,3750,male,2007,no\n",
            "Gentoo,Biscoe,47.5,15.0,215,5000,female,2008,yes\n",
        ]
    )

    scored = score(penguins, text)

    first, second = lines_of(scored)
    assert first[-2] == f"island: 'Atlantis' {UNSEEN}"
    assert first[-1] == ""
    assert first[1] in {"Adelie", "Chinstrap", "Gentoo"}
    assert second[-2:] == ["", ""]
    assert second[1] == "Gentoo"
    assert scored.failed == 0


def test_cells_are_read_as_the_web_reads_them_whatever_their_spelling(penguins):
    header = penguins.header
    text = (
        "Adelie, Torgersen ,  39.1 ,+18.7,1_81,3.75e3,male,2007,YES\n"
        "Adelie,Torgersen,na,N/A,null,?,,2007, n \n"
        "Adelie,Torgersen,39.1,18.7,181,3750,male,2007,True\n"
    )

    scored = score(penguins, text)

    records = records_of(text)
    assert typed(penguins, records[0], header)["flipper_length_mm"] == 181.0
    assert typed(penguins, records[0], header)["heavy"] is True
    assert typed(penguins, records[1], header)["heavy"] is False
    assert scored.csv == expected_csv(penguins, [2, 3, 4], records, warnings=True)


def test_a_row_with_a_problem_says_which_field_and_why_and_the_others_are_predicted(penguins):
    good = records_of(penguins.body)[:4]
    lines = [",".join(cells) for cells in good]
    text = "\n".join(
        [
            lines[0],
            "Adelie,Torgersen,abc,18.7,181,3750,male,2007,no",  # not a number
            lines[1],
            "Adelie,Torgersen,39.1,18.7,181,3750,male,NA,no",  # missing, not nullable
            "Adelie,Torgersen,39.1,18.7,181",  # too few cells
            lines[2],
            "Adelie,Torgersen,39.1,18.7,181,3750,male,2007,maybe",  # no boolean word
            "Adelie,Torgersen,39.1,18.7,inf,3750,male,,perhaps",  # three problems
            lines[3],
        ]
    )

    scored = score(penguins, text, first_line=20)

    out = lines_of(scored)
    assert [line[0] for line in out] == [str(number) for number in range(20, 29)]
    errors = {int(line[0]): line[-1] for line in out if line[-1]}
    assert errors == {
        21: 'bill_length_mm: "abc" is not a number.',
        23: "year: May not be null; a number is required.",
        24: "body_mass_g, sex, year, heavy: no cell; the record has 5 cells, the header 9.",
        26: 'heavy: "maybe" is not true or false (true/false, yes/no).',
        27: "flipper_length_mm: must be a finite number.; year: May not be null; a number is required.; "
        'heavy: "perhaps" is not true or false (true/false, yes/no).',
    }
    for line in out:
        if line[-1]:
            assert line[1:-1] == [""] * (len(line) - 2)  # no result, no warning
    predicted = [line for line in out if not line[-1]]
    expected = list(csv.reader(io.StringIO(expected_csv(penguins, [20, 22, 25, 28], good, warnings=True))))
    assert predicted == expected
    assert (scored.rows, scored.failed) == (9, 5)
    assert sum(scored.labels.values()) == 4


def test_a_record_with_more_cells_than_the_header_is_an_error(cancer):
    record = cancer.body.splitlines()[0]

    scored = score(cancer, f"{record},extra\n{record}\n")

    first, second = lines_of(scored)
    assert first == ["2", "", "", "", "32 cells, but the header has 31."]
    assert second[0] == "3"
    assert second[-1] == ""


def test_a_chunk_of_only_bad_rows_is_all_errors_and_predicts_nothing(cancer, monkeypatch):
    def unexpected(*args, **kwargs):
        raise AssertionError("nothing to predict")

    monkeypatch.setattr(batch_score, "predict_rows", unexpected)
    record = cancer.body.splitlines()[0].split(",")
    bad = ",".join(["x", *record[1:]])
    short = ",".join(record[:3])

    scored = score(cancer, f"{bad}\n\n{short}\n{bad}\n")

    assert (scored.rows, scored.failed, scored.labels) == (3, 3, {})
    out = lines_of(scored)
    assert [line[0] for line in out] == ["2", "4", "5"]
    assert [line[-1] for line in out] == [
        'mean_radius: "x" is not a number.',
        "mean_area, mean_smoothness, mean_compactness, mean_concavity, mean_concave_points and 23 more: "
        "no cell; the record has 3 cells, the header 31.",
        'mean_radius: "x" is not a number.',
    ]
    assert all(line[1:-1] == ["", "", ""] for line in out)


def test_an_empty_chunk_has_no_lines():
    scored = score_chunk(
        "\n  \n\r\n",
        header=["a"],
        delimiter=",",
        first_line=2,
        schema=[{"name": "a", "type": "number", "nullable": False}],
        pipeline=None,
        spellings=None,
        key_column=None,
    )

    assert scored == ChunkScored(csv="", rows=0, failed=0, labels={})


def _keyed(model, key_values: list[str]) -> tuple[list[str], list[list[str]], str]:
    """The model's header with `id` and `note` columns before it, and records of the first
    rows of its table under those keys; the second record's note spans three lines."""
    header = ["id", "note", *model.header]
    body = model.body.splitlines()
    records = []
    parts = []
    for number, key in enumerate(key_values):
        note = "first\nsecond\nthird" if number == 1 else "plain"
        records.append([key, note, *next(csv.reader([body[number]]))])
        parts.append(f'{key},"{note}",{body[number]}')
    return header, records, parts


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_lines_are_the_files_own_past_blank_lines_and_a_quoted_cell_over_several(penguins, newline):
    header, records, parts = _keyed(penguins, ["a1", "a2", "a3", "a4"])
    # first_line 7: "a1" on 7, a blank line 8, "a2" on 9-11, two blank lines, "a3" on 14...
    text = "\n".join([parts[0], "", parts[1], " ", "", parts[2], parts[3], ""]).replace("\n", newline)

    scored = score(penguins, text, first_line=7, header=header)

    assert [line[0] for line in lines_of(scored)] == ["7", "9", "14", "15"]
    expected = expected_csv(penguins, [7, 9, 14, 15], records, warnings=True, header=header)
    assert scored.csv == expected
    assert scored.rows == 4

    keyed = score(penguins, text, first_line=7, header=header, key_column="id")

    assert [line[0] for line in lines_of(keyed)] == ["a1", "a2", "a3", "a4"]
    assert keyed.csv == expected_csv(
        penguins, ["a1", "a2", "a3", "a4"], records, warnings=True, header=header
    )


def test_a_crlf_chunk_scores_as_its_lf_twin(cancer):
    text = "".join(line + "\n" for line in cancer.body.splitlines()[:50])

    assert score(cancer, text.replace("\n", "\r\n"), first_line=2) == score(cancer, text, first_line=2)


def test_keys_that_look_like_formulas_are_written_as_text(cancer):
    header, _, parts = _keyed(cancer, ["=cmd()", "@SUM(1+1)", "-2+3", "-7", ""])
    text = "\n".join(parts) + "\n"

    scored = score(cancer, text, header=header, key_column="id")

    keys = [line[0] for line in lines_of(scored)]
    assert keys == ["'=cmd()", "'@SUM(1+1)", "'-2+3", "-7", ""]
    assert scored.csv.startswith('"\'=cmd()",')
    assert scored.failed == 0


def test_a_key_is_written_for_an_error_row_too(cancer):
    header = ["id", *cancer.header]
    body = cancer.body.splitlines()
    text = f'=HYPERLINK("x"),abc,{body[0].split(",", 1)[1]}\nk2,{body[1]}\nk3\n'

    scored = score(cancer, text, header=header, key_column="id")

    out = lines_of(scored)
    assert [line[0] for line in out] == ['\'=HYPERLINK("x")', "k2", "k3"]
    assert out[0][-1] == 'mean_radius: "abc" is not a number.'
    assert out[1][-1] == ""
    assert out[2][-1].endswith("no cell; the record has 1 cell, the header 32.")
    assert scored.failed == 2


def test_a_header_without_a_feature_or_the_key_is_refused(cancer):
    with pytest.raises(ValueError, match="lacks the features mean_radius"):
        score(cancer, "", header=cancer.header[1:])
    with pytest.raises(ValueError, match="no column 'id'"):
        score(cancer, "", key_column="id")


def test_text_that_is_no_csv_is_refused_with_its_line(cancer):
    body = cancer.body.splitlines()
    with pytest.raises(csv.Error, match=r"^line 11: "):
        score(cancer, f'{body[0]}\n{body[1]}\n"a"b,{body[2]}\n', first_line=9)


@pytest.mark.parametrize("model_name", ["cancer", "diabetes"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_chunk_of_plain_numbers_takes_the_fast_path_and_scores_as_the_careful_one(
    model_name, newline, request, monkeypatch
):
    model = request.getfixturevalue(model_name)
    # An id column first (the key; some look like formulas or numbers), then the shipped
    # table's columns, lines as `newline` ends them.
    lines = model.body.splitlines()[:300]
    header = ["id", *model.header]
    keys = ["id-{}", "=HYPERLINK({})", "-{}", "@sum{}", "+{}e5", " =x{}", "{}"]
    text = "".join(f"{keys[n % len(keys)].format(n)},{line}{newline}" for n, line in enumerate(lines))
    taken = []
    fast = batch_score._plain_numbers

    def watched(*args):
        found = fast(*args)
        taken.append(found is not None)
        return found

    monkeypatch.setattr(batch_score, "_plain_numbers", watched)
    for key_column in ("id", None):
        quick = score(model, text, key_column=key_column, header=header)
        assert taken[-1], "this chunk is plain numbers: the fast path reads it"
        monkeypatch.setattr(batch_score, "_plain_numbers", lambda *args: None)
        careful = score(model, text, key_column=key_column, header=header)
        monkeypatch.setattr(batch_score, "_plain_numbers", watched)
        assert quick == careful


def _third_cell(line: str, text: str) -> str:
    cells = line.split(",")
    cells[2] = text
    return ",".join(cells)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda line: '"' + line.replace(",", '",', 1), "a quoted cell"),
        (lambda line: line + ",extra", "a cell too many"),
        (lambda line: line.rsplit(",", 1)[0], "a cell short"),
        (lambda line: _third_cell(line, "NA"), "a missing value"),
        (lambda line: _third_cell(line, "1e999"), "infinity"),
        (lambda line: _third_cell(line, "1_000"), "a number float() takes and a CSV does not"),
        (lambda line: " \n" + line, "a blank line"),
        (lambda line: "\n" + line, "an empty line"),
        (lambda line: "\t \r\n" + line, "a blank line of a tab, a space and a CR"),
    ],
)
def test_any_chunk_that_is_not_plain_numbers_goes_the_careful_way(cancer, change, why):
    lines = cancer.body.splitlines()[:50]

    def plain(text):
        return batch_score._plain_numbers(text, cancer.header, ",", 2, cancer.schema, cancer.pipeline, None)

    assert plain("".join(line + "\n" for line in lines)) is not None
    lines[7] = change(lines[7])
    assert plain("".join(line + "\n" for line in lines)) is None, why
