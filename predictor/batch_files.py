"""A batch's bytes in GridFS: the uploaded file, streamed in as it arrives and checked on the
way (predictor/batch_scan.py), and each chunk's result lines.

Neither the web nor a worker holds a whole file: the upload goes to GridFS a piece at a
time, a worker reads only its chunk's byte range, and a download streams the chunks'
results one after the other.
"""

import contextlib
import hashlib
from collections.abc import Iterator

from bson import ObjectId
from gridfs import GridFSBucket
from gridfs.errors import NoFile
from mongoengine.connection import get_db
from pymongo.errors import ConnectionFailure, PyMongoError

from .batch_scan import BatchScan, ScanResult
from .history import HistoryUnavailable

UPLOADS, RESULTS = "batch_files", "batch_results"
# GridFS pieces of 1 MB (its default is 255 KB): a 1 GB file is about 1,000 journaled writes.
PIECE_BYTES = 1024 * 1024
READ_BYTES = 1024 * 1024


@contextlib.contextmanager
def _bucket(name: str):
    try:
        yield GridFSBucket(get_db(), bucket_name=name, chunk_size_bytes=PIECE_BYTES)
    except (ConnectionFailure, PyMongoError) as exc:
        raise HistoryUnavailable(str(exc)) from exc


class BatchUpload:
    """One uploaded file on its way into GridFS, scanned as it goes:

        upload = BatchUpload(filename, chunk_rows=..., max_bytes=...)
        upload.write(piece)  # as many times as pieces arrive; CSVRefused / CSVTooLarge
        file_id, scan = upload.close()

    Any refusal or error leaves nothing stored: abort() (called by write() and close() on
    their own failures) removes what was written."""

    def __init__(self, filename: str, *, chunk_rows: int, max_bytes: int, max_columns: int):
        self.scan = BatchScan(chunk_rows=chunk_rows, max_bytes=max_bytes, max_columns=max_columns)
        self.filename = filename
        self._digest = hashlib.sha256()
        with _bucket(UPLOADS) as bucket:
            self._stream = bucket.open_upload_stream(filename or "upload.csv")
        self.file_id: ObjectId = self._stream._id

    def write(self, piece: bytes) -> None:
        with self._undone_on_failure():
            self.scan.feed(piece)
            self._digest.update(piece)
            self._stream.write(piece)

    def close(self) -> tuple[ObjectId, ScanResult]:
        with self._undone_on_failure():
            result = self.scan.finish()
            self._stream.close()
        return self.file_id, result

    @contextlib.contextmanager
    def _undone_on_failure(self):
        """A refusal or a MongoDB failure removes what was stored; the latter is
        HistoryUnavailable (a 503), as every MongoDB failure is."""
        try:
            yield
        except (ConnectionFailure, PyMongoError) as exc:
            self.abort()
            raise HistoryUnavailable(str(exc)) from exc
        except Exception:
            self.abort()
            raise

    @property
    def sha256(self) -> str:
        """Of the bytes written so far (all of them, once closed): the Idempotency-Key's request."""
        return self._digest.hexdigest()

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._stream.abort()


def chunk_text(file_id: ObjectId, start: int, end: int) -> str:
    """The file's bytes [start, end), decoded (the scan proved them UTF-8)."""
    with _bucket(UPLOADS) as bucket, bucket.open_download_stream(file_id) as stored:
        stored.seek(start)
        data = stored.read(end - start)
    return data.decode("utf-8")


def results_write(name: str, text: str) -> ObjectId:
    """Store a chunk's result lines; returns their file's id (the chunk names it when its run ends)."""
    with _bucket(RESULTS) as bucket:
        return bucket.upload_from_stream(name, text.encode("utf-8"))


def results_read(file_id: ObjectId) -> Iterator[bytes]:
    """A chunk's result lines, a piece at a time."""
    with _bucket(RESULTS) as bucket, bucket.open_download_stream(file_id) as stored:
        while piece := stored.read(READ_BYTES):
            yield piece


def files_delete(*, upload: ObjectId | None = None, results: list[ObjectId] = ()) -> None:
    """Remove a batch's file and results; any already gone are skipped."""
    for name, ids in ((UPLOADS, [upload] if upload else []), (RESULTS, list(results))):
        with _bucket(name) as bucket:
            for file_id in ids:
                with contextlib.suppress(NoFile):
                    bucket.delete(file_id)
