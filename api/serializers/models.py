"""Models, their versions and diagnostics, training runs and labelled samples."""

from rest_framework import serializers

from ..fields import TextField


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
    source = serializers.ChoiceField(
        choices=["trained", "imported"],
        help_text="trained: fitted by the platform; imported: a file from elsewhere "
        "(POST /api/v1/models/{name}/versions/), which takes a DataFrame of its named columns.",
    )
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
