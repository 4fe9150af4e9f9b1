"""Writes behind the API: accounts and prediction submission."""

from django.contrib.auth import get_user_model
from django.db import transaction
from kombu.exceptions import OperationalError

from predictor import history
from predictor.services import prediction_create
from workers.tasks import prediction_enqueue

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


def prediction_submit(*, user, model_name: str, input: dict) -> history.PredictionJob:
    """Record the job, then queue it; if queueing fails the job is removed again."""
    job = prediction_create(owner_id=user.pk, model_name=model_name, input=input)
    try:
        prediction_enqueue(job.id)
    except OperationalError as exc:
        history.job_delete(job.id)
        raise QueueUnavailable(str(exc)) from exc
    return job
