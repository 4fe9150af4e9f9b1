from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator
from django.db import models
from rest_framework import serializers

from predictor import history, webhooks

from ..fields import AccountEmailField, RowsField, TextField
from ..jobs import job_public
from ..models import Profile

User = get_user_model()

PROFILE_FIELDS = ("display_name", "organization", "bio")


class RegisterInputSerializer(serializers.Serializer):
    """A new account. Usernames are unique (someone must be told theirs is taken; the
    per-address rate limit slows anyone listing them). Emails are contact addresses, not
    identifiers: two accounts may share one, so registering never tells whether an address
    already has an account here."""

    username = TextField(
        max_length=150,
        validators=[RegexValidator(r"^[\w.@+-]+\Z", "Letters, digits and @ . + - _ only.")],
    )
    email = serializers.EmailField()
    password = TextField(write_only=True, trim_whitespace=False)
    password_confirm = TextField(write_only=True, trim_whitespace=False)
    display_name = TextField(max_length=150, required=False, allow_blank=True)
    organization = TextField(max_length=150, required=False, allow_blank=True)
    bio = TextField(max_length=2000, required=False, allow_blank=True)

    def validate_username(self, value):
        if User.objects.filter(username__iexact=value).exists():
            raise serializers.ValidationError("This username is taken.")
        return value

    def validate(self, attrs):
        if attrs["password"] != attrs["password_confirm"]:
            raise serializers.ValidationError({"password_confirm": ["The two passwords differ."]})
        candidate = User(username=attrs["username"], email=attrs["email"])
        try:
            password_validation.validate_password(attrs["password"], candidate)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"password": exc.messages}) from exc
        # Validated data is what services.user_register takes.
        profile = {name: attrs[name] for name in PROFILE_FIELDS if name in attrs}
        return {
            "username": attrs["username"],
            "email": attrs["email"],
            "password": attrs["password"],
            "profile": profile,
        }


class ProfileSerializer(serializers.ModelSerializer):
    """The caller's account and profile, as one object."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: TextField,
        models.TextField: TextField,
    }

    username = serializers.CharField(source="user.username", read_only=True)
    email = AccountEmailField(source="user.email", required=False)
    first_name = TextField(source="user.first_name", max_length=150, required=False, allow_blank=True)
    last_name = TextField(source="user.last_name", max_length=150, required=False, allow_blank=True)
    is_staff = serializers.BooleanField(source="user.is_staff", read_only=True)
    date_joined = serializers.DateTimeField(source="user.date_joined", read_only=True)

    class Meta:
        model = Profile
        fields = ("username", "email", "first_name", "last_name", "is_staff", "date_joined", *PROFILE_FIELDS)


class LogoutInputSerializer(serializers.Serializer):
    refresh = TextField()


class PasswordChangeInputSerializer(serializers.Serializer):
    """The caller's current password, and the new one."""

    # context["user"]: the account whose old password is checked and whose details the
    # password validators compare the new one with.
    old_password = TextField(write_only=True, trim_whitespace=False)
    new_password = TextField(write_only=True, trim_whitespace=False)

    def validate_old_password(self, value):
        # A stolen access token alone must not be enough to take the account over.
        if not self.context["user"].check_password(value):
            raise serializers.ValidationError("Your old password is not correct.")
        return value

    def validate_new_password(self, value):
        try:
            password_validation.validate_password(value, self.context["user"])
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc
        return value


# Version numbers count up from 1; the bound keeps a fuzzed 10**30 a 400, not an overflow
# in SQLite or BSON.
VERSION_MAX = 2**31 - 1


class PredictionInputSerializer(serializers.Serializer):
    """One row (`input`) or a batch (`inputs`), for a model and optionally a pinned version."""

    model = TextField(max_length=64)
    version = serializers.IntegerField(
        required=False, min_value=1, max_value=VERSION_MAX, help_text="Pin a version; default: the champion."
    )
    input = serializers.DictField(required=False, help_text="One row: {feature: number}.")
    inputs = RowsField(required=False, help_text="A batch of rows, run as one job.")
    webhook = serializers.URLField(
        required=False, max_length=2000, help_text="Called (signed) as the job progresses."
    )
    webhook_events_filter = serializers.MultipleChoiceField(
        choices=webhooks.EVENTS, required=False, help_text="Which events call the webhook; default all."
    )
    cancel_after = TextField(required=False, help_text="As the Cancel-After header.")

    def to_internal_value(self, data):
        if isinstance(data, dict):
            extra = sorted(set(data) - set(self.fields))
            if extra:
                raise serializers.ValidationError({name: ["Unknown field."] for name in extra})
        return super().to_internal_value(data)

    def validate(self, attrs):
        if ("input" in attrs) == ("inputs" in attrs):
            raise serializers.ValidationError(
                {"input": ["Send exactly one of `input` (a row) or `inputs` (a batch)."]}
            )
        if "webhook" in attrs:
            try:
                webhooks.url_check(attrs["webhook"], allow_private=settings.WEBHOOK_ALLOW_PRIVATE)
            except webhooks.InvalidWebhook as exc:
                raise serializers.ValidationError({"webhook": [str(exc)]}) from None
        if "webhook_events_filter" in attrs:
            attrs["webhook_events_filter"] = sorted(attrs["webhook_events_filter"])
        elif "webhook" in attrs:
            attrs["webhook_events_filter"] = list(webhooks.EVENTS)
        return attrs


