"""Model artifacts, content-addressed by SHA-256.

The store is MongoDB GridFS (bucket "artifacts", one file per artifact, named by its
SHA-256), so a worker on any host can fetch an artifact without a shared disk.
settings.ARTIFACT_DIR is this host's cache of it.

An artifact is only ever loaded when (1) the registry's signature of its SHA-256 checks
out against settings.ARTIFACT_SIGNING_KEY (a key kept in neither MongoDB nor the SQL
database), (2) its bytes hash to that SHA-256, and (3) it was written by the scikit-learn
version this process runs. Loading unpickles, so a file or a job that anyone with write
access to MongoDB could forge must never reach joblib.load on its own word.
"""

import contextlib
import hashlib
import hmac
import io
import logging
import os
import tempfile
from pathlib import Path

import joblib
import sklearn
from django.conf import settings
from django.utils.crypto import salted_hmac
from gridfs import GridFSBucket
from gridfs.errors import CorruptGridFile, NoFile
from mongoengine.connection import get_db
from pymongo.errors import ConnectionFailure

from .history import HistoryUnavailable

logger = logging.getLogger(__name__)

BUCKET = "artifacts"


class ArtifactError(Exception):
    """The artifact is missing, tampered with, or from another scikit-learn version."""


def artifact_sign(sha256: str, *, sklearn_version: str) -> str:
    """The registry's signature of an artifact: HMAC-SHA256 over its hash and library version."""
    key = settings.ARTIFACT_SIGNING_KEY or settings.SECRET_KEY
    return salted_hmac(
        "predictor.artifacts", f"{sha256}:{sklearn_version}", secret=key, algorithm="sha256"
    ).hexdigest()


def artifact_verify(sha256: str, *, sklearn_version: str, signature: str | None) -> None:
    """Raise ArtifactError unless `signature` is the registry's signature of this artifact."""
    expected = artifact_sign(sha256, sklearn_version=sklearn_version)
    if not signature or not hmac.compare_digest(signature, expected):
        raise ArtifactError(
            f"artifact {sha256[:12]} is not signed by this platform's registry; refusing to load it"
        )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _path(sha256: str) -> Path:
    return Path(settings.ARTIFACT_DIR) / f"{sha256}.joblib"


@contextlib.contextmanager
def _gridfs():
    """The artifact bucket; an unreachable MongoDB raises HistoryUnavailable (tasks retry it)."""
    try:
        yield GridFSBucket(get_db(), bucket_name=BUCKET)
    except ConnectionFailure as exc:
        raise HistoryUnavailable(str(exc)) from exc


def _stored(bucket: GridFSBucket, sha256: str) -> bool:
    return next(bucket.find({"filename": sha256}, limit=1), None) is not None


def _cache_read(sha256: str) -> bytes | None:
    """This host's copy, or None when there is none or it does not hash to `sha256`."""
    try:
        data = _path(sha256).read_bytes()
    except FileNotFoundError:
        return None
    if _sha256(data) != sha256:
        logger.warning("cached artifact %s does not match its SHA-256; ignoring it", sha256[:12])
        return None
    return data


def _cache_write(sha256: str, data: bytes) -> None:
    path = _path(sha256)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename, so a reader never sees half a file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def _fetch(sha256: str) -> bytes:
    """The artifact's bytes from GridFS, verified against `sha256`."""
    with _gridfs() as bucket:
        try:
            with bucket.open_download_stream_by_name(sha256) as stream:
                data = stream.read()
        except NoFile:
            raise ArtifactError(f"artifact {sha256[:12]} is not in the artifact store") from None
        except CorruptGridFile as exc:
            raise ArtifactError(
                f"artifact {sha256[:12]} is damaged in the artifact store ({exc}); refusing to load it"
            ) from exc
    actual = _sha256(data)
    if actual != sha256:
        raise ArtifactError(
            f"artifact {sha256[:12]} does not match its SHA-256 (found {actual[:12]}); refusing to load it"
        )
    return data


def artifact_save(obj) -> str:
    """Store `obj` in GridFS (once per content) and in this host's cache; return its SHA-256."""
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    data = buffer.getvalue()
    sha256 = _sha256(data)
    with _gridfs() as bucket:
        # Two hosts saving the same bytes at once may both upload: harmless, the copies are equal.
        if not _stored(bucket, sha256):
            bucket.upload_from_stream(sha256, data, metadata={"sha256": sha256, "size": len(data)})
    if _cache_read(sha256) is None:
        _cache_write(sha256, data)
    return sha256


def artifact_check_stored(sha256: str) -> None:
    """Raise ArtifactError unless the store holds bytes that hash to `sha256`."""
    _fetch(sha256)


def artifact_load(sha256: str, *, sklearn_version: str, signature: str | None):
    """The artifact's object, once the three checks of this module's docstring pass."""
    artifact_verify(sha256, sklearn_version=sklearn_version, signature=signature)
    if sklearn_version != sklearn.__version__:
        raise ArtifactError(
            f"artifact {sha256[:12]} was built with scikit-learn {sklearn_version}, "
            f"this worker runs {sklearn.__version__}; refusing to load it"
        )
    data = _cache_read(sha256)
    if data is None:
        # Not on this host yet, or the copy here was damaged: GridFS has the true bytes.
        data = _fetch(sha256)
        _cache_write(sha256, data)
    return joblib.load(io.BytesIO(data))


def artifact_load_sized(sha256: str, *, sklearn_version: str, signature: str | None) -> tuple[object, int]:
    """artifact_load's object (the same checks) and the artifact's length in bytes.

    The length is this host's copy's, which artifact_load has just verified or written (an
    artifact is content-addressed: every copy of it has that length); 0 if the copy is gone
    already, a size the model cache then does without.
    """
    obj = artifact_load(sha256, sklearn_version=sklearn_version, signature=signature)
    try:
        nbytes = _path(sha256).stat().st_size
    except OSError:
        nbytes = 0
    return obj, nbytes
