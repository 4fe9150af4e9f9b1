"""The history's indexes are built wherever the platform runs, not only by the tests:
without them every page of a user's history reads all of it."""

import os
import subprocess
import sys
import uuid

import pytest
from pymongo import MongoClient

from myproject.servers import stop, wait_until
from tests.processes import ROOT, site_environ, start_worker

JOB_INDEXES = {
    "owner_id_1_created_at_-1__id_-1",
    "owner_id_1_model_1_created_at_-1__id_-1",
    "status_1_created_at_1",
    "webhook_unsent_1_completed_at_1",
}


@pytest.fixture
def fresh_database(mongo_server):
    """A database of the suite's MongoDB-wire server that nothing has touched."""
    name = f"fresh_{uuid.uuid4().hex[:8]}"
    base, _, query = os.environ["MONGODB_URI"].partition("?")
    uri = f"{base.rsplit('/', 1)[0]}/{name}?{query}"
    client = MongoClient(uri)
    yield uri, client[name]
    client.drop_database(name)
    client.close()


def job_indexes(database) -> set:
    return set(database["prediction_jobs"].index_information())


def test_setup_builds_them(fresh_database, tmp_path):
    uri, database = fresh_database
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "setup_platform"],
        env=site_environ(tmp_path, MONGODB_URI=uri, ADMIN_PASSWORD="an-admin-Pass-9"),
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    assert JOB_INDEXES <= job_indexes(database)


def test_a_worker_builds_them_when_it_starts(fresh_database):
    uri, database = fresh_database
    assert not JOB_INDEXES & job_indexes(database)
    worker = start_worker("nothing-here", {"MONGODB_URI": uri})
    try:
        # Its pool process builds them as it starts, perhaps just after the worker says ready.
        wait_until(lambda: JOB_INDEXES <= job_indexes(database), timeout=30, what="the indexes")
    finally:
        stop(worker)
