"""A batch's bytes in GridFS: the uploaded file, cut into its chunks as it arrives and checked
on the way (predictor/batch_scan.py), and each chunk's result lines.

Each chunk's records are a GridFS file of their own, so a worker reads its chunk whole and
nothing else; the results of a chunk are one file too. Both are stored compressed
(Zstandard, level 1: about 2.2x smaller on a CSV of numbers, at some 250 MB/s), since on a
MongoDB server every byte stored and read costs it CPU (bench/RESULTS.md, "A batch file").

Neither the web nor a worker holds a whole file: the upload goes to GridFS a piece at a
time, a worker reads only its chunk, and a download streams the chunks' results one after
the other.
"""

import contextlib
import hashlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime

import zstandard
from bson import Binary, ObjectId
from gridfs import GridFSBucket
from gridfs.errors import NoFile
from mongoengine.connection import get_db
from pymongo.errors import ConnectionFailure, PyMongoError

from . import history
from .batch_scan import BatchScan, ScanResult
from .history import RESULTS_BUCKET as RESULTS
from .history import UPLOADS_BUCKET as UPLOADS
from .history import HistoryUnavailable

# GridFS pieces of 4 MB (its default is 255 KB): a chunk of 10,000 rows of 30 numbers is
# about 1 MB compressed, so one piece, one document to write and to read.
PIECE_BYTES = 4 * 1024 * 1024
READ_BYTES = 1024 * 1024
LEVEL = 1


@contextlib.contextmanager
def _bucket(name: str):
    try:
        yield GridFSBucket(get_db(), bucket_name=name, chunk_size_bytes=PIECE_BYTES)
    except (ConnectionFailure, PyMongoError) as exc:
        raise HistoryUnavailable(str(exc)) from exc


class _GridFile:
    """One GridFS file written as the GridFS spec lays it out: its pieces (`<bucket>.chunks`,
    {files_id, n, data}) as they fill, then its document (`<bucket>.files`), so GridFSBucket
    reads and deletes it. pymongo's own writer first looks for any document in the bucket's
    collections on every file (to create their indexes if the bucket is new), a find that
    SecantusDB answered in some 30 ms a file; the indexes are made once, at setup
    (history.ensure_indexes)."""

    def __init__(self, bucket_name: str, filename: str, metadata: dict | None = None, *, upload=None):
        db = get_db()
        self._pieces, self._files = db[f"{bucket_name}.chunks"], db[f"{bucket_name}.files"]
        self.file_id = ObjectId()
        self._doc = {"_id": self.file_id, "filename": filename, "metadata": metadata or {}}
        # An upload's pieces name it too (GridFS readers ignore other fields): files_delete
        # finds them all, those of a file never closed too.
        self._piece_fields = {"upload": upload} if upload is not None else {}
        self._buffer = bytearray()
        self._length = 0
        self._n = 0

    def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= PIECE_BYTES:
            self._flush(bytes(self._buffer[:PIECE_BYTES]))
            del self._buffer[:PIECE_BYTES]

    def close(self) -> None:
        if self._buffer:
            self._flush(bytes(self._buffer))
            self._buffer.clear()
        self._files.insert_one(
            {**self._doc, "length": self._length, "chunkSize": PIECE_BYTES, "uploadDate": datetime.now(UTC)}
        )

    def abort(self) -> None:
        self._pieces.delete_many({"files_id": self.file_id})
        self._files.delete_one({"_id": self.file_id})

    def _flush(self, piece: bytes) -> None:
        self._pieces.insert_one(
            {"files_id": self.file_id, "n": self._n, "data": Binary(piece), **self._piece_fields}
        )
        self._n += 1
        self._length += len(piece)


class _Compressed(_GridFile):
    """A GridFS file written through a Zstandard stream."""

    def __init__(self, bucket_name: str, filename: str, metadata: dict | None = None, *, upload=None):
        super().__init__(bucket_name, filename, metadata, upload=upload)
        self._compressor = zstandard.ZstdCompressor(level=LEVEL).compressobj()

    def write(self, data: bytes) -> None:
        if data:
            super().write(self._compressor.compress(data))

    def close(self) -> None:
        super().write(self._compressor.flush())
        super().close()


class _Behind:
    """Steps run in order on a thread of their own, at most `depth` behind the caller: an
    upload's compression and MongoDB writes (which let go of the GIL) overlap its scan. A
    step's error is raised by a later submit() or by wait()."""

    def __init__(self, depth: int = 4):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-upload")
        self._pending: deque[Future] = deque()
        self._depth = depth

    def submit(self, step: Callable, *args) -> None:
        self._pending.append(self._pool.submit(step, *args))
        while len(self._pending) > self._depth:
            self._pending.popleft().result()

    def wait(self) -> None:
        while self._pending:
            self._pending.popleft().result()
        self._pool.shutdown()

    def stop(self) -> None:
        """Drop the steps not started, wait for the one under way."""
        for step in self._pending:
            step.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=True)


