"""The request path's cached view of which version serves: never staler than the registry."""

import time

from django.core.cache import cache

from predictor import registry
from predictor.models import ModelVersion


def test_a_promotion_serves_the_very_next_request(two_versions):
    _, candidate = two_versions
    assert registry.champion_serving("breast_cancer").number == 1

    registry.version_promote(candidate, reason="test")

    assert registry.champion_serving("breast_cancer").number == 2


def test_another_processs_change_is_seen_through_the_shared_token(two_versions):
    model_version, candidate = two_versions
    assert registry.champion_serving("breast_cancer").number == 1
    # As another process commits it: the rows change (no signal here), then the token.
    ModelVersion.objects.filter(pk=model_version.pk).update(status="archived")
    ModelVersion.objects.filter(pk=candidate.pk).update(status="champion")
    assert registry.champion_serving("breast_cancer").number == 1  # this process's view, until...
    cache.set(registry.SERVING_TOKEN_KEY, "changed elsewhere", timeout=None)

    assert registry.champion_serving("breast_cancer").number == 2


def test_without_the_shared_cache_nothing_is_cached(two_versions, monkeypatch):
    model_version, candidate = two_versions

    def unreachable(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(cache, "get", unreachable)
    monkeypatch.setattr(cache, "set", unreachable)
    assert registry.champion_serving("breast_cancer").number == 1
    ModelVersion.objects.filter(pk=model_version.pk).update(status="archived")
    ModelVersion.objects.filter(pk=candidate.pk).update(status="champion")

    assert registry.champion_serving("breast_cancer").number == 2


def test_a_cached_answer_expires_even_if_a_change_was_never_announced(two_versions, monkeypatch):
    model_version, candidate = two_versions
    assert registry.champion_serving("breast_cancer").number == 1
    ModelVersion.objects.filter(pk=model_version.pk).update(status="archived")
    ModelVersion.objects.filter(pk=candidate.pk).update(status="champion")
    assert registry.champion_serving("breast_cancer").number == 1  # cached: nobody said
    later = time.monotonic() + registry.SERVING_CACHE_S + 1
    monkeypatch.setattr(registry.time, "monotonic", lambda: later)

    assert registry.champion_serving("breast_cancer").number == 2
