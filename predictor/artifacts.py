"""Model artifacts, content-addressed by SHA-256.

An artifact is only ever loaded after its bytes hash to the value the registry holds
and it was written by the scikit-learn version this process runs.
"""

import hashlib
import io
import os
import tempfile
from pathlib import Path

import joblib
import sklearn
from django.conf import settings


class ArtifactError(Exception):
    """The artifact is missing, tampered with, or from another scikit-learn version."""


def _path(sha256: str) -> Path:
    return Path(settings.ARTIFACT_DIR) / f"{sha256}.joblib"


def artifact_save(obj) -> str:
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    data = buffer.getvalue()
    sha256 = hashlib.sha256(data).hexdigest()
    path = _path(sha256)
    if not path.exists() or hashlib.sha256(path.read_bytes()).hexdigest() != sha256:
        # Missing, or damaged since it was written: (re)write it.
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    return sha256


def artifact_exists(sha256: str) -> bool:
    return _path(sha256).exists()


def artifact_load(sha256: str, *, sklearn_version: str):
    if sklearn_version != sklearn.__version__:
        raise ArtifactError(
            f"artifact {sha256[:12]} was built with scikit-learn {sklearn_version}, "
            f"this worker runs {sklearn.__version__}; refusing to load it"
        )
    try:
        data = _path(sha256).read_bytes()
    except FileNotFoundError:
        raise ArtifactError(f"artifact {sha256[:12]} is not in the artifact store") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise ArtifactError(
            f"artifact {sha256[:12]} does not match its SHA-256 (found {actual[:12]}); refusing to load it"
        )
    return joblib.load(io.BytesIO(data))
