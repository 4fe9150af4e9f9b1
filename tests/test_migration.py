"""An existing deployment upgrades: its models predate definitions (one way a model exists
now), and after setup_platform its versions, jobs and history keep working, the shipped
model is adopted with its definition, and its next training is judged against the old
champion. Run in a site of its own (tests/migration/legacy_site.py), on the suite's MongoDB."""

import json
import os
import subprocess
import sys
import uuid

import pytest
from pymongo import MongoClient

from tests.processes import ROOT, site_environ


@pytest.fixture
def fresh_database(mongo_server):
    name = f"legacy_{uuid.uuid4().hex[:8]}"
    base, _, query = os.environ["MONGODB_URI"].partition("?")
    client = MongoClient(f"{base.rsplit('/', 1)[0]}/{name}?{query}")
    yield f"{base.rsplit('/', 1)[0]}/{name}?{query}"
    client.drop_database(name)
    client.close()


def run(env, *args) -> str:
    done = subprocess.run([sys.executable, *args], env=env, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_an_existing_deployment_keeps_serving_and_its_model_is_adopted(fresh_database, tmp_path):
    env = site_environ(tmp_path, MONGODB_URI=fresh_database, ADMIN_PASSWORD="an-admin-Pass-9")
    state = json.loads(run(env, "-m", "tests.migration.legacy_site", "before").splitlines()[-1])

    output = run(env, str(ROOT / "manage.py"), "setup_platform")
    assert "breast_cancer: trained" not in output  # it has its champion: adopted, not retrained
    assert "iris: trained v1" in output

    after = json.loads(run(env, "-m", "tests.migration.legacy_site", "after", state["job"]).splitlines()[-1])
    assert after["owner"] == "admin"
    assert after["visibility"] == "shared"
    assert after["dataset"] == "breast_cancer"
    assert after["target"] == "diagnosis"
    assert after["features"] == 30
    assert after["estimator"] == "logistic_regression"
    assert after["job_status"] == "queued"  # the old job is still there, still runnable
    assert after["old_label"] == "malignant"
    assert after["decision"] in ("promoted", "rejected")
    assert after["old_status_after_upgrade"] == "champion"
    assert after["champion_metrics"]["roc_auc"] > 0.9  # the old pipeline scored on the new held-out rows
    assert after["new_estimator"] == "logistic_regression"
    assert after["new_lineage_dataset"] == "breast_cancer"
    assert after["models"] == ["breast_cancer", "diabetes", "iris", "wine"]
    assert after["champions"] == ["breast_cancer", "diabetes", "iris", "wine"]
