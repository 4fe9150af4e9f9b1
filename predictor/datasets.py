"""Datasets: immutable versions of an uploaded table.

The bytes are stored once per content in GridFS (bucket "datasets", named by their SHA-256),
so a training worker on any host reads them without a shared disk; the profile
(predictor/tabular/) and the lineage live in the registry (predictor/models.py).
"""

import contextlib
import csv
import hashlib
import io
import logging
import shutil
import tempfile
from typing import BinaryIO

import pandas as pd
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, ProtectedError, Q
from gridfs import GridFSBucket
from gridfs.errors import CorruptGridFile, NoFile
from mongoengine.connection import get_db
from pymongo.errors import ConnectionFailure

from . import tabular
from .errors import FieldErrors
from .history import HistoryUnavailable
from .models import Dataset, DatasetVersion, Visibility

logger = logging.getLogger(__name__)

BUCKET = "datasets"
# Reading and hashing in pieces keeps a 100 MB upload out of memory.
CHUNK_BYTES = 1024 * 1024


class DatasetRefused(FieldErrors):
    """A dataset request that cannot be done as asked (a name taken, no such version)."""


class DatasetInUse(Exception):
    """The dataset cannot be deleted: model versions (or model definitions) learned from it."""

    def __init__(self, users: list[str]):
        super().__init__(users)
        self.users = users


class DatasetMissing(Exception):
    """The registry names a dataset whose bytes are not in the store (or do not hash right)."""


def limits() -> tabular.Limits:
    return tabular.Limits(
        max_bytes=settings.DATASET_MAX_BYTES,
        max_rows=settings.DATASET_MAX_ROWS,
        max_columns=settings.DATASET_MAX_COLUMNS,
        max_categories=settings.DATASET_MAX_CATEGORIES,
    )


@contextlib.contextmanager
def _bucket():
    try:
        yield GridFSBucket(get_db(), bucket_name=BUCKET)
    except ConnectionFailure as exc:
        raise HistoryUnavailable(str(exc)) from exc


def _sha256(stream: BinaryIO) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    stream.seek(0)
    while chunk := stream.read(CHUNK_BYTES):
        digest.update(chunk)
        size += len(chunk)
    stream.seek(0)
    return digest.hexdigest(), size


def _store(stream: BinaryIO, sha256: str, size: int) -> None:
    """Put the bytes in GridFS once per content. Two uploads of the same bytes at once may
    both write: harmless, the copies are equal and reads take either."""
    with _bucket() as bucket:
        if next(bucket.find({"filename": sha256}, limit=1), None) is None:
            stream.seek(0)
            bucket.upload_from_stream(sha256, stream, metadata={"sha256": sha256, "size": size})


def dataset_upload(
    *,
    name: str,
    stream: BinaryIO,
    owner,
    filename: str = "",
    visibility: str = Visibility.PRIVATE,
    description: str = "",
) -> DatasetVersion:
    """Check and profile the table, store its bytes, then record it: a new dataset, or the
    next version of the caller's dataset of this name. Nothing is recorded unless all of
    it checks out (tabular.CSVRefused, CSVTooLarge, DatasetRefused)."""
    existing = Dataset.objects.filter(name=name).first()
    if existing is not None and not can_change(owner, existing):
        raise DatasetRefused({"name": ["This name is taken; choose another."]})
    size = getattr(stream, "size", None)
    if size is not None and size > settings.DATASET_MAX_BYTES:
        raise tabular.CSVTooLarge(
            {
                "file": [
                    f"The file is {size:,} bytes; at most {settings.DATASET_MAX_BYTES:,} (DATASET_MAX_BYTES)."
                ]
            }
        )
    sha256, size = _sha256(stream)
    profile = tabular.profile_csv(stream, limits=limits())
    _store(stream, sha256, size)
    try:
        return _record(
            name=name,
            owner=owner,
            visibility=visibility,
            description=description,
            fields={
                "sha256": sha256,
                "size_bytes": size,
                "filename": filename[:255],
                "rows": profile.rows,
                "columns": profile.columns,
                "preview": profile.preview,
                "delimiter": profile.delimiter,
                "encoding": profile.encoding,
                "created_by": owner,
            },
        )
    except IntegrityError:
        # Another upload took the name (or the number) at the same moment.
        raise DatasetRefused({"name": ["This name was just taken; try again."]}) from None


