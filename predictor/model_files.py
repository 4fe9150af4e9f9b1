"""Model files from outside the platform (an upload over HTTP): skops files only, read safely.

Loading a pickle (joblib) runs whatever code its author put in it, so a pickle is refused
before anything is read. A skops file is a zip whose schema.json names every type and
function the model is made of; `check` reads those names without creating anything and
refuses the file unless every name passes the platform's policy (`trusted_names`), then
refuses a model saved by another scikit-learn version. Only then does `load` let skops
build the objects, with exactly the accepted names as `trusted=`, and checks what it built
(decision trees, sparse matrices: arrays of indices compiled code follows unchecked)
before anything can predict with them.

The trusted list is the platform's (PLATFORM_TRUSTED) and the operator's
(settings.MODEL_IMPORT_TRUSTED_TYPES, passed as `extra`): never read from the file itself.
"""

import importlib
import importlib.util
import io
import json
import os
import zipfile

import numpy as np
import skops.io as sio

from .errors import FieldErrors
from .model_contents import SPARSE, UnsafeModel, contents_check

SKOPS, PICKLE, UNKNOWN = "skops", "pickle", "unknown"
FIELD = "artifact"
# What a file may unpack to (the sum of its members' declared sizes; zipfile never reads a
# member past its declared size). A 100-tree forest with the default leaves is at most
# about 33 MB (predictor/estimators.py): this leaves room for unbounded trees, not for a
# zip bomb.
UNPACKED_MAX_BYTES = 1 << 30

# What the platform's own pipelines need beyond skops's defaults: every pipeline
# predictor/estimators.py `pipeline_build` makes (each estimator, each task, numbers alone and
# with booleans, categories and missing values), fitted and read back with
# skops.io.get_untrusted_types (tests/predictor/test_model_files.py checks the list is
# exactly that). Functions are trusted only by name, here or in `extra`: a model may call a
# function it holds (FunctionTransformer(func=...)).
PLATFORM_TRUSTED = [
    # Histogram gradient boosting's categories: its preprocessor is a FunctionTransformer
    # of functools.partial(check_array, ...).
    "functools.partial",
    "sklearn.utils.validation.check_array",
    # The imputers' fitted dtypes (SimpleImputer._fit_dtype, _fill_dtype).
    "numpy.dtype",
    # skops leaves these two out of its defaults: their node arrays hold indices that
    # scikit-learn's compiled code follows unchecked. `load` checks them (_contents_check).
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
]

_ROOTS = ("sklearn", "numpy", "scipy")
# Modules never trusted by kind: tests and the tooling that runs or builds them.
_EXCLUDED = {"tests", "testing", "_testing", "_testutils", "_pytesttester", "_build_utils", "f2py"}
# joblib's compressed formats: zlib, gzip, bz2, xz, lz4.
_COMPRESSED_PICKLE = (b"\x78", b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"\x04\x22\x4d\x18")

PICKLE_MESSAGE = (
    "This is a pickle (a joblib file): loading one runs whatever code its author put in it, "
    "so pickles are never loaded over HTTP. Save the model with skops instead: "
    '`import skops.io as sio; sio.dump(model, "model.skops")`, and send that file. '
    "(Staff can import a joblib file they trust from the server's command line: "
    "`python manage.py model_import --allow-pickle`.)"
)


class ModelFileRefused(FieldErrors):
    """A model file refused, on the field `artifact`. `code` says why (pickle_refused,
    not_a_model_file, too_large, damaged, untrusted_types, sklearn_version, unsafe_model); `untrusted`
    lists the names refused by the policy, sorted."""

    def __init__(self, message: str, *, code: str = "damaged", untrusted: list[str] | None = None):
        super().__init__({FIELD: [message]})
        self.message = message
        self.code = code
        self.untrusted = list(untrusted or [])


def file_kind(head: bytes) -> str:
    """SKOPS for a zip, PICKLE for a pickle or one of joblib's compressed files, else UNKNOWN."""
    if head.startswith(b"PK\x03\x04"):
        return SKOPS
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return PICKLE
    if head.startswith(_COMPRESSED_PICKLE):
        return PICKLE
    return UNKNOWN


def _excluded(parts: list[str]) -> bool:
    return any(part in _EXCLUDED or part.startswith("conftest") for part in parts)


