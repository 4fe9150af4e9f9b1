"""Models trained elsewhere come in safely, and every model can be taken away, end to end
through the real pipeline (a live train worker, a live predict worker).

A notebook-style scikit-learn pipeline, fitted on pandas' reading of the same CSV the
platform holds (palmerpenguins' raw export: categories, NA), comes in over HTTP as a skops
file, is scored by the train worker on the model's held-out rows, judged by the promotion gate
and served. Pickles, untrusted types and other scikit-learn versions are refused by the web
before anything is queued; a file that cannot be a version of this model is refused by the
worker, which registers nothing. Every version (trained here or imported) can be downloaded
as skops or joblib, and its card's snippet, run outside the repository, predicts what the
platform predicts."""

import ast
import hashlib
import io
import json
import os
import pickle
import re
import subprocess
import sys
import zipfile
from importlib import resources

import joblib
import numpy as np
import pandas as pd
import pytest
import sklearn
import skops.io as sio
from django.core.files.uploadedfile import SimpleUploadedFile
from gridfs import GridFSBucket
from mongoengine.connection import get_db
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier

from predictor.models import DatasetVersion, MLModel, ModelVersion
from tests.clients import client_for, model_builder_group, wait_for_run

pytestmark = [pytest.mark.pipeline, pytest.mark.django_db(transaction=True)]

RAW = (resources.files("palmerpenguins") / "data" / "penguins-raw.csv").read_bytes()
TARGET = "Species"
# The platform's own model of the table (as in tests/test_own_data.py).
FEATURES = [
    "Island",
    "Clutch Completion",
    "Culmen Length (mm)",
    "Culmen Depth (mm)",
    "Flipper Length (mm)",
    "Body Mass (g)",
    "Sex",
    "Delta 15 N (o/oo)",
]
# The notebook's: a subset of the columns, in an order of its own.
CATEGORIES = ["Sex", "Island"]
# A yes/no column: a boolean to the platform, the text "Yes"/"No" to pandas and so to the
# notebook's model, which one-hot encodes it with the categories.
YES_NO = "Clutch Completion"
NUMBERS = ["Body Mass (g)", "Culmen Length (mm)", "Culmen Depth (mm)", "Delta 15 N (o/oo)"]
NOTEBOOK = [*CATEGORIES, YES_NO, *NUMBERS]
ROW = {
    "Island": "Torgersen",
    YES_NO: True,
    "Culmen Length (mm)": 39.1,
    "Culmen Depth (mm)": 18.7,
    "Body Mass (g)": 3750,
    "Sex": "MALE",
    "Delta 15 N (o/oo)": None,
}
# Closer to a Chinstrap than to an Adelie: a row the two species' models could disagree on.
HARD_ROW = {
    "Island": "Dream",
    YES_NO: False,
    "Culmen Length (mm)": 45.0,
    "Culmen Depth (mm)": 17.8,
    "Body Mass (g)": 3700,
    "Sex": None,
    "Delta 15 N (o/oo)": 9.1,
}
MODEL = "penguin-species"
VERSIONS = f"/api/v1/models/{MODEL}/versions/"


# --- the table, the platform's model, a notebook's model --------------------------------


@pytest.fixture
def owner(make_user, history):
    user = make_user("dana")
    user.groups.add(model_builder_group())
    return user


@pytest.fixture
def owner_api(owner):
    return client_for(owner)


def _upload(client, name: str = "penguins-raw", visibility: str = "shared") -> None:
    upload = client.post(
        "/api/v1/datasets/",
        {"name": name, "file": SimpleUploadedFile("penguins_lter.csv", RAW), "visibility": visibility},
        format="multipart",
    )
    assert upload.status_code == 201, upload.json()


def _platform_model(client, *, visibility: str = "shared") -> dict:
    """The dataset uploaded and the model defined through the API; its first run (version 1,
    trained here), finished."""
    _upload(client)
    created = client.post(
        "/api/v1/models/",
        {
            "name": MODEL,
            "dataset": "penguins-raw",
            "target": TARGET,
            "features": FEATURES,
            "estimator": "logistic_regression",
            "visibility": visibility,
        },
        format="json",
    )
    assert created.status_code == 202, created.json()
    run = wait_for_run(client, created.json()["training"]["id"], timeout=120)
    assert run["status"] == "succeeded", run
    assert run["version"] == 1
    return run


