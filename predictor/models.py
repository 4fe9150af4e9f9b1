"""The model registry: models, their versions and which version serves (the champion)."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class MLModel(models.Model):
    name = models.SlugField(max_length=64, unique=True)
    task = models.CharField(max_length=32)
    description = models.TextField(blank=True)
    primary_metric = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "model"

    def __str__(self):
        return self.name


class ModelVersion(models.Model):
    class Status(models.TextChoices):
        CHAMPION = "champion"
        CANDIDATE = "candidate"
        REJECTED = "rejected"
        ARCHIVED = "archived"

    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices)
    status_reason = models.TextField(blank=True)
    artifact_sha256 = models.CharField(max_length=64)
    sklearn_version = models.CharField(max_length=32)
    # HMAC of artifact_sha256 and sklearn_version with settings.ARTIFACT_SIGNING_KEY: workers
    # load nothing without it (predictor/artifacts.py).
    artifact_signature = models.CharField(max_length=64, blank=True)
    params = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict)
    # [{"name", "type", "min", "max"}] in the order the pipeline expects them.
    feature_schema = models.JSONField()
    # Class labels for a classifier, None for a regressor.
    classes = models.JSONField(null=True, blank=True)
    training_rows = models.PositiveIntegerField()
    samples_used = models.PositiveIntegerField(default=0)
    # {"scikit-learn": "1.9.1", "numpy": ..., "joblib": ..., "python": ...}
    library_versions = models.JSONField(default=dict)
    # Computed when it was trained, for the pages (predictor.fitting.diagnostics):
    # a classifier's held-out confusion matrix, a regressor's held-out predicted-vs-actual
    # points and the range of its training targets. {} for versions trained before.
    diagnostics = models.JSONField(default=dict, blank=True)
    # The training run (MongoDB) that produced it: one version per run, however often
    # its task is delivered.
    training_run_id = models.CharField(max_length=36, unique=True, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # When it last became champion; a rollback returns to the most recent earlier one.
    promoted_at = models.DateTimeField(null=True, blank=True)
    # The staff member who last changed its status by hand (promote, rollback): kept for the
    # admin's audit, never shown to other users (the public reason says only "by staff").
    status_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["model", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["model", "number"], name="unique_version_number"),
            models.UniqueConstraint(
                fields=["model"],
                condition=Q(status="champion"),
                name="one_champion_per_model",
            ),
        ]

    def __str__(self):
        return f"{self.model.name} v{self.number} ({self.status})"

    @property
    def feature_names(self) -> list[str]:
        return [feature["name"] for feature in self.feature_schema]


class WebhookSecret(models.Model):
    """Each user's webhook signing secret (Standard Webhooks `whsec_...`)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_secret"
    )
    secret = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"webhook secret of user {self.user_id}"
