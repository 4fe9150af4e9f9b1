"""Who may do what beyond being signed in (the model-level rules, owner or staff, are in
api/selectors.py: model_changeable_or_404)."""

from rest_framework.permissions import BasePermission

BUILD_MODELS = "predictor.build_models"


def can_build_models(user) -> bool:
    """Upload datasets and create models: staff, and users staff put in a group with the
    permission ("model builders", predictor/migrations/0008_model_builders_group.py)."""
    return bool(user and user.is_authenticated and (user.is_staff or user.has_perm(BUILD_MODELS)))


class CanBuildModels(BasePermission):
    message = "Creating datasets and models needs the model builder permission; ask staff to grant it."

    def has_permission(self, request, view):
        return can_build_models(request.user)
