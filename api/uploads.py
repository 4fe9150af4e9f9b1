"""A batch file's upload, streamed into GridFS as its bytes arrive (predictor/batch_files.py).

Django's upload handlers see a multipart body a piece at a time; this one hands the `file`
part's pieces to a BatchUpload, which scans and stores them, so the web never holds the
file, in memory or on disk. A file refused on the way (no UTF-8, a ragged record, over
BATCH_FILE_MAX_BYTES) stops the upload at once: what was stored is removed, the rest of the
body is read and dropped, and the view answers the refusal (`refused`).
"""

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopFutureHandlers, StopUpload

from predictor.batch_files import BatchUpload
from predictor.errors import FieldErrors
from predictor.history import HistoryUnavailable

FIELD = "file"


class StoredBatchFile(UploadedFile):
    """The `file` part, already in GridFS: its upload's id, each chunk's file and what the
    scan found."""

    def __init__(self, *, name: str, size: int, upload_id, chunk_files: list, scan, sha256: str):
        super().__init__(file=None, name=name, content_type="text/csv", size=size)
        self.upload_id, self.chunk_files, self.scan, self.sha256 = upload_id, chunk_files, scan, sha256


class BatchUploadHandler(FileUploadHandler):
    # Pieces of 1 MB: a 1 GB file is about 1,000 calls here, and GridFS stores 1 MB pieces.
    chunk_size = 1024 * 1024

    def __init__(self, request=None):
        super().__init__(request)
        self.upload: BatchUpload | None = None
        self.refused: Exception | None = None
        self.stored: StoredBatchFile | None = None

    def new_file(self, field_name, file_name, *args, **kwargs):
        super().new_file(field_name, file_name, *args, **kwargs)
        if field_name != FIELD or self.upload is not None or self.refused is not None:
            return  # another part, or a second file: not stored
        try:
            self.upload = BatchUpload(
                file_name or "",
                chunk_rows=settings.BATCH_CHUNK_ROWS,
                max_bytes=settings.BATCH_FILE_MAX_BYTES,
                max_columns=settings.BATCH_MAX_COLUMNS,
            )
        except HistoryUnavailable as exc:
            self._stop(exc)
        raise StopFutureHandlers()

    def receive_data_chunk(self, raw_data, start):
        if self.upload is None or self.field_name != FIELD or self.stored is not None:
            return None
        try:
            self.upload.write(raw_data)
        except (FieldErrors, HistoryUnavailable) as exc:
            self._stop(exc)
        return None

    def file_complete(self, file_size):
        if self.upload is None or self.field_name != FIELD or self.stored is not None:
            return None
        try:
            upload_id, chunk_files, scan = self.upload.close()
        except (FieldErrors, HistoryUnavailable) as exc:
            self._stop(exc)
        self.stored = StoredBatchFile(
            name=self.file_name or "",
            size=file_size,
            upload_id=upload_id,
            chunk_files=chunk_files,
            scan=scan,
            sha256=self.upload.sha256,
        )
        return self.stored

    def upload_interrupted(self):
        if self.upload is not None and self.stored is None:
            self.upload.abort()

    def _stop(self, exc: Exception):
        self.refused = exc
        if self.upload is not None:
            self.upload.abort()
        # The rest of the body is read and dropped (not a reset connection: the client then
        # reads the answer).
        raise StopUpload(connection_reset=False) from exc
