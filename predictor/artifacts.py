"""Model artifacts, content-addressed by SHA-256.

The store is MongoDB GridFS (bucket "artifacts", one file per artifact, named by its
SHA-256), so a worker on any host can fetch an artifact without a shared disk.
settings.ARTIFACT_DIR is this host's cache of it.

An artifact is only ever loaded when (1) the registry's signature of its SHA-256 checks
out against settings.ARTIFACT_SIGNING_KEY (a key kept in neither MongoDB nor the SQL
database), (2) its bytes hash to that SHA-256, and (3) it was written by the scikit-learn
version this process runs.

Artifacts are skops files (predictor/model_files.py): loading one builds only the types the
platform trusts, so even a forged signature (a leaked key) does not run code. Artifacts
stored before were joblib pickles: they still load, under their signature alone, while
settings.ARTIFACTS_ALLOW_PICKLE is on; `python manage.py artifacts_convert` rewrites them
as skops, after which it can be turned off.
"""

import contextlib
import hashlib
import hmac
import io
import logging
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

import joblib
import sklearn
from django.conf import settings
from django.utils.crypto import salted_hmac
from gridfs import GridFSBucket
from gridfs.errors import CorruptGridFile, NoFile
from mongoengine.connection import get_db
from pymongo.errors import ConnectionFailure

from . import model_files
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
    # No format in the name: an artifact's format is in its first bytes (model_files.file_kind).
    return Path(settings.ARTIFACT_DIR) / f"{sha256}.artifact"


@contextlib.contextmanager
def _gridfs():
    """The artifact bucket; an unreachable MongoDB raises HistoryUnavailable (tasks retry it)."""
    try:
        yield GridFSBucket(get_db(), bucket_name=BUCKET)
    except ConnectionFailure as exc:
        raise HistoryUnavailable(str(exc)) from exc


def _stored(bucket: GridFSBucket, sha256: str) -> bool:
    return next(bucket.find({"filename": sha256}, limit=1), None) is not None


def _cache_open(sha256: str) -> BinaryIO | None:
    """This host's copy, open at its start once its bytes, read through this same handle,
    hash to `sha256`; None when there is none or it does not match.

    The object is then unpickled from the handle, not from a copy of the bytes in memory:
    the bytes would otherwise sit beside the model being built from them, a model's size
    again at the peak of every load. The handle reads the file that was hashed (a copy
    replaced since, always by rename, leaves it reading the old one); changing the file in
    place would take the worker's own file permissions (mkstemp: owner-only), with which
    its code could be changed as well.
    """
    try:
        handle = open(_path(sha256), "rb")
    except FileNotFoundError:
        return None
    try:
        actual = hashlib.file_digest(handle, "sha256").hexdigest()
        if actual == sha256:
            handle.seek(0)
            return handle
    except BaseException:
        handle.close()
        raise
    handle.close()
    logger.warning("cached artifact %s does not match its SHA-256; ignoring it", sha256[:12])
    return None


def artifact_nbytes_here(sha256: str) -> int:
    """The length of this host's copy of the artifact, unverified (0 when there is none):
    a hint of a model's size before it is loaded (predictor/model_cache.py, reserve)."""
    try:
        return _path(sha256).stat().st_size
    except OSError:
        return 0


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
    """Store `obj` as a skops file in GridFS (once per content) and in this host's cache;
    return its SHA-256."""
    return artifact_store_bytes(model_files.dumps(obj))


def artifact_store_bytes(data: bytes) -> str:
    """Store a file's bytes as they are (an imported model's, already checked; a converted
    artifact's); return their SHA-256. Stored is not trusted: nothing loads without the
    registry's signature."""
    sha256 = _sha256(data)
    with _gridfs() as bucket:
        # Two hosts saving the same bytes at once may both upload: harmless, the copies are equal.
        if not _stored(bucket, sha256):
            bucket.upload_from_stream(sha256, data, metadata={"sha256": sha256, "size": len(data)})
    here = _cache_open(sha256)
    if here is None:
        _cache_write(sha256, data)
    else:
        here.close()
    return sha256


