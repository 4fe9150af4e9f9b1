"""predictor.model_files: model files from outside, skops only, read safely.

Every attack here comes with its proof: the same file, loaded by skops with the dangerous
name trusted (what a platform reading the trusted list from the upload would do), really
runs the attacker's code; through model_files it is refused and the marker never appears.
"""

import io
import json
import os
import pickle
import subprocess
import sys
import zipfile

import joblib
import numpy as np
import pytest
import scipy.sparse
import sklearn
import skops.io as sio
from sklearn.datasets import load_iris
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.feature_selection import SelectKBest
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier
from sklearn.tree._tree import Tree

from predictor.estimators import ESTIMATORS, REGRESSION, pipeline_build
from predictor.frames import matrix, rows_frame
from predictor.model_files import (
    PICKLE,
    PLATFORM_TRUSTED,
    SKOPS,
    UNKNOWN,
    ModelFileRefused,
    check,
    dumps,
    file_kind,
    load,
    trusted_names,
)

VERSION = sklearn.__version__
TASKS = {"classification": ("binary_classification", "multiclass_classification"), REGRESSION: (REGRESSION,)}
TABLES = ("numbers", "numbers_missing", "mixed")
CASES = [
    (name, task, table)
    for name, estimator in ESTIMATORS.items()
    for kind in estimator.build
    for task in TASKS[kind]
    for table in TABLES
]
SMALL = {"random_forest": {"n_estimators": 10}, "hist_gradient_boosting": {"max_iter": 10}}


def _table(table: str, task: str, n: int = 90):
    """Typed features, the pipeline's matrix and a target: numbers and booleans, with missing
    values, or mixed with a category (missing values too)."""
    rng = np.random.default_rng(0)
    missing = table != "numbers"
    features = [
        {"name": "x", "type": "number", "nullable": missing},
        {"name": "flag", "type": "boolean", "nullable": missing},
    ]
    rows = [
        {
            "x": None if missing and i % 7 == 0 else float(rng.normal()),
            "flag": None if missing and i % 9 == 0 else i % 2 == 0,
        }
        for i in range(n)
    ]
    if table == "mixed":
        features.append({"name": "colour", "type": "category", "nullable": True})
        for i, row in enumerate(rows):
            row["colour"] = None if i % 5 == 0 else ("red", "green", "blue")[i % 3]
    X = matrix(rows_frame(rows, features), {i for i, f in enumerate(features) if f["type"] == "category"})
    if task == REGRESSION:
        y = rng.normal(size=n)
    elif task == "binary_classification":
        y = np.array(["no", "yes"])[rng.integers(0, 2, size=n)]
    else:
        y = rng.integers(0, 3, size=n)
    return features, X, y


@pytest.fixture(scope="module")
def platform_pipelines():
    """Every pipeline pipeline_build makes, fitted: {(estimator, task, table): (pipeline, X)}."""
    fitted = {}
    for name, task, table in CASES:
        features, X, y = _table(table, task)
        pipeline = pipeline_build(features, estimator=name, task=task, params=SMALL.get(name, {}))
        fitted[name, task, table] = (pipeline.fit(X, y), X)
    return fitted


def _iris_forest(n_estimators: int = 3):
    X, y = load_iris(return_X_y=True)
    return RandomForestClassifier(n_estimators=n_estimators, max_depth=3, random_state=0).fit(X, y), X


def _schema_edit(data: bytes, edit) -> bytes:
    """The skops file with schema.json replaced by edit(schema) (edited in place), every other
    member kept as it was."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == "schema.json":
                schema = json.loads(content)
                edit(schema)
                content = json.dumps(schema).encode()
            target.writestr(info, content)
    return out.getvalue()


def _nodes(schema):
    """Every dict in the schema, depth first."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _json(value) -> dict:
    return {"__class__": type(value).__name__, "__module__": "builtins", "__loader__": "JsonNode",
            "content": json.dumps(value), "is_json": True}  # fmt: skip


