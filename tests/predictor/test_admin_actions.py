"""The admin's promote and rollback actions change which version serves: only staff with
the change permission may run them; view-only staff are refused."""

from django.contrib.auth.models import Permission
from django.test import Client

from predictor.models import ModelVersion


def staff_client(make_user, *codenames) -> Client:
    user = make_user(is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


VIEW_ONLY = ("view_modelversion", "view_mlmodel")
CHANGE = ("view_modelversion", "change_modelversion", "view_mlmodel", "change_mlmodel")


def promote(client, version):
    return client.post(
        "/admin/predictor/modelversion/", {"action": "promote", "_selected_action": [version.pk]}, follow=True
    )


def test_a_view_only_staff_user_cannot_promote_a_version(make_user, two_versions):
    champion, candidate = two_versions
    client = staff_client(make_user, *VIEW_ONLY)
    assert client.get("/admin/predictor/modelversion/").status_code == 200  # they may look

    promote(client, candidate)

    assert ModelVersion.objects.get(pk=champion.pk).status == "champion"
    assert ModelVersion.objects.get(pk=candidate.pk).status == "candidate"


def test_a_view_only_staff_user_cannot_roll_back(make_user, two_versions):
    champion, candidate = two_versions
    promote(staff_client(make_user, *CHANGE), candidate)
    assert ModelVersion.objects.get(pk=candidate.pk).status == "champion"
    client = staff_client(make_user, *VIEW_ONLY)

    client.post(
        "/admin/predictor/mlmodel/",
        {"action": "roll_back", "_selected_action": [champion.model_id]},
        follow=True,
    )

    assert ModelVersion.objects.get(pk=candidate.pk).status == "champion"


def test_staff_with_the_change_permission_can_promote_and_roll_back(make_user, two_versions):
    champion, candidate = two_versions
    client = staff_client(make_user, *CHANGE)

    promote(client, candidate)
    assert ModelVersion.objects.get(pk=candidate.pk).status == "champion"

    client.post(
        "/admin/predictor/mlmodel/",
        {"action": "roll_back", "_selected_action": [champion.model_id]},
        follow=True,
    )
    assert ModelVersion.objects.get(pk=champion.pk).status == "champion"