def artifact_check_stored(sha256: str) -> None:
    """Raise ArtifactError unless the store holds bytes that hash to `sha256`."""
    _fetch(sha256)


def artifact_bytes(sha256: str) -> bytes:
    """The artifact's verified bytes: this host's copy, else GridFS's (then copied here)."""
    handle = _cache_open(sha256)
    if handle is None:
        data = _fetch(sha256)
        _cache_write(sha256, data)
        return data
    with handle:
        return handle.read()


def artifact_is_pickle(sha256: str) -> bool:
    """Whether the stored artifact is a joblib pickle (stored before artifacts were skops)."""
    return model_files.file_kind(artifact_bytes(sha256)[:8]) == model_files.PICKLE


def artifact_load(sha256: str, *, sklearn_version: str, signature: str | None):
    """The artifact's object, once the three checks of this module's docstring pass."""
    return artifact_load_sized(sha256, sklearn_version=sklearn_version, signature=signature)[0]


def artifact_load_sized(sha256: str, *, sklearn_version: str, signature: str | None) -> tuple[object, int]:
    """artifact_load's object (the same checks) and the artifact's length in bytes."""
    artifact_verify(sha256, sklearn_version=sklearn_version, signature=signature)
    if sklearn_version != sklearn.__version__:
        raise ArtifactError(
            f"artifact {sha256[:12]} was built with scikit-learn {sklearn_version}, "
            f"this worker runs {sklearn.__version__}; refusing to load it"
        )
    handle = _cache_open(sha256)
    if handle is None:
        # Not on this host yet, or the copy here was damaged: GridFS has the true bytes.
        data = _fetch(sha256)
        _cache_write(sha256, data)
        return _object(sha256, io.BytesIO(data)), len(data)
    with handle:
        return _object(sha256, handle), os.fstat(handle.fileno()).st_size


# What `model_files.check` accepted for an artifact (by SHA-256 and the operator's extra
# trusted names), kept so that a model evicted from the model cache and loaded again skips
# the static audit: about 100 of a 200-tree forest's 250 ms (bench/model_formats.py). The
# bytes are the same (they hash to the key); skops still refuses any other name.
_vetted: dict[tuple, list[str]] = {}
VETTED_KEPT = 10_000


def _object(sha256: str, source: BinaryIO):
    """The object in a verified artifact: a skops file through the platform's trusted types,
    a legacy pickle only while settings.ARTIFACTS_ALLOW_PICKLE is on."""
    kind = model_files.file_kind(source.read(8))
    source.seek(0)
    if kind == model_files.SKOPS:
        data, extra = source.read(), settings.MODEL_IMPORT_TRUSTED_TYPES
        key = (sha256, tuple(extra))
        try:
            accepted = _vetted.get(key)
            if accepted is None:
                accepted = model_files.check(data, sklearn_version=sklearn.__version__, extra=extra)
            model = model_files.load(
                data, sklearn_version=sklearn.__version__, extra=extra, accepted=accepted
            )
        except model_files.ModelFileRefused as exc:
            raise ArtifactError(f"artifact {sha256[:12]} refused: {exc.message}") from exc
        if len(_vetted) >= VETTED_KEPT:
            _vetted.clear()
        _vetted[key] = accepted
        return model
    if kind == model_files.PICKLE and settings.ARTIFACTS_ALLOW_PICKLE:
        return joblib.load(source)
    raise ArtifactError(
        f"artifact {sha256[:12]} is a pickle and ARTIFACTS_ALLOW_PICKLE is off; refusing to load it "
        "(python manage.py artifacts_convert rewrites pickles as skops)"
        if kind == model_files.PICKLE
        else f"artifact {sha256[:12]} is neither a skops file nor a pickle; refusing to load it"
    )