def _trusted_by_kind(name: str) -> bool:
    """A scikit-learn class (defined in scikit-learn, not merely imported there), a numpy
    ufunc, or one of scipy's compressed sparse matrices (`load` checks their indices). A
    module is imported only once its name is known to be inside scikit-learn, numpy or scipy
    and findable there.

    numpy's and scipy's other classes are trusted only by name: skops may call a class
    with arguments from the file, and some of theirs write files when called
    (numpy.memmap and scipy.io.FortranFile create or truncate the path they are given)."""
    parts = name.split(".")
    if len(parts) < 2 or parts[0] not in _ROOTS or _excluded(parts):
        return False
    if not all(part.isidentifier() for part in parts):
        return False
    module_name, attribute = ".".join(parts[:-1]), parts[-1]
    try:
        if importlib.util.find_spec(module_name) is None:
            return False
        found = getattr(importlib.import_module(module_name), attribute, None)
    except Exception:  # ImportError, ValueError, or whatever a module raises when imported
        return False
    if isinstance(found, np.ufunc):
        return True
    if not isinstance(found, type):
        return False
    # Where the class is defined, not where it is reachable from: scikit-learn modules
    # import classes from elsewhere (threading.Thread, multiprocessing's Listener...).
    home = str(getattr(found, "__module__", "")).split(".")
    if _excluded(home):
        return False
    if parts[0] == home[0] == "sklearn":
        return True
    return home[:2] == ["scipy", "sparse"] and issubclass(found, SPARSE) and hasattr(found, "check_format")


def trusted_names(names: list[str], extra: list[str]) -> tuple[list[str], list[str]]:
    """(accepted, refused), each sorted. Deny by default: a name is accepted only when it is
    in `extra` (the operator's exact dotted names) or PLATFORM_TRUSTED, or is a scikit-learn
    class, a numpy ufunc or a compressed sparse matrix (_trusted_by_kind). Any other
    function, builtins, os, subprocess or any other package: refused."""
    named = set(extra) | set(PLATFORM_TRUSTED)
    accepted, refused = [], []
    for name in sorted(set(names)):
        (accepted if name in named or _trusted_by_kind(name) else refused).append(name)
    return accepted, refused


def _damaged(exc: BaseException) -> ModelFileRefused:
    detail = str(exc)[:500] or type(exc).__name__
    return ModelFileRefused(f"The file is damaged or is not a model saved by skops: {detail}", code="damaged")