def _defined_model(owner, *, visibility: str = "shared") -> MLModel:
    """The dataset uploaded and the model defined, with no run queued and no version (for
    tests about what an import queues)."""
    from predictor.definitions import model_define

    _upload(client_for(owner))
    model, _ = model_define(
        name=MODEL,
        dataset_version=DatasetVersion.objects.get(dataset__name="penguins-raw"),
        target=TARGET,
        owner=owner,
        features=FEATURES,
        estimator="logistic_regression",
        visibility=visibility,
    )
    return model


def _table() -> pd.DataFrame:
    """The CSV as a notebook reads it."""
    return pd.read_csv(io.BytesIO(RAW))


def notebook_model(
    table: pd.DataFrame | None = None, *, categories=(*CATEGORIES, YES_NO), numbers=NUMBERS
) -> Pipeline:
    """A pipeline as a data scientist writes it, fitted on a DataFrame of some of the columns."""
    table = _table() if table is None else table
    prepare = ColumnTransformer(
        [
            (
                "categories",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        ("encode", OneHotEncoder(handle_unknown="ignore")),
                    ]
                ),
                list(categories),
            ),
            (
                "numbers",
                Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]),
                list(numbers),
            ),
        ]
    )
    model = Pipeline([("prepare", prepare), ("classify", LogisticRegression(max_iter=1000))])
    return model.fit(table[[*categories, *numbers]], table[TARGET])


def local_frame(row: dict) -> pd.DataFrame:
    """One row as a notebook builds it: a missing value NaN, the yes/no column as the file
    spells it."""
    spelled = {**row, YES_NO: {True: "Yes", False: "No"}.get(row.get(YES_NO), row.get(YES_NO))}
    return pd.DataFrame([{name: np.nan if value is None else value for name, value in spelled.items()}])


def _post_file(client, data: bytes, *, name: str = MODEL, file_name: str = "model.skops"):
    return client.post(
        f"/api/v1/models/{name}/versions/",
        {"artifact": SimpleUploadedFile(file_name, data)},
        format="multipart",
    )


def _imported(client, data: bytes) -> dict:
    """POST the file (202, Location), and its run once finished."""
    posted = _post_file(client, data)
    assert posted.status_code == 202, posted.json()
    body = posted.json()
    assert body["trigger"] == "import"
    assert body["model"] == MODEL
    assert posted["Location"].endswith(f"/api/v1/trainings/{body['id']}/")
    return wait_for_run(client, body["id"], timeout=120)


def _predict(client, row: dict, version: int) -> dict:
    answer = client.post(
        "/api/v1/predictions/",
        {"model": MODEL, "version": version, "input": row},
        format="json",
        HTTP_PREFER="wait=30",
    )
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert body["status"] == "succeeded", body.get("error")
    assert body["version"] == version
    return body["output"]


def _versions(client) -> dict[int, dict]:
    listed = client.get(VERSIONS)
    assert listed.status_code == 200, listed.json()
    return {version["number"]: version for version in listed.json()["results"]}


# --- a. a notebook's model, imported, judged and served ---------------------------------


