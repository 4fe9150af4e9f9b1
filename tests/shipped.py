"""The shipped models for tests: trained from their tables exactly as a training run does,
without the registry or GridFS (predictor/shipped.py makes the same tables for setup)."""

from functools import cache

from predictor.fitting import train
from predictor.shipped import shipped_definition, shipped_table


@cache
def table(name: str):
    """The shipped model's table (features and target), as its dataset reads."""
    return shipped_table(name)[0]


def features(name: str):
    """The table's feature columns (the target left out)."""
    definition = shipped_definition(name)
    return table(name)[definition.feature_names]


def shipped_train(name: str, params: dict | None = None, *, samples=None):
    """A TrainingResult of the shipped model on its table (+ samples: (frame, targets))."""
    return train(shipped_definition(name), table(name), params, samples=samples)


def register(name: str, result=None, *, sha256: str | None = None):
    """Register a version of the shipped model (trained here unless `result` is given),
    defining the model first as setup does (its dataset uploaded); returns the version."""
    import sklearn

    from predictor.artifacts import artifact_save
    from predictor.models import MLModel
    from predictor.registry import version_register

    result = result or shipped_train(name)
    definition = shipped_definition(name)
    model, _ = MLModel.objects.get_or_create(
        name=name,
        defaults={
            "task": definition.task,
            "primary_metric": definition.primary_metric,
            "visibility": "shared",
        },
    )
    return version_register(
        model,
        result,
        artifact_sha256=sha256 or artifact_save(result.pipeline),
        sklearn_version=sklearn.__version__,
    )
