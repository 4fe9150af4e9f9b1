"""A version leaves the platform: its fitted pipeline as a file (skops by default, joblib on
request) and its model card (predictor/model_card.py).

The file is the stored artifact when it is already in the format asked for; otherwise the
artifact is loaded (under the registry's signature, as a worker loads it:
predictor/artifacts.py) and written in the other format. Either way the body's SHA-256 goes
with it, so a user can check what they got.
"""

import hashlib
import io
from dataclasses import dataclass

import joblib

from . import model_files
from .artifacts import artifact_bytes, artifact_load

SKOPS, JOBLIB = "skops", "joblib"
FORMATS = (SKOPS, JOBLIB)
CONTENT_TYPES = {SKOPS: "application/zip", JOBLIB: "application/octet-stream"}


@dataclass(frozen=True)
class ExportedFile:
    data: bytes
    format: str
    file_name: str
    sha256: str  # of `data`
    artifact_sha256: str  # the stored artifact's (the same when no conversion was needed)
    sklearn_version: str


def _stored_format(data: bytes) -> str:
    return SKOPS if model_files.file_kind(data[:8]) == model_files.SKOPS else JOBLIB


def version_file(version, fmt: str = SKOPS) -> ExportedFile:
    """The version's pipeline as a `fmt` file."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}")
    stored = artifact_bytes(version.artifact_sha256)
    if _stored_format(stored) == fmt:
        data = stored
    else:
        pipeline = artifact_load(
            version.artifact_sha256,
            sklearn_version=version.sklearn_version,
            signature=version.artifact_signature,
        )
        if fmt == SKOPS:
            data = model_files.dumps(pipeline)
        else:
            buffer = io.BytesIO()
            joblib.dump(pipeline, buffer)
            data = buffer.getvalue()
    return ExportedFile(
        data=data,
        format=fmt,
        file_name=f"{version.model.name}-v{version.number}.{fmt}",
        sha256=hashlib.sha256(data).hexdigest(),
        artifact_sha256=version.artifact_sha256,
        sklearn_version=version.sklearn_version,
    )