@transaction.atomic
def _record(*, name, owner, visibility, description, fields) -> DatasetVersion:
    dataset, created = Dataset.objects.get_or_create(
        name=name, defaults={"owner": owner, "visibility": visibility, "description": description}
    )
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    if not created and description:
        dataset.description = description
        dataset.save(update_fields=["description"])
    last = dataset.versions.aggregate(last=Max("number"))["last"] or 0
    return DatasetVersion.objects.create(dataset=dataset, number=last + 1, **fields)


def can_see(user, dataset: Dataset) -> bool:
    return dataset.visibility == Visibility.SHARED or can_change(user, dataset)


def can_change(user, dataset: Dataset) -> bool:
    return bool(user and (user.is_staff or dataset.owner_id == user.pk))


def visible_to(user):
    """The datasets the user may see: their own and the shared ones (staff: all)."""
    datasets = Dataset.objects.select_related("owner")
    if user.is_staff:
        return datasets
    return datasets.filter(Q(owner=user) | Q(visibility=Visibility.SHARED))


def dataset_get(user, name: str) -> Dataset | None:
    """The dataset, or None when there is none the user may see (the two are not told apart)."""
    dataset = Dataset.objects.select_related("owner").filter(name=name).first()
    if dataset is None or not can_see(user, dataset):
        return None
    return dataset


def version_of(dataset: Dataset, number: int | None) -> DatasetVersion | None:
    """The numbered version, or the latest when `number` is None."""
    versions = dataset.versions.all()
    return versions.filter(number=number).first() if number is not None else versions.first()


def versions_by_id(ids) -> dict[int, DatasetVersion]:
    ids = {pk for pk in ids if pk is not None}
    if not ids:
        return {}
    found = DatasetVersion.objects.select_related("dataset").defer("columns", "preview").filter(pk__in=ids)
    return {version.pk: version for version in found}


def dataset_delete(dataset: Dataset) -> None:
    """Remove the dataset and its versions, and their bytes where no other version has
    them; DatasetInUse, naming the users, when a model or model version learned from it."""
    users = sorted(
        {f"{v.model.name} v{v.number}" for v in _versions_using(dataset)}
        | {f"{m.name} (its definition)" for m in dataset_models(dataset)}
    )
    if users:
        raise DatasetInUse(users)
    hashes = set(dataset.versions.values_list("sha256", flat=True))
    try:
        dataset.delete()
    except ProtectedError as exc:  # a model learned from it in the meantime
        raise DatasetInUse(sorted(str(obj) for obj in exc.protected_objects)) from None
    still_used = set(DatasetVersion.objects.filter(sha256__in=hashes).values_list("sha256", flat=True))
    with _bucket() as bucket:
        for sha256 in hashes - still_used:
            for stored in bucket.find({"filename": sha256}):
                bucket.delete(stored._id)


def _versions_using(dataset: Dataset):
    from .models import ModelVersion

    return ModelVersion.objects.select_related("model").filter(dataset_version__dataset=dataset)


def dataset_models(dataset: Dataset):
    from .models import MLModel

    return MLModel.objects.filter(dataset_version__dataset=dataset)


@contextlib.contextmanager
def dataset_bytes(version: DatasetVersion):
    """The version's bytes as a file (a spooled copy: in memory up to 8 MB, else a temporary
    file), checked against its SHA-256."""
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as copy:
        try:
            with _bucket() as bucket, bucket.open_download_stream_by_name(version.sha256) as stored:
                shutil.copyfileobj(stored, copy, CHUNK_BYTES)
        except NoFile:
            raise DatasetMissing(f"dataset bytes {version.sha256[:12]} are not in the store") from None
        except CorruptGridFile as exc:
            raise DatasetMissing(
                f"dataset bytes {version.sha256[:12]} are damaged in the store ({exc})"
            ) from exc
        if _sha256(copy)[0] != version.sha256:
            raise DatasetMissing(
                f"dataset bytes {version.sha256[:12]} do not match their SHA-256; refusing them"
            )
        yield copy


def dataset_frame(version: DatasetVersion, columns: list[str]) -> pd.DataFrame:
    """The version's table, typed by its profile, only `columns` (in that order)."""
    with dataset_bytes(version) as stream:
        return tabular.load_frame(stream, version.columns, usecols=columns, delimiter=version.delimiter)


def dataset_rows(version: DatasetVersion):
    """The version's records (the header first) as lists of text cells, streamed; blank lines
    left out, as the profile left them out."""
    with dataset_bytes(version) as stream:
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
        for record in csv.reader(text, delimiter=version.delimiter):
            if any(cell.strip() for cell in record):
                yield record
