"""predictor.batch_files: an upload cut into one compressed GridFS file per chunk as its bytes
stream in (pieces of any size), each holding exactly its chunk's bytes; nothing left stored
after a refusal; results stored and read back compressed. Against the tests' real MongoDB."""

import random

import pytest
from mongoengine.connection import get_db

from predictor import batch_files
from predictor.batch_files import BatchUpload, chunk_text, files_delete, results_read, results_write
from predictor.tabular.reading import CSVRefused
from tests.predictor.test_batch_scan import FILES

PIECES = (1, 1000, 64 * 1024, 10**9)


def uploaded(data: bytes, piece: int, chunk_rows: int):
    upload = BatchUpload("t.csv", chunk_rows=chunk_rows, max_bytes=10**9, max_columns=10_000)
    return written(upload, data, piece)


def written(upload: BatchUpload, data: bytes, piece: int):
    for at in range(0, len(data), piece):
        upload.write(data[at : at + piece])
    return upload.close()


def stored_files() -> int:
    return get_db()["batch_files.files"].count_documents({}) + get_db()["batch_files.chunks"].count_documents(
        {}
    )


@pytest.mark.parametrize("name", FILES)
def test_each_chunks_file_holds_exactly_its_bytes_whatever_the_pieces(history, name):
    data = FILES[name]()
    # A piece of 1 byte is slow (a GridFS write per placed byte): the smaller files only.
    pieces = PIECES if len(data) < 60_000 else PIECES[1:]
    for piece, chunk_rows in zip(pieces, (7, 100, 13, 333), strict=False):
        upload_id, files, scan = uploaded(data, piece, chunk_rows)
        assert len(files) == len(scan.chunks) > 1 or chunk_rows > scan.rows
        for number, (file_id, span) in enumerate(zip(files, scan.chunks, strict=True)):
            text = chunk_text(file_id)
            expected = data[span.start : span.end].decode()
            if number < len(files) - 1:
                assert text == expected, (name, piece, chunk_rows, number)
            else:  # the last: its bytes, and the blank lines that end the file, if any
                assert text.startswith(expected), (name, piece)
                assert not text[len(expected) :].strip(), (name, piece)
        files_delete(upload=upload_id)
        assert stored_files() == 0


def test_chunks_are_stored_compressed(history):
    rng = random.Random(3)
    lines = "".join(f"c{n},{rng.uniform(0, 99):.4f},{rng.uniform(0, 9):.4f}\n" for n in range(20_000))
    data = ("id,a,b\n" + lines).encode()
    _, files, _ = uploaded(data, 64 * 1024, 10_000)
    stored = sum(doc["length"] for doc in get_db()["batch_files.files"].find({"_id": {"$in": files}}))
    assert stored < len(data) / 1.8


def test_a_refusal_after_some_chunks_leaves_nothing_stored(history):
    good = "".join(f"{n},{n * 2}\n" for n in range(5000))
    data = f"a,b\n{good}1,2,3\n".encode()  # the last record has a cell too many
    upload = BatchUpload("t.csv", chunk_rows=100, max_bytes=10**9, max_columns=100)
    with pytest.raises(CSVRefused, match="line 5002"):
        written(upload, data, 4096)
    assert stored_files() == 0


def test_abort_mid_upload_leaves_nothing_stored(history):
    data = ("a,b\n" + "".join(f"{n},{n}\n" for n in range(50_000))).encode()
    upload = BatchUpload("t.csv", chunk_rows=1000, max_bytes=10**9, max_columns=100)
    upload.write(data[: len(data) // 2])
    assert get_db()["batch_files.files"].count_documents({}) > 10  # closed chunk files
    upload.abort()  # the client went away
    assert stored_files() == 0


def test_results_round_trip_in_pieces(history, monkeypatch):
    monkeypatch.setattr(batch_files, "READ_BYTES", 1000)
    rng = random.Random(5)
    text = "".join(f"c{n},{rng.random():.6f},\n" for n in range(30_000))
    file_id = results_write("b.000001", text)
    pieces = list(results_read(file_id))
    assert len(pieces) > 1
    assert b"".join(pieces).decode() == text
    files_delete(results=[file_id])
    assert get_db()["batch_results.files"].count_documents({}) == 0


def test_an_upload_its_web_process_abandoned_is_removed_by_the_sweep_once_old(history):
    from datetime import timedelta

    from workers.tasks import _uploads_abandoned_remove

    data = ("a,b\n" + "".join(f"{n},{n}\n" for n in range(50_000))).encode()
    upload = BatchUpload("t.csv", chunk_rows=1000, max_bytes=10**9, max_columns=100)
    upload.write(data[: len(data) // 2])
    upload._behind.wait()  # its writes landed; then the process "dies": no close, no abort
    assert stored_files() > 10
    marks = get_db()["batch_uploads"]
    assert marks.count_documents({"_id": upload.upload_id}) == 1

    _uploads_abandoned_remove(history.now())  # still within BATCH_UPLOAD_ABANDONED_S: left alone
    assert stored_files() > 10
    marks.update_one({"_id": upload.upload_id}, {"$set": {"started_at": history.now() - timedelta(days=1)}})
    _uploads_abandoned_remove(history.now())
    assert stored_files() == 0  # every piece, those of the chunk file it was writing too
    assert marks.count_documents({}) == 0


def test_a_mark_left_on_an_upload_that_became_a_batch_goes_and_its_files_stay(history):
    from datetime import timedelta

    from workers.tasks import _uploads_abandoned_remove

    data = ("a,b\n" + "".join(f"{n},{n}\n" for n in range(5_000))).encode()
    upload_id, files, scan = uploaded(data, 64 * 1024, 1000)
    history.batch_create(
        batch_id="b1",
        spans=scan.chunks,
        chunk_files=files,
        owner_id=1,
        model="m",
        version=1,
        artifact_sha256="x",
        sklearn_version="1",
        upload_id=upload_id,
        size_bytes=scan.size,
        header=scan.header,
        delimiter=",",
        rows_total=scan.rows,
        chunk_rows=1000,
    )
    marks = get_db()["batch_uploads"]
    assert marks.count_documents({}) == 0  # the batch took its upload over
    marks.insert_one(
        {"_id": upload_id, "started_at": history.now() - timedelta(days=1)}
    )  # its removal failed
    kept = stored_files()
    _uploads_abandoned_remove(history.now())
    assert marks.count_documents({}) == 0
    assert stored_files() == kept
    assert chunk_text(files[0]).startswith("0,0\n")


def test_a_chunk_whose_pieces_are_not_all_there_is_no_text(history, monkeypatch):
    from predictor.history import HistoryUnavailable

    monkeypatch.setattr(batch_files, "PIECE_BYTES", 4096)  # a chunk of many pieces
    rng = random.Random(9)
    data = ("a,b\n" + "".join(f"{rng.random()},{rng.random()}\n" for _ in range(3000))).encode()
    _, files, _ = uploaded(data, 64 * 1024, 10**9)
    assert chunk_text(files[0]) == data[4:].decode()
    get_db()["batch_files.chunks"].delete_one({"files_id": files[0], "n": 2})
    with pytest.raises(HistoryUnavailable, match=r"pieces end before|missing or damaged"):
        chunk_text(files[0])
