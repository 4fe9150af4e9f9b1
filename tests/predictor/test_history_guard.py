"""predictor/history's guard: which MongoDB failures are an outage of the history (the API
answers 503, tasks retry) and which are errors of the request or of the code (raised as
they are)."""

import pytest
from pymongo.errors import (
    BulkWriteError,
    DuplicateKeyError,
    OperationFailure,
    ServerSelectionTimeoutError,
    WriteError,
)

from predictor.history import HistoryUnavailable, guard


def raising(exc: Exception):
    @guard
    def call():
        raise exc

    return call


def reply(code: int, name: str, message: str) -> dict:
    return {"ok": 0.0, "errmsg": message, "code": code, "codeName": name}


# What SecantusDB answers to every read and write once its disk has filled (seen in
# tests/chaos/test_mongo_faults.py): WiredTiger could not write its journal.
SECANTUS_DISK_FULL = OperationFailure(
    "internal server error", 1, reply(1, "InternalError", "internal server error")
)
# mongod's refusal for a disk too full (also what its failCommand failpoint sends).
OUT_OF_DISK_SPACE = OperationFailure(
    "Failing command via 'failCommand' failpoint", 14031, reply(14031, "OutOfDiskSpace", "no space")
)
# mongod's storage engine failing a write.
STORAGE_FAILED = OperationFailure(
    "WiredTiger error (28) No space left on device", 8, reply(8, "UnknownError", "WiredTiger error")
)
# The same refusal for one document of an insert, or of a bulk write.
DOCUMENT_REFUSED = WriteError("no space", 14031, {"index": 0, "code": 14031, "errmsg": "no space"})
BULK_REFUSED = BulkWriteError(
    {"writeErrors": [{"index": 0, "code": 14031, "errmsg": "no space"}], "nModified": 0}
)


@pytest.mark.parametrize(
    "failure",
    [SECANTUS_DISK_FULL, OUT_OF_DISK_SPACE, STORAGE_FAILED, DOCUMENT_REFUSED, BULK_REFUSED],
    ids=["secantus-disk-full", "out-of-disk-space", "storage-failed", "write-error", "bulk-write-error"],
)
def test_a_server_that_cannot_do_the_work_is_history_unavailable(failure):
    with pytest.raises(HistoryUnavailable, match="MongoDB could not do the work") as raised:
        raising(failure)()
    assert raised.value.__cause__ is failure


def test_an_unreachable_server_and_a_refused_login_stay_history_unavailable():
    with pytest.raises(HistoryUnavailable):
        raising(ServerSelectionTimeoutError("127.0.0.1:1: connection refused"))()
    with pytest.raises(HistoryUnavailable, match="refused the platform's user"):
        raising(OperationFailure("Authentication failed.", 18, reply(18, "AuthenticationFailed", "no")))()


@pytest.mark.parametrize(
    "failure",
    [
        DuplicateKeyError("E11000 duplicate key error", 11000, {"code": 11000, "errmsg": "E11000"}),
        OperationFailure("unknown operator: $nope", 2, reply(2, "BadValue", "unknown operator")),
        WriteError("Document failed validation", 121, {"index": 0, "code": 121, "errmsg": "invalid"}),
        BulkWriteError({"writeErrors": [{"index": 0, "code": 11000, "errmsg": "E11000"}]}),
    ],
    ids=["duplicate-key", "bad-value", "validation", "bulk-duplicate"],
)
def test_an_error_of_the_request_is_raised_as_it_is(failure):
    # A duplicate key is how an idempotency key or a claim learns it lost a race: turning it
    # into an outage would break them.
    with pytest.raises(type(failure)) as raised:
        raising(failure)()
    assert raised.value is failure
