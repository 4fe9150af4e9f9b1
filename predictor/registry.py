"""Reads and writes of the model registry (the relational source of truth for versions)."""

import logging
import platform
import time
import uuid

import joblib
import numpy
import pandas
import scipy
import sklearn
from django.core.cache import cache
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from .artifacts import artifact_sign
from .models import MLModel, ModelVersion, Visibility

Status = ModelVersion.Status
logger = logging.getLogger(__name__)


class RegistryError(Exception):
    """A registry change that cannot be made (no such version, nothing to roll back to)."""


def library_versions() -> dict:
    return {
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "scipy": scipy.__version__,
        "joblib": joblib.__version__,
        "python": platform.python_version(),
    }


def can_see(user, model: MLModel) -> bool:
    """Shared models are everyone's to read and use; a private one its owner's and staff's."""
    return model.visibility == Visibility.SHARED or can_change(user, model)


def can_change(user, model: MLModel) -> bool:
    """Train, promote, roll back, delete, add samples: its owner and staff."""
    return bool(
        user is not None and (user.is_staff or (model.owner_id is not None and model.owner_id == user.pk))
    )


def models_owned(user):
    return MLModel.objects.filter(owner_id=user.pk)


def models_visible(user):
    models = MLModel.objects.all()
    if user is None or not user.is_staff:
        owned = Q(owner_id=user.pk) if user is not None and user.pk is not None else Q(pk__in=[])
        models = models.filter(owned | Q(visibility=Visibility.SHARED))
    return models


def champion_get(model_name: str) -> ModelVersion | None:
    return (
        ModelVersion.objects.select_related("model")
        .filter(model__name=model_name, status=Status.CHAMPION)
        .first()
    )


# The serving version per model, as this process last read it, with the registry token
# it was read under and when to read it again regardless. Submits ask for the champion on
# every request: this keeps the ORM query off that path.
_serving: dict[str, tuple[str, float, ModelVersion | None]] = {}
SERVING_TOKEN_KEY = "registry:serving-token"
# However a change is missed (its token bump lost with Redis), a cached answer lives this long.
SERVING_CACHE_S = 30


def champion_serving(model_name: str) -> ModelVersion | None:
    """The champion, as champion_get, cached per process for the request path.

    Every change to the registry's rows replaces a token in the shared cache (Redis), and
    an answer is kept only while the token it was read under stands, so a promotion serves
    the very next request in every process. Without Redis, nothing is cached.
    """
    token = _serving_token()
    cached = _serving.get(model_name)
    if token is not None and cached is not None and cached[0] == token and cached[1] > time.monotonic():
        return cached[2]
    version = champion_get(model_name)
    if token is not None:
        _serving[model_name] = (token, time.monotonic() + SERVING_CACHE_S, version)
    return version


def _serving_token() -> str | None:
    try:
        token = cache.get(SERVING_TOKEN_KEY)
        if token is None:
            cache.add(SERVING_TOKEN_KEY, uuid.uuid4().hex, timeout=None)
            token = cache.get(SERVING_TOKEN_KEY)
        return token
    except Exception as exc:  # the cache client's connection errors vary; uncached is correct
        logger.debug("registry cache unavailable: %s", exc)
        return None


def serving_changed(**_) -> None:
    """A model or version row changed: every process reads the registry again. Now, for
    this process (inside its transaction), and once committed, for every other."""

    def bump():
        try:
            cache.set(SERVING_TOKEN_KEY, uuid.uuid4().hex, timeout=None)
        except Exception as exc:  # as above: the time bound (SERVING_CACHE_S) still holds
            logger.warning("registry cache not told of a change: %s", exc)

    _serving.clear()
    bump()
    transaction.on_commit(bump)


def version_get(model_name: str, number: int) -> ModelVersion | None:
    return ModelVersion.objects.select_related("model").filter(model__name=model_name, number=number).first()


def versions_list(model_name: str) -> list[ModelVersion]:
    return list(
        ModelVersion.objects.select_related("model").filter(model__name=model_name).order_by("-number")
    )


def versions_all(fields: tuple[str, ...]) -> list[ModelVersion]:
    """Every version of every model, only `fields` loaded, by model then number."""
    return list(ModelVersion.objects.only(*fields).order_by("model_id", "number"))