class JobMetricsSerializer(serializers.Serializer):
    queue_s = serializers.FloatField(allow_null=True, help_text="Seconds from submit to start.")
    predict_s = serializers.FloatField(allow_null=True, help_text="Seconds running.")
    total_s = serializers.FloatField(allow_null=True, help_text="Seconds from submit to finish.")
    worker = serializers.CharField(
        allow_null=True, help_text="The Celery worker that ran it (its node name: queue@host)."
    )


class JobUrlsSerializer(serializers.Serializer):
    get = serializers.CharField(help_text="This job (absolute when PUBLIC_BASE_URL is set).")
    cancel = serializers.CharField()
    feedback = serializers.CharField()
    webhooks = serializers.CharField(help_text="Its webhook deliveries.")
    web = serializers.CharField(help_text="Its page, for people.")


class PredictionJobSerializer(serializers.Serializer):
    """The schema of api/jobs.py `job_public`, for the OpenAPI document; the answers are
    that function's own (one shape for the API, the pages and webhook bodies).
    tests/api/test_openapi.py checks real answers against it."""

    id = serializers.CharField()
    model = serializers.CharField()
    version = serializers.IntegerField()
    status = serializers.ChoiceField(choices=history.STATUSES)
    input = serializers.DictField(allow_null=True)
    inputs = serializers.ListField(child=serializers.DictField(), allow_null=True)
    output = serializers.JSONField(
        allow_null=True, help_text="An object for `input`, a list (one per row) for `inputs`."
    )
    error = serializers.CharField(allow_null=True)
    cancel_after = serializers.DateTimeField(allow_null=True)
    webhook = serializers.CharField(allow_null=True)
    webhook_events_filter = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    attempts = serializers.IntegerField()
    metrics = JobMetricsSerializer()
    urls = JobUrlsSerializer()

    def to_representation(self, job):
        return job_public(job)


# A page of history is one MongoDB query; 100 jobs keep a response well under 1 MB.
PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX = 20, 100


class HistoryFilterSerializer(serializers.Serializer):
    model = serializers.CharField(required=False, max_length=64)
    version = serializers.IntegerField(required=False, min_value=1, max_value=VERSION_MAX)
    status = serializers.ChoiceField(choices=history.STATUSES, required=False)
    created_after = serializers.DateTimeField(required=False, help_text="Inclusive, ISO 8601.")
    created_before = serializers.DateTimeField(required=False, help_text="Exclusive, ISO 8601.")
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=PAGE_SIZE_MAX, default=PAGE_SIZE_DEFAULT
    )
    cursor = serializers.CharField(required=False, help_text="`next_cursor` of the previous page.")
    format = serializers.ChoiceField(choices=["json", "csv"], required=False, default="json")


class HistoryPageSerializer(serializers.Serializer):
    results = PredictionJobSerializer(many=True)
    next = serializers.URLField(allow_null=True)
    next_cursor = serializers.CharField(allow_null=True)


class ModelSerializer(serializers.Serializer):
    """A model with its serving (champion) version."""

    name = serializers.CharField(source="model.name")
    task = serializers.CharField(source="model.task")
    description = serializers.CharField(source="model.description")
    primary_metric = serializers.CharField(source="model.primary_metric")
    version = serializers.IntegerField(source="champion.number", allow_null=True)
    metrics = serializers.DictField(source="champion.metrics", allow_null=True)
    classes = serializers.ListField(source="champion.classes", allow_null=True)
    input_schema = serializers.ListField(source="champion.feature_schema", allow_null=True)
    trained_at = serializers.DateTimeField(source="champion.created_at", allow_null=True)
    owner = serializers.CharField(source="model.owner.username", allow_null=True, default=None)
    visibility = serializers.CharField(source="model.visibility")
    definition = serializers.SerializerMethodField(help_text="What it learns from, and how.")

    def get_definition(self, item) -> dict | None:
        model = item.model
        data = model.dataset_version
        if data is None:
            return None
        return {
            "dataset": {"name": data.dataset.name, "version": data.number, "sha256": data.sha256},
            "target": model.target,
            "features": model.features,
            "estimator": model.estimator,
            "params": model.params,
        }


class TrainingInputSerializer(serializers.Serializer):
    model = TextField(max_length=64)
    params = serializers.DictField(required=False, default=dict)


