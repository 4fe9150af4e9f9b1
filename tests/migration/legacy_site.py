"""Run in a site of its own (tests/test_migration.py): a deployment as the platform left it
before models had definitions, then setup_platform as an upgrade runs it, then checks.

    python -m tests.migration.legacy_site before|after
"""

import json
import sys

import django


def before() -> dict:
    """Migrate to the last schema without definitions and register breast_cancer v1 as the
    old code did: a pipeline fitted on the plain float matrix, a 30-number schema, and a job."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    target = [("predictor", "0006_version_diagnostics")]
    executor.migrate(target)
    apps = executor.loader.project_state(target).apps

    import numpy as np
    import sklearn
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from predictor import history
    from predictor.artifacts import artifact_save, artifact_sign
    from predictor.shipped import _snake

    bunch = load_breast_cancer()
    labels = np.asarray(bunch.target_names)[bunch.target]
    pipeline = Pipeline([("scale", StandardScaler()), ("classify", LogisticRegression(max_iter=1000))])
    pipeline.fit(bunch.data, labels)
    sha256 = artifact_save(pipeline)
    names = [_snake(name) for name in bunch.feature_names]
    model = apps.get_model("predictor", "MLModel").objects.create(
        name="breast_cancer", task="binary_classification", primary_metric="roc_auc", description="old"
    )
    apps.get_model("predictor", "ModelVersion").objects.create(
        model=model,
        number=1,
        status="champion",
        status_reason="first version of this model",
        artifact_sha256=sha256,
        sklearn_version=sklearn.__version__,
        artifact_signature=artifact_sign(sha256, sklearn_version=sklearn.__version__),
        params={"C": 1.0},
        metrics={"roc_auc": 0.99},
        feature_schema=[
            {
                "name": n,
                "type": "number",
                "min": float(bunch.data[:, i].min()),
                "max": float(bunch.data[:, i].max()),
            }
            for i, n in enumerate(names)
        ],
        classes=["benign", "malignant"],
        training_rows=426,
    )
    history.connect()
    row = dict(zip(names, bunch.data[0].tolist(), strict=True))
    job = history.job_create(
        owner_id=1,
        model="breast_cancer",
        version=1,
        artifact_sha256=sha256,
        sklearn_version=sklearn.__version__,
        artifact_signature=artifact_sign(sha256, sklearn_version=sklearn.__version__),
        input=row,
    )
    return {"job": job.id}


def after(job_id: str) -> dict:
    """What the upgrade left: the old version still serves, the model has its definition, a
    new training is judged against the old champion."""
    from datetime import timedelta

    from predictor import history, registry
    from predictor.inference import pipeline_get, predict_rows
    from predictor.models import MLModel
    from predictor.training import training_execute

    model = MLModel.objects.select_related("dataset_version__dataset", "owner").get(name="breast_cancer")
    old = registry.version_get("breast_cancer", 1)
    job = history.job_get(job_id)
    pipeline = pipeline_get(
        old.artifact_sha256, sklearn_version=old.sklearn_version, signature=old.artifact_signature
    )
    [output] = predict_rows(pipeline, job.rows, old.feature_names)
    run = history.training_create(model="breast_cancer", params={}, trigger="api")
    decision = training_execute(run.id, stale_before=history.now() - timedelta(hours=1), max_attempts=3)
    finished = history.training_get(run.id)
    new = registry.version_get("breast_cancer", 2)
    return {
        "owner": model.owner.username,
        "visibility": model.visibility,
        "dataset": model.dataset_version.dataset.name,
        "target": model.target,
        "features": len(model.features),
        "estimator": model.estimator,
        "old_status_after_upgrade": old.status,
        "old_label": output["label"],
        "job_status": job.status,
        "decision": decision,
        "champion_metrics": finished.champion_metrics,
        "new_estimator": new.estimator,
        "new_lineage_dataset": new.lineage["dataset"]["name"],
        "models": sorted(MLModel.objects.values_list("name", flat=True)),
        "champions": sorted(v.model.name for v in registry.ModelVersion.objects.filter(status="champion")),
    }


if __name__ == "__main__":
    django.setup()
    step = sys.argv[1]
    print(json.dumps(before() if step == "before" else after(sys.argv[2])))
