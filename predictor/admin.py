from django.contrib import admin

from .models import MLModel, ModelVersion


class ModelVersionInline(admin.TabularInline):
    model = ModelVersion
    fields = ("number", "status", "status_reason", "metrics", "artifact_sha256", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(MLModel)
class MLModelAdmin(admin.ModelAdmin):
    list_display = ("name", "task", "primary_metric", "created_at")
    inlines = [ModelVersionInline]


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("model", "number", "status", "sklearn_version", "created_at")
    list_filter = ("model", "status")
    readonly_fields = ("artifact_sha256", "sklearn_version", "metrics", "feature_schema", "classes")