def test_a_notebook_model_comes_in_as_a_version_judged_by_the_gate_and_served(
    owner_api, live_worker, train_worker, history
):
    _platform_model(owner_api)
    local = notebook_model()

    run = _imported(owner_api, sio.dumps(local))

    assert run["status"] == "succeeded", run
    assert run["trigger"] == "import"
    assert run["error"] is None
    assert run["version"] == 2
    stages = [step["stage"] for step in run["progress"]]
    assert "loading the model" in stages
    assert "evaluating" in stages
    assert "comparing with the champion" in stages
    # The gate judged it against version 1, scored again on the same held-out rows.
    assert run["decision"] in ("promoted", "rejected")
    assert "champion v1" in run["decision_reason"]
    assert set(run["champion_metrics"]) == {"f1_macro", "accuracy"}
    assert set(run["metrics"]) == {"f1_macro", "accuracy"}
    # Fitted on every row, held-out ones included: it cannot do badly on them.
    assert run["metrics"]["accuracy"] > 0.9

    versions = _versions(owner_api)
    assert set(versions) == {1, 2}
    trained, imported = versions[1], versions[2]
    assert trained["source"] == "trained"
    assert imported["source"] == "imported"
    assert imported["training_run_id"] == run["id"]
    assert imported["metrics"] == run["metrics"]
    assert imported["status"] == {"promoted": "champion", "rejected": "rejected"}[run["decision"]]
    assert imported["status_reason"]
    assert imported["estimator"] == "LogisticRegression"
    assert imported["lineage"]["source"] == "imported"
    assert imported["lineage"]["dataset"]["name"] == "penguins-raw"
    assert imported["classes"] == sorted(_table()[TARGET].unique())
    # Its inputs are its own columns, typed by the dataset, in the order it was fitted on.
    schema = imported["input_schema"]
    assert [feature["name"] for feature in schema] == NOTEBOOK
    types = {feature["name"]: feature["type"] for feature in schema}
    assert types == {
        **dict.fromkeys(CATEGORIES, "category"),
        YES_NO: "boolean",
        **dict.fromkeys(NUMBERS, "number"),
    }
    assert next(f for f in schema if f["name"] == YES_NO)["spellings"] == {"false": "No", "true": "Yes"}
    assert next(f for f in schema if f["name"] == "Island")["categories"] == ["Biscoe", "Dream", "Torgersen"]
    assert imported["artifact_sha256"] != trained["artifact_sha256"]

    # Served as the notebook predicts: the same label and probabilities, for a row with a
    # missing number and one with a missing category.
    for row in (ROW, HARD_ROW):
        output = _predict(owner_api, row, version=2)
        expected = local_frame(row)[NOTEBOOK]
        assert output["label"] == local.predict(expected)[0]
        probabilities = dict(zip(local.classes_, local.predict_proba(expected)[0], strict=True))
        assert output["probabilities"] == pytest.approx(probabilities, abs=1e-4)


# --- b. refused by the web: nothing stored, nothing queued ------------------------------


def _os_system_file() -> bytes:
    return sio.dumps(FunctionTransformer(func=os.system))


def _joblib_file() -> bytes:
    buffer = io.BytesIO()
    joblib.dump(notebook_model(), buffer)
    return buffer.getvalue()


