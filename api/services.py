"""Writes behind the API: accounts and prediction submission."""

from django.contrib.auth import get_user_model
from django.db import transaction
from kombu.exceptions import OperationalError

from predictor import history, registry
from predictor.models import ModelVersion
from predictor.services import UnknownVersion, prediction_create
from predictor.training import training_request
from workers.tasks import prediction_enqueue, training_enqueue

from .models import Profile

User = get_user_model()


class QueueUnavailable(Exception):
    """The broker could not take the task; no job was left behind."""


@transaction.atomic
def user_register(*, username: str, email: str, password: str, profile: dict) -> User:
    user = User.objects.create_user(username=username, email=email, password=password)
    Profile.objects.create(user=user, **profile)
    return user


def profile_ensure(*, user) -> Profile:
    """The user's profile; users made outside register (createsuperuser) get one here."""
    profile, _ = Profile.objects.get_or_create(user=user)
    return profile


def profile_update(*, profile: Profile, user_fields: dict, profile_fields: dict) -> Profile:
    user = profile.user
    for name, value in user_fields.items():
        setattr(user, name, value)
    for name, value in profile_fields.items():
        setattr(profile, name, value)
    with transaction.atomic():
        if user_fields:
            user.save(update_fields=list(user_fields))
        if profile_fields:
            profile.save(update_fields=list(profile_fields))
    return profile


def prediction_submit(
    *, user, model_name: str, input: dict, version: int | None = None
) -> history.PredictionJob:
    """Record the job, then queue it; if queueing fails the job is removed again."""
    job = prediction_create(owner_id=user.pk, model_name=model_name, input=input, version=version)
    try:
        prediction_enqueue(job.id)
    except OperationalError as exc:
        history.job_delete(job.id)
        raise QueueUnavailable(str(exc)) from exc
    return job


def training_submit(*, user, model_name: str, params: dict) -> history.TrainingRun:
    """Record the training run, then queue it on the train queue (or remove it again)."""
    run = training_request(model_name=model_name, params=params, requested_by=user.pk)
    try:
        training_enqueue(run.id)
    except OperationalError as exc:
        history.TrainingRun.objects(id=run.id).delete()
        raise QueueUnavailable(str(exc)) from exc
    return run


def version_promote_by(*, user, model_name: str, number: int) -> ModelVersion:
    version = registry.version_get(model_name, number)
    if version is None:
        raise UnknownVersion(f"{model_name} has no version {number}")
    return registry.version_promote(version, reason=f"promoted by {user.get_username()}")


def version_rollback_by(*, user, model_name: str) -> ModelVersion:
    return registry.version_rollback(model_name, reason=f"rolled back by {user.get_username()}")
