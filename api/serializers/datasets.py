"""Datasets and model creation: what the API takes and shows."""

from django.core.validators import RegexValidator
from rest_framework import serializers

from predictor.definitions import METRICS, TASK_CHOICES
from predictor.estimators import AUTO, ESTIMATORS
from predictor.models import Visibility

from ..fields import TextField

# Model and dataset names go in URLs: a slug, starting with a letter or digit.
NAME_VALIDATOR = RegexValidator(r"^[a-z0-9][a-z0-9_-]*\Z", "Lower-case letters, digits, - and _ only.")
ALL_METRICS = sorted({metric for metrics in METRICS.values() for metric in metrics})


class DatasetUploadSerializer(serializers.Serializer):
    name = TextField(max_length=64, validators=[NAME_VALIDATOR])
    file = serializers.FileField(help_text="A CSV file (UTF-8; comma, semicolon, tab or | separated).")
    visibility = serializers.ChoiceField(choices=Visibility.choices, default=Visibility.PRIVATE)
    description = TextField(max_length=2000, required=False, allow_blank=True, default="")


class ColumnSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.ChoiceField(choices=["number", "category", "boolean"])
    missing = serializers.IntegerField(help_text="Cells with no value (empty, NA, null ...).")
    distinct = serializers.IntegerField(allow_null=True, help_text="null: more than DATASET_MAX_CATEGORIES.")
    top = serializers.ListField(
        child=serializers.ListField(), help_text="[value, count] of the most frequent."
    )
    min = serializers.FloatField(required=False, allow_null=True)
    max = serializers.FloatField(required=False, allow_null=True)
    mean = serializers.FloatField(required=False, allow_null=True)
    integers = serializers.BooleanField(required=False)
    histogram = serializers.DictField(required=False, allow_null=True)


class DatasetVersionSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    sha256 = serializers.CharField()
    size_bytes = serializers.IntegerField()
    filename = serializers.CharField()
    rows = serializers.IntegerField()
    delimiter = serializers.CharField()
    encoding = serializers.CharField()
    columns = serializers.SerializerMethodField()
    preview = serializers.ListField(child=serializers.DictField())
    created_at = serializers.DateTimeField()

    def get_columns(self, version) -> list[dict]:
        # Every value of a column is stored (for the checks), not shown: `top` says enough.
        return ColumnSerializer(
            [{key: value for key, value in column.items() if key != "values"} for column in version.columns],
            many=True,
        ).data


class DatasetSerializer(serializers.Serializer):
    name = serializers.CharField()
    owner = serializers.CharField(
        source="owner.username", default=None, allow_null=True, help_text="null: the platform's."
    )
    visibility = serializers.CharField()
    description = serializers.CharField()
    created_at = serializers.DateTimeField()
    versions = serializers.SerializerMethodField()

    def get_versions(self, dataset) -> list[dict]:
        return DatasetVersionSerializer(dataset.versions.all(), many=True).data


class DatasetSummarySerializer(serializers.Serializer):
    name = serializers.CharField()
    owner = serializers.CharField(
        source="owner.username", default=None, allow_null=True, help_text="null: the platform's."
    )
    visibility = serializers.CharField()
    description = serializers.CharField()
    created_at = serializers.DateTimeField()
    latest = serializers.SerializerMethodField(help_text="The newest version, without its columns.")

    def get_latest(self, dataset) -> dict | None:
        version = dataset.versions.first()
        if version is None:
            return None
        data = DatasetVersionSerializer(version).data
        return {key: data[key] for key in ("number", "sha256", "size_bytes", "rows", "created_at")}


class ModelCreateSerializer(serializers.Serializer):
    name = TextField(max_length=64, validators=[NAME_VALIDATOR])
    dataset = TextField(max_length=64, help_text="A dataset's name.")
    dataset_version = serializers.IntegerField(required=False, min_value=1, help_text="Default: its latest.")
    target = TextField(max_length=255, help_text="The column to predict.")
    features = serializers.ListField(
        child=TextField(max_length=255),
        required=False,
        allow_empty=False,
        max_length=5000,
        help_text="Default: every column but the target.",
    )
    task = serializers.ChoiceField(choices=TASK_CHOICES, default=AUTO)
    estimator = serializers.ChoiceField(choices=[AUTO, *ESTIMATORS], default=AUTO)
    params = serializers.DictField(required=False, default=dict)
    metric = serializers.ChoiceField(choices=ALL_METRICS, required=False, help_text="Default: per task.")
    visibility = serializers.ChoiceField(choices=Visibility.choices, default=Visibility.PRIVATE)
    description = TextField(max_length=2000, required=False, allow_blank=True, default="")

    def to_internal_value(self, data):
        if isinstance(data, dict):
            extra = sorted(set(data) - set(self.fields))
            if extra:
                raise serializers.ValidationError({name: ["Unknown field."] for name in extra})
        return super().to_internal_value(data)


class ModelImportCreateSerializer(ModelCreateSerializer):
    """POST /api/v1/models/ as multipart, with a model file: the model's first version is the
    file (predictor/imports.py); the rest defines the model, as without a file."""

    artifact = serializers.FileField(
        help_text="A fitted scikit-learn Pipeline or estimator saved with skops "
        '(`skops.io.dump(model, "model.skops")`), fitted on a pandas DataFrame of the dataset\'s '
        "columns. Never a pickle."
    )