class BatchUpload:
    """One uploaded file on its way into GridFS, scanned and cut into chunks as it goes:

        upload = BatchUpload(filename, chunk_rows=..., max_bytes=...)
        upload.write(piece)  # as many times as pieces arrive; CSVRefused / CSVTooLarge
        upload_id, chunk_files, scan = upload.close()

    chunk_files[i] holds scan.chunks[i]'s bytes (the file's [start, end); the last one also
    any blank lines that end the file); the header and a BOM are in none. Every chunk file
    names the upload in its metadata (`upload`), so files_delete finds them all. Held in
    memory: the bytes not yet placed in a chunk (BatchScan.settled), about a line's worth,
    and the few pieces on their way to MongoDB (_Behind).

    Any refusal or error leaves nothing stored: abort() (called by write() and close() on
    their own failures) removes what was written."""

    def __init__(self, filename: str, *, chunk_rows: int, max_bytes: int, max_columns: int):
        self.scan = BatchScan(chunk_rows=chunk_rows, max_bytes=max_bytes, max_columns=max_columns)
        self.filename = filename or "upload.csv"
        self.upload_id = ObjectId()
        self._digest = hashlib.sha256()
        self._unplaced = bytearray()  # the file's bytes from self._placed on
        self._placed = 0
        self._chunk: _Compressed | None = None  # the chunk the next bytes go to
        self._files: list[ObjectId] = []  # the chunks' files, the last one maybe still open
        self._behind = _Behind()
        # Marked as under way until it becomes a batch or is removed (the sweep removes one
        # whose web process died mid-way); a MongoDB that is down: a 503 before a byte is read.
        history.upload_mark(self.upload_id)

    def write(self, piece: bytes) -> None:
        with self._undone_on_failure():
            self.scan.feed(piece)
            self._digest.update(piece)
            self._unplaced += piece
            self._place(self.scan.settled())

    def close(self) -> tuple[ObjectId, list[ObjectId], ScanResult]:
        with self._undone_on_failure():
            result = self.scan.finish()
            self._place(max(self._placed, result.chunks[-1].end))
            self._unplaced.clear()  # blank lines after the last record
            if self._chunk is not None:
                self._behind.submit(self._chunk.close)
            self._behind.wait()
            self._chunk = None
        return self.upload_id, list(self._files), result

    def _place(self, settled: int) -> None:
        """Hand the bytes before `settled` to their chunks' files, opening one at each chunk's
        start. Bytes before the first chunk (the header, a BOM) go nowhere."""
        while (start := self.scan.chunk_start(len(self._files))) is not None and start <= settled:
            self._to_chunk(start)
            if self._chunk is not None:
                self._behind.submit(self._chunk.close)
            index = len(self._files)
            self._chunk = _Compressed(
                UPLOADS,
                f"{self.filename}.{index:06d}",
                {"upload": self.upload_id, "chunk": index},
                upload=self.upload_id,
            )
            self._files.append(self._chunk.file_id)
        self._to_chunk(settled)

    def _to_chunk(self, offset: int) -> None:
        count = offset - self._placed
        if count <= 0:
            return
        if self._chunk is not None:
            self._behind.submit(self._chunk.write, bytes(self._unplaced[:count]))
        del self._unplaced[:count]
        self._placed = offset

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
        """Remove all it stored (a MongoDB that cannot be reached now: the sweep will, once
        BATCH_UPLOAD_ABANDONED_S has passed)."""
        self._behind.stop()
        self._chunk = None
        with contextlib.suppress(Exception):
            files_delete(upload=self.upload_id)


def chunk_text(file_id: ObjectId) -> str:
    """A chunk's records, decoded (the scan proved them UTF-8). Its pieces are read in one
    query, without the file's document first (a round trip less a chunk): the Zstandard
    frame says whether they are all there."""
    try:
        pieces = get_db()[f"{UPLOADS}.chunks"].find({"files_id": file_id}, {"data": 1, "n": 1}).sort("n", 1)
        data = b"".join(bytes(piece["data"]) for piece in pieces)
    except (ConnectionFailure, PyMongoError) as exc:
        raise HistoryUnavailable(str(exc)) from exc
    decompressor = zstandard.ZstdDecompressor().decompressobj()
    try:
        text = decompressor.decompress(data)
    except zstandard.ZstdError as exc:
        raise HistoryUnavailable(f"chunk file {file_id}: a piece is missing or damaged ({exc})") from exc
    if not decompressor.eof:
        raise HistoryUnavailable(f"chunk file {file_id}: its pieces end before its data does")
    return text.decode("utf-8")


def results_write(name: str, text: str) -> ObjectId:
    """Store a chunk's result lines; returns their file's id (the chunk names it when its run ends)."""
    stored = _Compressed(RESULTS, name)
    try:
        stored.write(text.encode("utf-8"))
        stored.close()
    except (ConnectionFailure, PyMongoError) as exc:
        with contextlib.suppress(Exception):
            stored.abort()  # the pieces written before it failed
        raise HistoryUnavailable(str(exc)) from exc
    return stored.file_id


def results_read(file_id: ObjectId) -> Iterator[bytes]:
    """A chunk's result lines, a piece at a time."""
    decompressor = zstandard.ZstdDecompressor().decompressobj()
    with _bucket(RESULTS) as bucket, bucket.open_download_stream(file_id) as stored:
        while piece := stored.read(READ_BYTES):
            if lines := decompressor.decompress(piece):
                yield lines


def files_delete(*, upload: ObjectId | None = None, results: list[ObjectId] = ()) -> None:
    """Remove an upload's chunk files (their pieces, every one of which names the upload, the
    pieces of a file whose writer died before its document included; and their documents),
    its mark as under way, and the given results files; any already gone are skipped."""
    if upload is not None:
        try:
            db = get_db()
            db[f"{UPLOADS}.chunks"].delete_many({"upload": upload})
            db[f"{UPLOADS}.files"].delete_many({"metadata.upload": upload})
        except (ConnectionFailure, PyMongoError) as exc:
            raise HistoryUnavailable(str(exc)) from exc
        history.upload_unmark(upload)
    with _bucket(RESULTS) as bucket:
        for file_id in results:
            with contextlib.suppress(NoFile):
                bucket.delete(file_id)