def _schema(data: bytes, max_unpacked: int):
    """schema.json, parsed, once the file is known to be a zip of a bounded size holding one."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if "schema.json" not in archive.namelist():
                raise ModelFileRefused("Not a skops model file: no schema.json.", code="not_a_model_file")
            unpacked = sum(info.file_size for info in archive.infolist())
            if unpacked > max_unpacked:
                raise ModelFileRefused(
                    f"The file unpacks to {unpacked:,} bytes, over {max_unpacked:,}.", code="too_large"
                )
            return json.loads(archive.read("schema.json"))
    except ModelFileRefused:
        raise
    except Exception as exc:  # BadZipFile, a bad CRC, JSON errors, RecursionError on deep nesting
        raise _damaged(exc) from exc


def _sklearn_versions(schema) -> set[str]:
    """Every `_sklearn_version` the schema records: scikit-learn estimators keep it in their
    state, which skops writes as {"__loader__": "JsonNode", "content": "\\"1.9.1\\"", ...}."""
    found, stack = set(), [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "_sklearn_version" in node:
                value = node["_sklearn_version"]
                try:
                    version = json.loads(value["content"]) if value.get("__loader__") == "JsonNode" else None
                except (AttributeError, KeyError, TypeError, ValueError):
                    version = None
                if not isinstance(version, str):
                    raise ModelFileRefused("The file records a scikit-learn version that is not text.")
                found.add(version)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def check(
    data: bytes, *, sklearn_version: str, extra: list[str], max_unpacked: int = UNPACKED_MAX_BYTES
) -> list[str]:
    """The untrusted names the file holds, all accepted by the policy (to pass to skops as
    `trusted=`), or ModelFileRefused. Static: reads schema.json, creates nothing, imports only
    what `trusted_names` may (modules inside scikit-learn, numpy and scipy)."""
    kind = file_kind(data[:8])
    if kind == PICKLE:
        raise ModelFileRefused(PICKLE_MESSAGE, code="pickle_refused")
    if kind != SKOPS:
        raise ModelFileRefused(
            'Not a skops file. Save the model with `import skops.io as sio; sio.dump(model, "model.skops")`.',
            code="not_a_model_file",
        )
    schema = _schema(data, max_unpacked)
    try:
        # Builds skops's tree of nodes from schema.json: names only, nothing constructed.
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:  # an unknown loader or protocol, a missing key, a missing member
        raise _damaged(exc) from exc
    accepted, refused = trusted_names(untrusted, extra)
    if refused:
        raise ModelFileRefused(
            f"The file holds types and functions this platform does not load: {refused}. It loads "
            "scikit-learn classes, numpy ufuncs, what its own models use, and the names its operator "
            "lists in MODEL_IMPORT_TRUSTED_TYPES.",
            code="untrusted_types",
            untrusted=refused,
        )
    versions = _sklearn_versions(schema)
    if not versions:
        raise ModelFileRefused(
            "Not a scikit-learn model: the file records no scikit-learn version.", code="not_a_model_file"
        )
    others = sorted(versions - {sklearn_version})
    if others:
        raise ModelFileRefused(
            f"The model was saved with scikit-learn {', '.join(others)}, this platform runs "
            f"{sklearn_version}; loading it could give wrong answers silently: re-save it with "
            f"scikit-learn {sklearn_version}.",
            code="sklearn_version",
        )
    return accepted


def load(
    data: bytes,
    *,
    sklearn_version: str,
    extra: list[str],
    max_unpacked: int = UNPACKED_MAX_BYTES,
    accepted: list[str] | None = None,
):
    """The model in a skops file, once `check` has passed it, built by skops with exactly the
    accepted names trusted, its contents checked (predictor/model_contents.py); else
    ModelFileRefused. `accepted`: what `check` returned for these very bytes before (a
    content-addressed artifact loaded again: predictor/artifacts.py); skops still refuses any
    name outside it while it builds."""
    if accepted is None:
        accepted = check(data, sklearn_version=sklearn_version, extra=extra, max_unpacked=max_unpacked)
    try:
        model = sio.loads(data, trusted=accepted)
    except Exception as exc:
        raise _damaged(exc) from exc
    try:
        contents_check(model)
    except UnsafeModel as exc:
        raise ModelFileRefused(exc.message, code=exc.code) from None
    if not callable(getattr(model, "predict", None)):
        raise ModelFileRefused(
            f"The file holds a {type(model).__name__}, not a model that predicts.", code="not_a_model_file"
        )
    return model


def dumps(obj) -> bytes:
    """A skops file of `obj`. Deflated: a 200-tree random forest on load_wine is 3,774,419
    bytes stored and about 377,000 deflated (10 times smaller), and loads in the same time
    either way (0.13 s at best of 7 loads each, on this platform's 2-core machine).

    The same object gives the same bytes (_canonical), as joblib's did: artifacts are stored
    once per content, and an exported file's SHA-256 (its ETag) stays the same."""
    return _canonical(sio.dumps(obj, compression=zipfile.ZIP_DEFLATED))


_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def _canonical(data: bytes) -> bytes:
    """skops's file with its nondeterminism taken out: it numbers objects (`__id__`) by
    id(), a memory address, names the members holding arrays by that id (or a random uuid,
    for bytes), and stamps every member with the time. Here ids become 1, 2, ... and member
    names 1.npy, 2.npz, ... in the order schema.json first mentions them (one object, one
    id: shared objects stay shared), and every member gets one fixed time."""
    ids: dict[int, int] = {}
    files: dict[str, str] = {}

    def rewrite(node):
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "__id__" and isinstance(value, int) and not isinstance(value, bool):
                    value = ids.setdefault(value, len(ids) + 1)
                elif key == "file" and isinstance(value, str):
                    value = files.setdefault(value, f"{len(files) + 1}{os.path.splitext(value)[1]}")
                else:
                    value = rewrite(value)
                out[key] = value
            return out
        if isinstance(node, list):
            return [rewrite(value) for value in node]
        return node

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        schema = rewrite(json.loads(source.read("schema.json")))
        names = [name for name in source.namelist() if name != "schema.json"]
        if sorted(names) != sorted(files):  # never, from skops.io.dumps: keep its file as it is
            return data
        with zipfile.ZipFile(out, "w") as target:
            for old, new in files.items():
                target.writestr(zipfile.ZipInfo(new, _FIXED_TIME), source.read(old), zipfile.ZIP_DEFLATED)
            schema_json = json.dumps(schema, indent=2)
            target.writestr(zipfile.ZipInfo("schema.json", _FIXED_TIME), schema_json, zipfile.ZIP_DEFLATED)
    return out.getvalue()