def _rewrite_schema(data: bytes, change) -> bytes:
    """The same skops file, its schema.json changed in place by `change`."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == "schema.json":
                schema = json.loads(content)
                change(schema)
                content = json.dumps(schema).encode()
            target.writestr(info, content)
    return out.getvalue()


def _other_sklearn_version(data: bytes, version: str = "1.0.2") -> bytes:
    """The same skops file, its schema.json saying every estimator was saved by `version`."""
    changed = []

    def rewrite(node):
        if isinstance(node, dict):
            if "_sklearn_version" in node:
                node["_sklearn_version"]["content"] = json.dumps(version)
                changed.append(node)
            for value in node.values():
                rewrite(value)
        elif isinstance(node, list):
            for value in node:
                rewrite(value)

    data = _rewrite_schema(data, rewrite)
    assert changed
    return data


REFUSED_FILES = {
    "a joblib file": (_joblib_file, "This is a pickle"),
    "a plain pickle": (lambda: pickle.dumps(notebook_model()), "This is a pickle"),
    "a protocol 0 pickle": (lambda: pickle.dumps(notebook_model(), protocol=0), "Not a skops file"),
    "a skops file calling os.system": (_os_system_file, f"{os.system.__module__}.system"),
    "a skops file from another scikit-learn": (
        lambda: _other_sklearn_version(sio.dumps(notebook_model())),
        f"saved with scikit-learn 1.0.2, this platform runs {sklearn.__version__}",
    ),
}


def _stored(data: bytes) -> bool:
    sha256 = hashlib.sha256(data).hexdigest()
    return next(GridFSBucket(get_db(), bucket_name="artifacts").find({"filename": sha256}), None) is not None


@pytest.mark.parametrize("kind", list(REFUSED_FILES))
def test_the_web_refuses_a_file_it_must_not_load_and_queues_nothing(owner, owner_api, history, kind):
    make, reason = REFUSED_FILES[kind]
    data = make()
    _defined_model(owner)
    # The file is what it says: a skops file, read with everything trusted, really is one.
    if kind == "a skops file calling os.system":
        assert sio.loads(data, trusted=sio.get_untrusted_types(data=data)).func is os.system

    refused = _post_file(owner_api, data)

    assert refused.status_code == 400, refused.content
    body = refused.json()
    assert body["code"] == "invalid"
    [message] = body["fields"]["artifact"]
    assert reason in message
    assert history.TrainingRun.objects.count() == 0
    assert not _stored(data)
    assert not ModelVersion.objects.exists()


def test_only_the_owner_or_staff_may_import_into_a_model(owner, make_user, train_worker, history):
    data = sio.dumps(notebook_model())
    _defined_model(owner, visibility="shared")
    stranger = client_for(make_user("erin"))

    shared = _post_file(stranger, data)
    assert shared.status_code == 403, shared.content
    assert shared.json()["code"] == "permission_denied"

    MLModel.objects.filter(name=MODEL).update(visibility="private")
    private = _post_file(stranger, data)
    assert private.status_code == 404, private.content
    assert private.json()["code"] == "not_found"
    # A private model's 404 says no more than a model that does not exist.
    assert private.json() == _post_file(stranger, data, name="no-such-model").json()

    assert history.TrainingRun.objects.count() == 0
    assert not _stored(data)

    # Staff may (the refusals above were the permission, not the file): the first version.
    staff = client_for(make_user("sam", is_staff=True))
    admitted = _post_file(staff, data)
    assert admitted.status_code == 202, admitted.json()
    run = wait_for_run(staff, admitted.json()["id"], timeout=120)
    assert run["status"] == "succeeded", run
    assert run["decision"] == "first"
    assert ModelVersion.objects.get(model__name=MODEL).source == "imported"


# --- c. refused by the worker: the run fails with the reason, nothing registered --------


def _numpy_model() -> Pipeline:
    table = _table().dropna(subset=["Culmen Length (mm)", "Culmen Depth (mm)"])
    X = table[["Culmen Length (mm)", "Culmen Depth (mm)"]].to_numpy()
    return Pipeline([("scale", StandardScaler()), ("classify", LogisticRegression())]).fit(X, table[TARGET])


def _renamed_column_model() -> Pipeline:
    table = _table().rename(columns={"Body Mass (g)": "Body Mass (kg)"})
    return notebook_model(table, numbers=["Body Mass (kg)", "Culmen Length (mm)"])


def _numbers_named_like_a_category_model() -> Pipeline:
    # "Island" here is a number; in the dataset it is text (Biscoe, Dream, Torgersen).
    table = pd.DataFrame({"Island": np.arange(60, dtype=float), TARGET: ["a", "b", "c"] * 20})
    return Pipeline([("scale", StandardScaler()), ("classify", LogisticRegression())]).fit(
        table[["Island"]], table[TARGET]
    )


def _lying_tree_file() -> bytes:
    """A decision tree whose recorded max_depth (1) is less than its depth: decision_path
    sizes its output by max_depth, so predicting paths with it writes past its buffer (the
    process aborts). Only a check of the loaded tree can tell: its types are all trusted."""
    table = _table().dropna(subset=NUMBERS)
    tree = DecisionTreeClassifier(random_state=0).fit(table[NUMBERS], table[TARGET])
    assert tree.tree_.max_depth > 1
    data = sio.dumps(tree)

    def lie(schema):
        schema["content"]["content"]["tree_"]["content"]["content"]["max_depth"]["content"] = "1"

    return _rewrite_schema(data, lie)


REFUSED_MODELS = {
    "fitted on a numpy array": (lambda: sio.dumps(_numpy_model()), "the model has no feature_names_in_"),
    "a feature the dataset lacks": (
        lambda: sio.dumps(_renamed_column_model()),
        "the model's features ['Body Mass (kg)'] are not columns of the dataset",
    ),
    "failing on the held-out rows": (
        lambda: sio.dumps(_numbers_named_like_a_category_model()),
        "the model failed on the held-out rows: ValueError: could not convert string to float: ",
    ),
    "a decision tree deeper than it says": (
        _lying_tree_file,
        "are inconsistent (max_depth 1, depth ",
    ),
}


@pytest.mark.parametrize("kind", list(REFUSED_MODELS))
def test_the_worker_refuses_a_model_that_cannot_be_a_version_of_this_one(
    owner, owner_api, train_worker, history, kind
):
    make, reason = REFUSED_MODELS[kind]
    _defined_model(owner)
    data = make()

    run = _imported(owner_api, data)

    assert run["status"] == "failed", run
    assert reason in run["error"]
    assert run["version"] is None
    assert run["decision"] is None
    assert not ModelVersion.objects.filter(model__name=MODEL).exists()
    assert _versions(owner_api) == {}


# --- d. every version can be taken away ---------------------------------------------------


def _download(client, number: int, fmt: str | None = None, *, name: str = MODEL):
    query = f"?format={fmt}" if fmt else ""
    return client.get(f"/api/v1/models/{name}/versions/{number}/artifact/{query}")


def _checked_download(client, number: int, fmt: str | None, version: dict):
    got = _download(client, number, fmt)
    assert got.status_code == 200, got.content
    body = got.content
    assert got["X-Scikit-Learn-Version"] == sklearn.__version__
    assert got["X-Content-SHA256"] == hashlib.sha256(body).hexdigest()
    assert got["X-Artifact-SHA256"] == version["artifact_sha256"]
    extension = fmt or "skops"
    assert f'filename="{MODEL}-v{number}.{extension}"' in got["Content-Disposition"]
    return got


def _card(client, number: int) -> dict:
    got = client.get(f"/api/v1/models/{MODEL}/versions/{number}/card/")
    assert got.status_code == 200, got.content
    return got.json()


def _example_row(usage: str) -> dict:
    [line] = [line for line in usage.splitlines() if line.startswith("row = ")]
    return ast.literal_eval(line.removeprefix("row = "))


def _run_usage(usage: str, file_name: str, data: bytes, tmp_path) -> list[str]:
    """The card's snippet, as a user runs it: in a directory of its own beside the downloaded
    file, in an isolated interpreter (the repository not importable)."""
    where = tmp_path / file_name.removesuffix(".skops")
    where.mkdir()
    (where / file_name).write_bytes(data)
    (where / "usage.py").write_text(usage)
    done = subprocess.run(
        [sys.executable, "-I", "usage.py"],
        cwd=where,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(where)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    printed = done.stdout.strip()
    # numpy prints an array of text as ['a' 'b']: a Python list once commas are put in.
    return ast.literal_eval(re.sub(r"'\s+'", "', '", printed))


def test_every_version_can_be_downloaded_and_run_elsewhere_as_its_card_says(
    owner_api, make_user, live_worker, train_worker, history, tmp_path
):
    _platform_model(owner_api)
    local = notebook_model()
    uploaded = sio.dumps(local)
    run = _imported(owner_api, uploaded)
    assert run["status"] == "succeeded", run
    versions = _versions(owner_api)

    for number in (1, 2):
        version = versions[number]
        skops_file = _checked_download(owner_api, number, None, version)
        assert skops_file["Content-Type"] == "application/zip"
        data = skops_file.content
        # Stored as it was uploaded (imported) or as the platform saved it: no conversion.
        assert skops_file["X-Content-SHA256"] == version["artifact_sha256"]
        if number == 2:
            assert data == uploaded
        assert _download(owner_api, number, "skops").content == data

        card = _card(owner_api, number)
        assert card["model"] == MODEL
        assert card["version"] == number
        assert card["artifact"]["sha256"] == version["artifact_sha256"]
        assert card["artifact"]["scikit_learn"] == sklearn.__version__
        assert card["artifact"]["file_name"] == f"{MODEL}-v{number}.skops"
        assert card["metrics"]["held_out"] == version["metrics"]
        assert [f["name"] for f in card["features"]] == [f["name"] for f in version["input_schema"]]
        assert [entry["version"] for entry in card["promotion_history"]] == [2, 1]
        # The types the card vouches for are exactly what the file needs beyond skops's own.
        assert card["artifact"]["trusted_types"] == sorted(sio.get_untrusted_types(data=data))

        # Run elsewhere, the snippet predicts what the platform predicts for its row.
        printed = _run_usage(card["usage"], card["artifact"]["file_name"], data, tmp_path)
        row = _example_row(card["usage"])
        assert set(row) == {f["name"] for f in version["input_schema"]}
        assert printed == [_predict(owner_api, row, version=number)["label"]]

        markdown = owner_api.get(f"/api/v1/models/{MODEL}/versions/{number}/card/?format=md")
        assert markdown.status_code == 200
        assert markdown["Content-Type"].startswith("text/markdown")
        text = markdown.content.decode()
        assert text.startswith(f"# {MODEL}, version {number}")
        assert "| feature | type | may be missing | values |" in text
        assert "| Island | category | no | Biscoe, Dream, Torgersen |" in text
        assert "| Sex | category | yes | FEMALE, MALE |" in text
        assert card["usage"].rstrip("\n") in text

        # joblib on request: a pickle of the same pipeline (loaded here: it is ours, trusted).
        pickled = _checked_download(owner_api, number, "joblib", version)
        assert pickled["Content-Type"] == "application/octet-stream"
        assert pickled["X-Content-SHA256"] != version["artifact_sha256"]
        from_joblib = joblib.load(io.BytesIO(pickled.content))
        from_skops = sio.loads(data, trusted=card["artifact"]["trusted_types"])
        assert type(from_joblib) is type(from_skops)
        np.testing.assert_array_equal(from_joblib.classes_, from_skops.classes_)
        np.testing.assert_array_equal(from_joblib[-1].coef_, from_skops[-1].coef_)
        if number == 2:
            frame = _table()[NOTEBOOK]
            np.testing.assert_array_equal(from_joblib.predict(frame), local.predict(frame))

    bad = _download(owner_api, 1, "pickle")
    assert bad.status_code == 400
    assert "format" in bad.json()["fields"]
    assert _download(owner_api, 3).status_code == 404

    # A shared model's files are anyone's who can see it; a private model's, a 404 to others.
    stranger = client_for(make_user("erin"))
    assert _download(stranger, 2).status_code == 200
    MLModel.objects.filter(name=MODEL).update(visibility="private")
    for number in (1, 2):
        hidden = _download(stranger, number)
        assert hidden.status_code == 404, hidden.content
        assert hidden.json()["code"] == "not_found"
        assert "X-Content-SHA256" not in hidden
        assert stranger.get(f"/api/v1/models/{MODEL}/versions/{number}/card/").status_code == 404
        assert _download(stranger, number, "joblib").status_code == 404
    assert _download(owner_api, 1).status_code == 200


# --- known gap -------------------------------------------------------------------------------


def test_a_yes_no_column_reaches_an_imported_model_as_pandas_read_it():
    # The platform reads a yes/no column as a boolean; pandas.read_csv, which the notebook's
    # model was fitted on, reads the text Yes/No. The profile keeps the file's spellings, and
    # the model is given them back, served and scored alike.
    import io as _io

    from predictor.frames import named_frame, rows_matrix
    from predictor.tabular import load_frame, profile_csv

    profile = profile_csv(_io.BytesIO(RAW))
    column = next(c for c in profile.columns if c["name"] == YES_NO)
    assert column["type"] == "boolean"
    assert column["spellings"] == {"false": "No", "true": "Yes"}
    columns = [YES_NO, "Island", "Culmen Length (mm)"]
    local = notebook_model(categories=columns[:2], numbers=columns[2:])
    notebook = _table()[columns].iloc[[0]]
    assert notebook[YES_NO].iloc[0] == "Yes"
    spellings = {YES_NO: column["spellings"]}

    # Served: the row as the API takes it (a boolean), given to the model as the file spells it.
    served = rows_matrix(
        local, [{YES_NO: True, "Island": "Torgersen", "Culmen Length (mm)": 39.1}], columns, spellings
    )
    np.testing.assert_allclose(local.predict_proba(served), local.predict_proba(notebook))

    # Scored: the platform's typed table (1.0 / 0.0) back to the file's words.
    typed = load_frame(_io.BytesIO(RAW), profile.columns, usecols=columns, delimiter=profile.delimiter)
    features = [{"name": YES_NO, "type": "boolean", "spellings": column["spellings"]}]
    given = named_frame(typed, columns, features)
    assert given[YES_NO].tolist() == _table()[YES_NO].tolist()
    np.testing.assert_allclose(local.predict_proba(given), local.predict_proba(_table()[columns]))