def models_with_champions(user=None, *, everyone: bool = False) -> list[tuple[MLModel, ModelVersion | None]]:
    """The models `user` may see (every model with everyone=True), each with its champion."""
    models = MLModel.objects.all() if everyone else models_visible(user)
    champions = {
        version.model_id: version
        for version in ModelVersion.objects.filter(status=Status.CHAMPION, model__in=models)
    }
    return [(model, champions.get(model.id)) for model in models]


def model_get(model_name: str) -> MLModel | None:
    return MLModel.objects.filter(name=model_name).first()


def lineage(model: MLModel, result) -> dict:
    """Where a version came from: the dataset version, the rows, the typed features, the
    estimator and its params (the library versions are the version's library_versions)."""
    data = model.dataset_version
    return {
        "dataset": (
            {"name": data.dataset.name, "version": data.number, "sha256": data.sha256} if data else None
        ),
        "rows": {
            "dataset": result.training_rows - result.samples_used,
            "samples": result.samples_used,
            "without_target": result.rows_dropped,
        },
        "features": result.feature_schema,
        "target": model.target,
        "estimator": result.estimator,
        "params": result.params,
        "source": result.source,
    }


@transaction.atomic
def version_register(
    model: MLModel, result, *, artifact_sha256: str, sklearn_version: str, training_run_id: str | None = None
) -> ModelVersion:
    """Record a trained version: champion if the model has none yet, else a candidate."""
    # of=("self",): PostgreSQL locks no row of the outer-joined dataset tables (it refuses to).
    model = (
        MLModel.objects.select_for_update(of=("self",))
        .select_related("dataset_version__dataset")
        .get(pk=model.pk)
    )
    last = model.versions.aggregate(last=Max("number"))["last"] or 0
    first = not model.versions.filter(status=Status.CHAMPION).exists()
    return ModelVersion.objects.create(
        model=model,
        number=last + 1,
        status=Status.CHAMPION if first else Status.CANDIDATE,
        status_reason="first version of this model" if first else "awaiting evaluation",
        promoted_at=timezone.now() if first else None,
        artifact_sha256=artifact_sha256,
        sklearn_version=sklearn_version,
        artifact_signature=artifact_sign(artifact_sha256, sklearn_version=sklearn_version),
        library_versions=library_versions(),
        params=result.params,
        metrics=result.metrics,
        feature_schema=result.feature_schema,
        classes=result.classes,
        training_rows=result.training_rows,
        samples_used=result.samples_used,
        diagnostics=result.diagnostics,
        training_run_id=training_run_id,
        dataset_version=model.dataset_version,
        estimator=result.estimator,
        leaderboard=result.leaderboard,
        lineage=lineage(model, result),
        source=result.source,
    )


@transaction.atomic
def version_promote(version: ModelVersion, *, reason: str, by=None) -> ModelVersion:
    """Make this version the champion; the one it replaces is archived."""
    MLModel.objects.select_for_update().get(pk=version.model_id)
    for old in ModelVersion.objects.filter(model_id=version.model_id, status=Status.CHAMPION).exclude(
        pk=version.pk
    ):
        old.status, old.status_reason = Status.ARCHIVED, f"replaced by v{version.number}"
        old.save(update_fields=["status", "status_reason"])
    version.status, version.status_reason, version.promoted_at = Status.CHAMPION, reason, timezone.now()
    version.status_changed_by = by
    version.save(update_fields=["status", "status_reason", "promoted_at", "status_changed_by"])
    return version


def version_reject(version: ModelVersion, *, reason: str) -> ModelVersion:
    version.status, version.status_reason = Status.REJECTED, reason
    version.save(update_fields=["status", "status_reason"])
    return version


@transaction.atomic
def rollback_target(model_name: str) -> ModelVersion | None:
    """The version a rollback returns to: the archived one most recently champion."""
    current = champion_get(model_name)
    return (
        ModelVersion.objects.filter(model__name=model_name, status=Status.ARCHIVED, promoted_at__isnull=False)
        .exclude(pk=getattr(current, "pk", None))
        .order_by("-promoted_at")
        .first()
    )


def version_rollback(model_name: str, *, reason: str, by=None) -> ModelVersion:
    """Return to the version that was champion before the current one."""
    previous = rollback_target(model_name)
    if previous is None:
        raise RegistryError(f"{model_name} has no earlier champion to roll back to")
    return version_promote(previous, reason=reason, by=by)
