from django.contrib import admin, messages

from . import registry
from .models import Dataset, DatasetVersion, MLModel, ModelVersion


class ModelVersionInline(admin.TabularInline):
    model = ModelVersion
    fields = ("number", "status", "status_reason", "metrics", "artifact_sha256", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False


class DatasetVersionInline(admin.TabularInline):
    model = DatasetVersion
    fields = ("number", "rows", "size_bytes", "sha256", "filename", "created_by", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    """Uploaded tables; their versions are immutable (uploads make them, the API deletes
    them, refusing while a model learned from one)."""

    list_display = ("name", "owner", "visibility", "created_at")
    list_filter = ("visibility",)
    fields = ("name", "owner", "visibility", "description", "created_at")
    readonly_fields = ("name", "created_at")
    inlines = [DatasetVersionInline]


@admin.register(MLModel)
class MLModelAdmin(admin.ModelAdmin):
    list_display = ("name", "task", "owner", "visibility", "estimator", "primary_metric", "created_at")
    list_filter = ("visibility", "task")
    # The definition is what its versions were trained on: changed by defining a new model.
    readonly_fields = (
        "dataset_version",
        "target",
        "features",
        "estimator",
        "params",
        "test_size",
        "random_state",
    )
    inlines = [ModelVersionInline]
    actions = ["roll_back"]

    # Changing which version serves needs the change permission, not just staff status:
    # a view-only staff user sees the action's results, never the action.
    @admin.action(description="Roll back to the previous champion", permissions=["change"])
    def roll_back(self, request, queryset):
        for model in queryset:
            try:
                version = registry.version_rollback(
                    model.name, reason="rolled back by staff", by=request.user
                )
            except registry.RegistryError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, f"{model.name}: v{version.number} is champion again")


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("model", "number", "status", "status_reason", "sklearn_version", "created_at")
    list_filter = ("model", "status")
    # Status changes go through the actions, which keep one champion per model.
    readonly_fields = (
        "model",
        "number",
        "status",
        "status_reason",
        "artifact_sha256",
        "sklearn_version",
        "library_versions",
        "params",
        "metrics",
        "feature_schema",
        "classes",
        "training_rows",
        "samples_used",
        "diagnostics",
        "training_run_id",
        "created_at",
        "promoted_at",
        "status_changed_by",
    )
    actions = ["promote"]

    @admin.action(description="Promote to champion", permissions=["change"])
    def promote(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to promote.", messages.ERROR)
            return
        version = registry.version_promote(queryset.get(), reason="promoted by staff", by=request.user)
        self.message_user(request, f"{version.model.name} v{version.number} is now champion")
