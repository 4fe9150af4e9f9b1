"""The "model builders" group: staff put a user in it to let them upload datasets and
create models (the predictor.build_models permission)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "model builders"


def create_group(apps, schema_editor):
    # Permissions are normally made after every migration has run; this one needs its own now.
    for config in apps.get_app_configs():
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP)
    group.permissions.add(Permission.objects.get(codename="build_models", content_type__app_label="predictor"))


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("predictor", "0007_datasets_and_definitions"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_group, remove_group)]