class TrainingRunSerializer(serializers.Serializer):
    id = serializers.CharField()
    model = serializers.CharField()
    params = serializers.DictField()
    trigger = serializers.CharField()
    status = serializers.CharField()
    stage = serializers.CharField()
    progress = serializers.ListField(child=serializers.DictField())
    attempts = serializers.IntegerField()
    version = serializers.IntegerField(allow_null=True)
    decision = serializers.CharField(allow_null=True)
    decision_reason = serializers.CharField(allow_null=True)
    metrics = serializers.DictField(allow_null=True)
    champion_metrics = serializers.DictField(allow_null=True)
    training_rows = serializers.IntegerField(allow_null=True)
    samples_used = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    duration_s = serializers.SerializerMethodField()

    def get_duration_s(self, run) -> float | None:
        if run.started_at and run.completed_at:
            return round((run.completed_at - run.started_at).total_seconds(), 3)
        return None


class ConfusionMatrixSerializer(serializers.Serializer):
    labels = serializers.ListField(
        child=serializers.CharField(), help_text="The classes, in the order of the version's `classes`."
    )
    matrix = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField(min_value=0)),
        help_text="matrix[i][j]: held-out rows whose true class is labels[i], predicted labels[j].",
    )


class PredictedVsActualSerializer(serializers.Serializer):
    points = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2),
        max_length=300,
        help_text="[actual, predicted] of held-out rows: every one, or 300 evenly spaced.",
    )


class TargetRangeSerializer(serializers.Serializer):
    min = serializers.FloatField()
    max = serializers.FloatField()
    mean = serializers.FloatField()
    std = serializers.FloatField()
    p05 = serializers.FloatField(help_text="5th percentile.")
    p50 = serializers.FloatField(help_text="Median.")
    p95 = serializers.FloatField(help_text="95th percentile.")


class VersionDiagnosticsSerializer(serializers.Serializer):
    """Computed on the model's fixed held-out rows when the version was trained (floats to 6
    significant digits). A classifier has `held_out_rows` and `confusion_matrix`; a regressor
    `held_out_rows`, `predicted_vs_actual` and `target`. Versions trained before diagnostics
    existed have none: `{}`."""

    held_out_rows = serializers.IntegerField(required=False, min_value=0)
    confusion_matrix = ConfusionMatrixSerializer(required=False, help_text="Classifiers only.")
    predicted_vs_actual = PredictedVsActualSerializer(required=False, help_text="Regressors only.")
    target = TargetRangeSerializer(
        required=False, help_text="Regressors only: the targets it was fitted on (labelled samples included)."
    )


class ModelVersionSerializer(serializers.Serializer):
    model = serializers.CharField(source="model.name")
    number = serializers.IntegerField()
    status = serializers.CharField()
    status_reason = serializers.CharField()
    metrics = serializers.DictField()
    params = serializers.DictField()
    training_rows = serializers.IntegerField()
    samples_used = serializers.IntegerField()
    artifact_sha256 = serializers.CharField()
    library_versions = serializers.DictField()
    training_run_id = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    promoted_at = serializers.DateTimeField(allow_null=True)
    diagnostics = VersionDiagnosticsSerializer(
        help_text="A classifier's held-out confusion matrix, or a regressor's held-out predicted-vs-actual "
        "points and training target range; {} for versions trained before diagnostics existed."
    )
    estimator = serializers.CharField(help_text="The estimator fitted (the winner, with `auto`).")
    classes = serializers.ListField(allow_null=True)
    input_schema = serializers.ListField(source="feature_schema")
    lineage = serializers.DictField(
        help_text="The dataset (name, version, SHA-256), rows used (dataset, samples), typed features, "
        "target, estimator and params it was trained with; {} for versions older than lineage."
    )
    leaderboard = serializers.ListField(
        child=serializers.DictField(),
        help_text="With estimator auto: each candidate's cross-validated score, fit time and predict "
        "time per row, best first.",
    )


class SamplesInputSerializer(serializers.Serializer):
    rows = serializers.ListField(child=serializers.JSONField(), allow_empty=True)


class FeedbackInputSerializer(serializers.Serializer):
    label = serializers.JSONField(help_text="The true class (a classifier) or value (a regressor).")
    index = serializers.IntegerField(required=False, min_value=0, help_text="The row, for a batch job.")


class WebhookSecretSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="Verify `webhook-signature` with it (Standard Webhooks).")


class WebhookDeliverySerializer(serializers.Serializer):
    event = serializers.CharField()
    url = serializers.CharField()
    message_id = serializers.CharField()
    attempt = serializers.IntegerField()
    status_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    duration_s = serializers.FloatField(allow_null=True)
    created_at = serializers.DateTimeField()


from .datasets import (  # noqa: E402  (the package's other modules, re-exported)
    DatasetSerializer,
    DatasetSummarySerializer,
    DatasetUploadSerializer,
    DatasetVersionSerializer,
    ModelCreateSerializer,
)
