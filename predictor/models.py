"""The registry: datasets and their versions; models (each a definition made from a dataset)
with their versions, and which version serves (the champion)."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Visibility(models.TextChoices):
    # Only its owner (and staff) see it: to anyone else it does not exist (404).
    PRIVATE = "private"
    # Every signed-in user may read and use it; only its owner and staff change it.
    SHARED = "shared"


class Dataset(models.Model):
    """A named table a user uploaded; its versions are immutable."""

    # Unique platform-wide, like model names, and URL-safe.
    name = models.SlugField(max_length=64, unique=True)
    # Null: the platform's (its owner's account was deleted; staff manage it). The same for models.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="datasets"
    )
    visibility = models.CharField(max_length=8, choices=Visibility.choices, default=Visibility.PRIVATE)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        permissions = [("build_models", "Can upload datasets and create models")]

    def __str__(self):
        return self.name


class DatasetVersion(models.Model):
    """One upload: its bytes are in GridFS under their SHA-256 (predictor/datasets.py), its
    profile here. Never changed once written."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()
    filename = models.CharField(max_length=255, blank=True)
    rows = models.PositiveIntegerField()
    # predictor/tabular/'s column profiles, in file order.
    columns = models.JSONField()
    preview = models.JSONField(default=list)
    delimiter = models.CharField(max_length=1, default=",")
    encoding = models.CharField(max_length=16, default="utf-8")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["dataset", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="unique_dataset_version_number")
        ]

    def __str__(self):
        return f"{self.dataset.name} v{self.number}"


class MLModel(models.Model):
    """A model's definition: what it learns from (a dataset version, the target, the typed
    features), how (the estimator and its params) and how it is judged (the primary metric)."""

    name = models.SlugField(max_length=64, unique=True)
    task = models.CharField(max_length=32)
    description = models.TextField(blank=True)
    primary_metric = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)
    # Null: the platform's (registered before models had owners, or its owner's account was
    # deleted): only staff change it.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="ml_models"
    )
    visibility = models.CharField(max_length=8, choices=Visibility.choices, default=Visibility.SHARED)
    # PROTECT: a dataset version a model learns from cannot be deleted from under it.
    dataset_version = models.ForeignKey(
        DatasetVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="models"
    )
    target = models.CharField(max_length=255, blank=True)
    # [{"name", "type"}] in the pipeline's order; types from the dataset's profile.
    features = models.JSONField(default=list, blank=True)
    # An allowed estimator (predictor/estimators.py) or "auto": every allowed one is
    # cross-validated at each training and the best kept.
    estimator = models.CharField(max_length=32, blank=True)
    params = models.JSONField(default=dict, blank=True)
    # The held-out split is seeded, so every version is judged on the same rows.
    test_size = models.FloatField(default=0.25)
    random_state = models.IntegerField(default=42)

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

    class Source(models.TextChoices):
        TRAINED = "trained"  # fitted here (predictor/fitting.py): takes a matrix of its features
        IMPORTED = "imported"  # a file from outside (predictor/imports.py): takes named columns

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
    # The input schema, in the order the pipeline expects: [{"name", "type", "nullable"} and,
    # by type, "min"/"max" (number) or "categories" (category)]; predictor/validation.py.
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
    # Lineage: the dataset version it learned from (PROTECT: never deleted from under it),
    # and {"dataset": {name, version, sha256}, "rows": {dataset, samples, dropped}, "features",
    # "estimator", "params"}; its library versions are library_versions.
    dataset_version = models.ForeignKey(
        DatasetVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="model_versions"
    )
    estimator = models.CharField(max_length=32, blank=True)
    lineage = models.JSONField(default=dict, blank=True)
    # With estimator "auto": each candidate's cross-validated score, fit and predict times.
    leaderboard = models.JSONField(default=list, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.TRAINED)
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