def _call(module: str, name: str, *args, loader: str = "ConstructorFromReduceNode") -> dict:
    """A skops node that, when built, calls module.name(*args): the node skops keeps for an
    object rebuilt by calling its type with arguments (skops.io._general's
    ConstructorFromReduceNode), or for a loss function (skops.io._sklearn's LossNode, which
    calls the type the node itself names)."""
    arguments = {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode",
                 "content": [_json(arg) for arg in args]}  # fmt: skip
    node = {"__class__": name, "__module__": module, "__loader__": loader}
    if loader == "LossNode":
        no_keys = {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode", "content": []}
        empty = {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode", "content": {}}
        return {**node, "__reduce__": {"args": arguments}, "content": {**empty, "key_types": no_keys}}
    return {**node, "content": arguments}


def _planted(node: dict) -> bytes:
    """A real fitted pipeline's skops file with `node` in place of the scaler's `copy` parameter."""
    X, y = load_iris(return_X_y=True)
    data = dumps(
        Pipeline([("scale", StandardScaler()), ("model", LogisticRegression(max_iter=500))]).fit(X, y)
    )

    def plant(schema):
        states = [n for n in _nodes(schema) if n.get("__loader__") == "DictNode" and "copy" in n["content"]]
        states[0]["content"]["copy"] = node

    return _schema_edit(data, plant)


def _refused(data: bytes, *, extra=(), code: str) -> ModelFileRefused:
    with pytest.raises(ModelFileRefused) as caught:
        load(data, sklearn_version=VERSION, extra=list(extra))
    assert caught.value.code == code, caught.value.message
    assert caught.value.errors == {"artifact": [caught.value.message]}
    return caught.value


# --- The platform's own pipelines ---------------------------------------------------------


@pytest.mark.parametrize(("name", "task", "table"), CASES, ids=["-".join(case) for case in CASES])
def test_every_platform_pipeline_round_trips_with_nothing_extra_trusted(
    platform_pipelines, name, task, table
):
    pipeline, X = platform_pipelines[name, task, table]
    loaded = load(dumps(pipeline), sklearn_version=VERSION, extra=[])
    assert type(loaded) is type(pipeline)
    np.testing.assert_array_equal(loaded.predict(X), pipeline.predict(X))
    if hasattr(pipeline, "predict_proba"):
        np.testing.assert_array_equal(loaded.predict_proba(X), pipeline.predict_proba(X))


def test_platform_trusted_is_exactly_what_the_platform_pipelines_need(platform_pipelines):
    needed = set()
    for pipeline, _ in platform_pipelines.values():
        needed.update(sio.get_untrusted_types(data=dumps(pipeline)))
    assert needed == set(PLATFORM_TRUSTED)


def test_check_returns_the_names_to_trust_and_dumps_deflates():
    forest, _ = _iris_forest()
    data = dumps(forest)
    assert check(data, sklearn_version=VERSION, extra=[]) == ["sklearn.tree._tree.Tree"]
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_DEFLATED}


# --- Not a skops file ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"PK\x03\x04rest", SKOPS),
        (b"\x80\x02rest", PICKLE),
        (b"\x80\x05rest", PICKLE),
        (b"\x80\x06rest", UNKNOWN),
        (b"\x80", UNKNOWN),
        (b"\x78\x9c", PICKLE),
        (b"\x1f\x8b\x08", PICKLE),
        (b"BZh9", PICKLE),
        (b"\xfd7zXZ\x00", PICKLE),
        (b"\x04\x22\x4d\x18", PICKLE),
        (b"PK\x05\x06", UNKNOWN),
        (b"{}", UNKNOWN),
        (b"", UNKNOWN),
    ],
)
def test_file_kind(head, kind):
    assert file_kind(head) == kind


def _joblib_bytes(obj, **options) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(obj, buffer, **options)
    return buffer.getvalue()


