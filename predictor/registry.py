"""Reads and writes of the model registry (the relational source of truth for versions)."""

from django.db import transaction
from django.db.models import Max

from .models import MLModel, ModelVersion


def champion_get(model_name: str) -> ModelVersion | None:
    return (
        ModelVersion.objects.select_related("model")
        .filter(model__name=model_name, status=ModelVersion.Status.CHAMPION)
        .first()
    )


def models_with_champions() -> list[tuple[MLModel, ModelVersion | None]]:
    champions = {
        version.model_id: version
        for version in ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION)
    }
    return [(model, champions.get(model.id)) for model in MLModel.objects.all()]


def model_get(model_name: str) -> MLModel | None:
    return MLModel.objects.filter(name=model_name).first()


@transaction.atomic
def version_register(result, *, artifact_sha256: str, sklearn_version: str) -> ModelVersion:
    spec = result.spec
    model, _ = MLModel.objects.get_or_create(
        name=spec.name,
        defaults={
            "task": spec.task,
            "description": spec.description,
            "primary_metric": spec.primary_metric,
        },
    )
    model = MLModel.objects.select_for_update().get(pk=model.pk)
    last = model.versions.aggregate(last=Max("number"))["last"] or 0
    has_champion = model.versions.filter(status=ModelVersion.Status.CHAMPION).exists()
    return ModelVersion.objects.create(
        model=model,
        number=last + 1,
        status=ModelVersion.Status.CANDIDATE if has_champion else ModelVersion.Status.CHAMPION,
        status_reason="" if has_champion else "first version of this model",
        artifact_sha256=artifact_sha256,
        sklearn_version=sklearn_version,
        params=result.params,
        metrics=result.metrics,
        feature_schema=result.feature_schema,
        classes=result.classes,
        training_rows=result.training_rows,
    )
