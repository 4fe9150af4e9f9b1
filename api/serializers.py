from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from predictor.history import PredictionJob

from .models import Profile

User = get_user_model()

PROFILE_FIELDS = ("display_name", "organization", "bio")


class RegisterInputSerializer(serializers.Serializer):
    username = serializers.RegexField(r"^[\w.@+-]+\Z", max_length=150)
    email = serializers.EmailField()
    password = serializers.CharField(write_only=True, trim_whitespace=False)
    password_confirm = serializers.CharField(write_only=True, trim_whitespace=False)
    display_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    organization = serializers.CharField(max_length=150, required=False, allow_blank=True)
    bio = serializers.CharField(max_length=2000, required=False, allow_blank=True)

    def validate_username(self, value):
        if User.objects.filter(username__iexact=value).exists():
            raise serializers.ValidationError("This username is taken.")
        return value

    def validate_email(self, value):
        if User.objects.filter(email__iexact=value).exists():
            raise serializers.ValidationError("An account with this email exists.")
        return value

    def validate(self, attrs):
        if attrs["password"] != attrs["password_confirm"]:
            raise serializers.ValidationError({"password_confirm": ["The two passwords differ."]})
        candidate = User(username=attrs["username"], email=attrs["email"])
        try:
            password_validation.validate_password(attrs["password"], candidate)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"password": exc.messages}) from exc
        return attrs


class ProfileSerializer(serializers.ModelSerializer):
    """The caller's account and profile, as one object."""

    username = serializers.CharField(source="user.username", read_only=True)
    email = serializers.EmailField(source="user.email", required=False)
    first_name = serializers.CharField(
        source="user.first_name", max_length=150, required=False, allow_blank=True
    )
    last_name = serializers.CharField(
        source="user.last_name", max_length=150, required=False, allow_blank=True
    )
    is_staff = serializers.BooleanField(source="user.is_staff", read_only=True)
    date_joined = serializers.DateTimeField(source="user.date_joined", read_only=True)

    class Meta:
        model = Profile
        fields = ("username", "email", "first_name", "last_name", "is_staff", "date_joined", *PROFILE_FIELDS)

    def validate_email(self, value):
        user = self.instance.user
        if User.objects.filter(email__iexact=value).exclude(pk=user.pk).exists():
            raise serializers.ValidationError("An account with this email exists.")
        return value


class LogoutInputSerializer(serializers.Serializer):
    refresh = serializers.CharField()


class PredictionInputSerializer(serializers.Serializer):
    model = serializers.CharField(max_length=64)
    version = serializers.IntegerField(
        required=False, min_value=1, help_text="Pin a version; default: the champion."
    )
    input = serializers.DictField(allow_empty=True)

    def to_internal_value(self, data):
        if isinstance(data, dict):
            extra = sorted(set(data) - set(self.fields))
            if extra:
                raise serializers.ValidationError({name: ["Unknown field."] for name in extra})
        return super().to_internal_value(data)


class PredictionJobSerializer(serializers.Serializer):
    id = serializers.CharField()
    model = serializers.CharField()
    version = serializers.IntegerField()
    status = serializers.CharField()
    input = serializers.DictField()
    output = serializers.DictField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    attempts = serializers.IntegerField()
    metrics = serializers.SerializerMethodField()

    def get_metrics(self, job: PredictionJob) -> dict:
        def seconds(start, end):
            return round((end - start).total_seconds(), 3) if start and end else None

        return {
            "queue_s": seconds(job.created_at, job.started_at),
            "predict_s": seconds(job.started_at, job.completed_at),
            "total_s": seconds(job.created_at, job.completed_at),
        }


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


class TrainingInputSerializer(serializers.Serializer):
    model = serializers.CharField(max_length=64)
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


class SamplesInputSerializer(serializers.Serializer):
    rows = serializers.ListField(child=serializers.JSONField(), allow_empty=True)