class Payload:
    """Unpickling it creates `marker` (its __reduce__); so does skops building it (its
    __setstate__): the proof that attacker code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))

    def __setstate__(self, state):
        open(state["marker"], "w").close()


@pytest.mark.parametrize(
    "serialise",
    [
        lambda obj: _joblib_bytes(obj),
        lambda obj: _joblib_bytes(obj, compress=3),
        lambda obj: _joblib_bytes(obj, compress=("gzip", 3)),
        lambda obj: _joblib_bytes(obj, compress=("bz2", 3)),
        lambda obj: _joblib_bytes(obj, compress=("xz", 3)),
        lambda obj: pickle.dumps(obj, protocol=2),
        lambda obj: pickle.dumps(obj, protocol=5),
    ],
    ids=["joblib", "joblib-compress-3", "gzip", "bz2", "xz", "pickle-2", "pickle-5"],
)
def test_pickles_are_refused_unread_with_how_to_save_with_skops(tmp_path, serialise):
    marker = tmp_path / "attacker-code-ran"
    data = serialise(Payload(marker))
    refused = _refused(data, code="pickle_refused")
    assert 'sio.dump(model, "model.skops")' in refused.message
    assert "python manage.py model_import --allow-pickle" in refused.message
    assert not marker.exists()
    joblib.load(io.BytesIO(data))  # the attack is real
    assert marker.exists()


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "not_a_model_file"),
        (b"not a model" + np.random.default_rng(0).bytes(1000), "not_a_model_file"),
        (b"PK\x03\x04" + np.random.default_rng(1).bytes(1000), "damaged"),
    ],
    ids=["empty", "random", "zip-head-random-body"],
)
def test_random_bytes_are_refused(data, code):
    _refused(data, code=code)


def _zip(members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_a_zip_without_schema_json_is_refused():
    assert _refused(_zip({"model.npy": b"\x93NUMPY"}), code="not_a_model_file").message.endswith(
        "no schema.json."
    )


@pytest.mark.parametrize(
    "data",
    [
        _zip({"schema.json": b"{not json"}),
        _zip({"schema.json": b'{"protocol": 99}'}),
        _zip({"schema.json": b"[" * 100_000 + b"]" * 100_000}),
        dumps(DecisionTreeClassifier().fit([[0], [1]], [0, 1]))[:-40],
    ],
    ids=["not-json", "unknown-protocol", "deep-nesting", "truncated"],
)
def test_a_damaged_skops_file_is_refused(data):
    _refused(data, code="damaged")


def test_a_zip_bomb_is_refused_before_it_is_unpacked():
    bomb = _zip({"schema.json": b" " * 50_000_000}, compression=zipfile.ZIP_DEFLATED)
    assert len(bomb) < 100_000
    with pytest.raises(ModelFileRefused) as caught:
        check(bomb, sklearn_version=VERSION, extra=[], max_unpacked=10_000_000)
    assert caught.value.code == "too_large"


def test_a_scikit_learn_object_that_does_not_predict_is_refused():
    scaler = StandardScaler().fit(load_iris(return_X_y=True)[0])
    assert _refused(dumps(scaler), code="not_a_model_file").message.endswith("not a model that predicts.")


def test_an_object_that_is_not_a_scikit_learn_model_is_refused():
    assert _refused(dumps({"weights": [1, 2]}), code="not_a_model_file").message.startswith(
        "Not a scikit-learn"
    )


# --- The attacks ----------------------------------------------------------------------------


def _attack_refused(data: bytes, name: str, marker) -> None:
    refused = _refused(data, code="untrusted_types")
    assert name in refused.untrusted
    assert name in refused.message
    assert refused.untrusted == sorted(refused.untrusted)
    assert not marker.exists()
    # The policy is the operator's: only naming it in `extra` would accept it.
    assert trusted_names([name], []) == ([], [name])
    assert trusted_names([name], [name + "x", name.rsplit(".", 1)[0], name.upper()]) == ([], [name])
    assert trusted_names([name], [name]) == ([name], [])


@pytest.mark.parametrize("loader", ["ConstructorFromReduceNode", "LossNode"])
@pytest.mark.parametrize(("module", "function"), [("os", "system"), ("posix", "system")])
def test_a_file_calling_os_system_is_refused_and_nothing_runs(tmp_path, module, function, loader):
    marker = tmp_path / "attacker-code-ran"
    data = _planted(_call(module, function, f"touch {marker}", loader=loader))
    _attack_refused(data, f"{module}.{function}", marker)
    sio.loads(data, trusted=sio.get_untrusted_types(data=data))  # the attack is real
    assert marker.exists()


@pytest.mark.parametrize("loader", ["FunctionNode", "TypeNode", "ObjectNode", "MethodNode"])
@pytest.mark.parametrize("name", ["os.system", "builtins.eval", "subprocess.Popen", "sklearnx.Model"])
def test_a_file_naming_a_dangerous_function_or_type_any_way_is_refused(loader, name):
    module, attribute = name.rsplit(".", 1)
    node = {"__class__": attribute, "__module__": module, "__loader__": loader}
    if loader == "MethodNode":  # a method of an object of that type
        node["content"] = {"func": "__call__", "obj": {**node, "__loader__": "ObjectNode"}}
    refused = _refused(_planted(node), code="untrusted_types")
    assert any(untrusted.startswith(name) for untrusted in refused.untrusted)


@pytest.mark.parametrize("function", ["eval", "exec"])
def test_a_file_calling_eval_or_exec_is_refused_and_nothing_runs(tmp_path, function):
    marker = tmp_path / "attacker-code-ran"
    data = _planted(_call("builtins", function, f"open({str(marker)!r}, 'w').close()"))
    _attack_refused(data, f"builtins.{function}", marker)
    sio.loads(data, trusted=[f"builtins.{function}"])  # the attack is real
    assert marker.exists()


def test_a_class_of_the_uploader_is_refused_before_it_is_built(tmp_path):
    marker = tmp_path / "attacker-code-ran"
    X, y = load_iris(return_X_y=True)
    # Hidden in a parameter of a real pipeline: skops stores it as an ObjectNode.
    pipeline = Pipeline(
        [("scale", StandardScaler()), ("model", LogisticRegression(max_iter=500))], memory=None
    )
    pipeline.fit(X, y).memory = Payload(marker)
    data = dumps(pipeline)
    name = f"{Payload.__module__}.Payload"
    _attack_refused(data, name, marker)
    sio.loads(data, trusted=[name])  # the attack is real
    assert marker.exists()


def test_a_function_transformer_holding_os_system_is_refused(tmp_path):
    marker = tmp_path / "attacker-code-ran"
    pipeline = Pipeline([("run", FunctionTransformer(func=os.system)), ("model", LogisticRegression())])
    data = dumps(pipeline)
    name = f"{os.system.__module__}.system"  # posix.system on Linux
    _attack_refused(data, name, marker)
    loaded = sio.loads(data, trusted=[name])  # the attack is real, once the model runs
    loaded.named_steps["run"].transform(f"touch {marker}")
    assert marker.exists()


def test_a_numpy_class_that_writes_files_is_refused(tmp_path):
    # numpy.memmap is a class inside numpy: trusting numpy's classes by kind would let a file
    # create or truncate any path the server may write.
    marker = tmp_path / "attacker-file"
    data = _planted(_call("numpy", "memmap", str(marker), "uint8", "w+", 0, [16]))
    _attack_refused(data, "numpy.memmap", marker)
    sio.loads(data, trusted=["numpy.memmap"])  # the attack is real
    assert marker.stat().st_size == 16


def test_check_is_static_even_for_a_name_the_operator_trusts(tmp_path):
    marker = tmp_path / "attacker-code-ran"
    data = _planted(_call("os", "system", f"touch {marker}"))
    assert check(data, sklearn_version=VERSION, extra=["os.system"]) == ["os.system"]
    assert not marker.exists()
    load(data, sklearn_version=VERSION, extra=["os.system"])  # the operator's choice, then
    assert marker.exists()


# --- scikit-learn's version -----------------------------------------------------------------


def _versions_set(version: str, *, only_first: bool = False):
    def edit(schema):
        for node in _nodes(schema):
            if "_sklearn_version" in node:
                node["_sklearn_version"]["content"] = json.dumps(version)
                if only_first:
                    return

    return edit


@pytest.mark.parametrize("only_first", [False, True])
def test_a_model_saved_by_another_scikit_learn_is_refused(only_first):
    pipeline = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression(max_iter=500))])
    data = dumps(pipeline.fit(*load_iris(return_X_y=True)))
    refused = _refused(
        _schema_edit(data, _versions_set("1.0.2", only_first=only_first)), code="sklearn_version"
    )
    assert "saved with scikit-learn 1.0.2" in refused.message
    assert f"this platform runs {VERSION}" in refused.message
    assert load(data, sklearn_version=VERSION, extra=[]) is not None


def test_a_version_that_is_not_text_is_refused():
    def edit(schema):
        next(n for n in _nodes(schema) if "_sklearn_version" in n)["_sklearn_version"] = _json(["1.9"])

    forest, _ = _iris_forest()
    _refused(_schema_edit(dumps(forest), edit), code="damaged")


# --- The policy -----------------------------------------------------------------------------


def test_scikit_learn_classes_outside_the_platform_list_load():
    X, y = load_iris(return_X_y=True)
    pipeline = Pipeline([("scale", StandardScaler()), ("model", KNeighborsClassifier())]).fit(X, y)
    data = dumps(pipeline)
    untrusted = sio.get_untrusted_types(data=data)
    assert untrusted  # KDTree, a distance metric
    assert not set(untrusted) & set(PLATFORM_TRUSTED)
    loaded = load(data, sklearn_version=VERSION, extra=[])
    np.testing.assert_array_equal(loaded.predict_proba(X), pipeline.predict_proba(X))


def test_a_scikit_learn_function_is_trusted_only_by_name():
    X, y = load_iris(return_X_y=True)
    pipeline = Pipeline([("select", SelectKBest(k=2)), ("model", LogisticRegression(max_iter=500))]).fit(X, y)
    data = dumps(pipeline)
    name = "sklearn.feature_selection._univariate_selection.f_classif"
    assert _refused(data, code="untrusted_types").untrusted == [name]
    loaded = load(data, sklearn_version=VERSION, extra=[name])
    np.testing.assert_array_equal(loaded.predict(X), pipeline.predict(X))


@pytest.mark.parametrize(
    "name",
    [
        "sklearn.svm._classes.SVC",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.gaussian_process.kernels.RBF",
        "numpy.add",
        "numpy.exp",
        "scipy.special.expit",
    ],
)
def test_trusted_by_kind(name):
    assert trusted_names([name], []) == ([name], [])


@pytest.mark.parametrize(
    "name",
    [
        # functions, unless named
        "sklearn.utils.validation.check_is_fitted",
        "sklearn.utils.validation.check_array.__call__",
        "numpy.mean",
        "numpy.load",
        "scipy.special.logsumexp",
        # methods
        "sklearn.svm._classes.SVC.fit",
        # numpy's and scipy's classes, unless named
        "numpy.memmap",
        "numpy.ndarray",
        "scipy.io.FortranFile",
        # tests and test tooling
        "numpy.testing.x",
        "numpy.testing.assert_equal",
        "numpy.testing.TestCase",
        "sklearn.utils._testing.TempMemmap",
        "sklearn.tests.test_base.K",
        "sklearn.conftest.x",
        "scipy.conftest_plugin.x",
        "numpy._pytesttester.PytestTester",
        "scipy._lib._testutils.PytestTester",
        # other packages
        "builtins.eval",
        "builtins.getattr",
        "os.system",
        "subprocess.Popen",
        "joblib.load",
        "sklearnx.Thing",
        # names that are not names
        "",
        "sklearn",
        "sklearn..svm.SVC",
        "sklearn.svm._classes.SVC ",
        "sklearn.svm/../os.system",
        "sklearn.no_such_module.Thing",
        "sklearn.svm.NoSuchThing",
    ],
)
def test_refused_by_default(name):
    assert trusted_names([name], []) == ([], [name])


@pytest.mark.parametrize(
    ("name", "really"),
    [
        ("sklearn.callback._transport.Thread", "threading"),
        ("sklearn.callback._transport.Listener", "multiprocessing"),
    ],
)
def test_a_class_imported_into_scikit_learn_from_elsewhere_is_refused(name, really):
    module, attribute = name.rsplit(".", 1)
    found = getattr(__import__(module, fromlist=[attribute]), attribute)
    assert isinstance(found, type)
    assert found.__module__.split(".")[0] == really
    assert trusted_names([name], []) == ([], [name])


@pytest.mark.parametrize(
    ("home", "trusted"), [("sklearn.utils._testing", False), ("sklearn.utils.validation", True)]
)
def test_a_class_is_judged_by_where_it_is_defined(monkeypatch, home, trusted):
    import sklearn.utils.validation

    planted = type("Planted", (), {"__module__": home})
    monkeypatch.setattr(sklearn.utils.validation, "Planted", planted, raising=False)
    name = "sklearn.utils.validation.Planted"
    assert trusted_names([name], []) == (([name], []) if trusted else ([], [name]))


def test_a_name_outside_the_three_packages_is_never_imported():
    assert "antigravity" not in sys.modules  # importing it opens a web browser
    assert trusted_names(["antigravity.fly"], []) == ([], ["antigravity.fly"])
    assert "antigravity" not in sys.modules


def test_extra_accepts_exactly_the_names_it_lists():
    names = ["numpy.mean", "numpy.median", "builtins.eval"]
    assert trusted_names(names, ["numpy.mean"]) == (["numpy.mean"], ["builtins.eval", "numpy.median"])
    assert trusted_names(names, ["numpy"]) == ([], sorted(names))
    assert trusted_names(names, ["numpy.mea", "numpy.mean."]) == ([], sorted(names))


# --- Decision trees with crafted contents -----------------------------------------------------


def _tree_with(tree: Tree, **changes) -> Tree:
    """A copy of the tree with node fields changed: {"left_child": {0: 10**9}}, or max_depth=0."""
    cls, args, state = tree.__reduce__()
    nodes = state["nodes"].copy()
    for field, values in changes.items():
        if field != "max_depth":
            for index, value in values.items():
                nodes[field][index] = value
    crafted = cls(*args)
    crafted.__setstate__({**state, "nodes": nodes, "max_depth": changes.get("max_depth", state["max_depth"])})
    return crafted


def test_a_crafted_tree_really_crashes_the_process_that_predicts(tmp_path):
    forest, _ = _iris_forest()
    crafted = _tree_with(forest.estimators_[0].tree_, left_child={0: 2**40}, right_child={0: 2**40})
    forest.estimators_[0].tree_ = crafted
    path = tmp_path / "crafted.skops"
    path.write_bytes(dumps(forest))
    _refused(path.read_bytes(), code="damaged")
    script = (
        "import sys, numpy as np, skops.io as sio; "
        "model = sio.loads(open(sys.argv[1], 'rb').read(), trusted=['sklearn.tree._tree.Tree']); "
        "model.predict(np.ones((4, 4)))"
    )
    finished = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, timeout=120)
    assert finished.returncode < 0  # killed by a signal (SIGSEGV), not an exception


@pytest.mark.parametrize(
    "changes",
    [
        {"left_child": {0: 10**6}},
        {"right_child": {0: -5}},
        {"left_child": {0: 0}},  # a loop back to itself
        {"left_child": {0: 1}, "right_child": {0: 1}},  # one child, two parents
        {"feature": {0: 4}},
        {"feature": {0: -3}},
        {"max_depth": 1},
    ],
    ids=[
        "child-beyond",
        "child-negative",
        "loop",
        "shared-child",
        "feature-beyond",
        "feature-negative",
        "max-depth-under",
    ],
)
def test_a_forest_with_a_crafted_tree_is_refused(changes):
    forest, _ = _iris_forest()
    forest.estimators_[1].tree_ = _tree_with(forest.estimators_[1].tree_, **changes)
    assert _refused(dumps(forest), code="damaged").message.startswith("The model's contents")


@pytest.mark.parametrize("count", [0, 1])
def test_a_tree_whose_node_count_is_not_its_nodes_is_refused(count):
    # (A count above the nodes stored is cut down to them by scikit-learn itself.)
    def edit(schema):
        tree = next(n for n in _nodes(schema) if n.get("__loader__") == "TreeNode")
        tree["content"]["content"]["node_count"] = _json(count)

    forest, _ = _iris_forest()
    _refused(_schema_edit(dumps(forest), edit), code="damaged")


def test_trees_wider_than_what_their_estimators_check_are_refused():
    forest, _ = _iris_forest()
    forest.estimators_[0].n_features_in_ = 2
    _refused(dumps(forest), code="damaged")
    forest, _ = _iris_forest()
    forest.n_features_in_ = 2  # the forest checks 2 columns and passes them on to trees of 4
    assert "ensemble of 2" in _refused(dumps(forest), code="damaged").message


def test_a_tree_outside_its_estimator_is_refused():
    X, y = load_iris(return_X_y=True)
    pipeline = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression(max_iter=500))]).fit(X, y)
    pipeline.named_steps["scale"].spare_ = _iris_forest()[0].estimators_[0].tree_
    _refused(dumps(pipeline), code="damaged", extra=["sklearn.tree._tree.Tree"])


def _boosting(categorical: bool):
    X, y = load_iris(return_X_y=True)
    X = X.copy()
    if categorical:
        X[:, 0] = y  # a category that is the class itself: the trees split on it
    model = HistGradientBoostingClassifier(max_iter=3, categorical_features=[0] if categorical else None)
    return model.fit(X, y), X


@pytest.mark.parametrize(
    ("field", "value"),
    [("left", 10**6), ("right", 0), ("feature_idx", 4), ("feature_idx", -1)],
)
def test_a_boosting_tree_with_crafted_nodes_is_refused(field, value):
    model, _ = _boosting(categorical=False)
    predictor = model._predictors[0][0]
    nodes = predictor.nodes.copy()
    nodes[field][0] = value
    predictor.nodes = nodes
    assert _refused(dumps(model), code="damaged").message.startswith("The model's contents")


def test_a_boosting_tree_with_crafted_categorical_splits_is_refused():
    model, X = _boosting(categorical=True)
    loaded = load(dumps(model), sklearn_version=VERSION, extra=[])
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    split = next(
        (predictor, i)
        for predictors in model._predictors
        for predictor in predictors
        for i in np.flatnonzero(predictor.nodes["is_categorical"])
    )
    predictor, index = split
    predictor.nodes["bitset_idx"][index] = 10**6
    _refused(dumps(model), code="damaged")
    predictor.nodes["bitset_idx"][index] = 0
    model._bin_mapper.is_categorical_[0] = 0  # a categorical split on a numeric feature
    _refused(dumps(model), code="damaged")


def test_compressed_sparse_matrices_load_and_are_checked():
    X, y = load_iris(return_X_y=True)
    X = scipy.sparse.csr_matrix(X)
    model = SVC().fit(X, y)  # its support vectors: a CSR matrix
    data = dumps(model)
    assert sio.get_untrusted_types(data=data) == ["scipy.sparse._csr.csr_matrix"]
    np.testing.assert_array_equal(load(data, sklearn_version=VERSION, extra=[]).predict(X), model.predict(X))
    model.support_vectors_.indices[0] = 1000  # a column the model does not have
    assert "sparse matrix" in _refused(dumps(model), code="damaged").message


@pytest.mark.parametrize(
    ("name", "trusted"),
    [
        ("scipy.sparse._csr.csr_matrix", True),
        ("scipy.sparse._csc.csc_array", True),
        ("scipy.sparse._coo.coo_matrix", False),  # no check_format: its indices go unchecked
        ("scipy.sparse._lil.lil_matrix", False),
        ("scipy.sparse.spmatrix", False),
    ],
)
def test_sparse_classes(name, trusted):
    assert trusted_names([name], []) == (([name], []) if trusted else ([], [name]))


def test_a_text_vectorizer_that_reads_files_is_refused(tmp_path):
    secret = tmp_path / "secret.env"
    secret.write_text("password hunter2")
    texts, y = ["password reset", "hello there", "password lost", "good day"], [1, 0, 1, 0]
    pipeline = Pipeline([("words", CountVectorizer()), ("model", LogisticRegression())]).fit(texts, y)
    pipeline.named_steps["words"].input = "filename"
    data = dumps(pipeline)
    _refused(data, code="unsafe_model")
    loaded = sio.loads(data, trusted=sio.get_untrusted_types(data=data))  # the attack is real
    assert loaded.named_steps["words"].transform([str(secret)]).sum() == 1  # "password", read from the file
