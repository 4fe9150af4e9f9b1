from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from api.services import profile_ensure
from myproject.defaults import NEEDS_TRAINING
from myproject.env import env_raw
from predictor import history
from predictor.models import MLModel
from predictor.registry import champion_get
from predictor.shipped import SHIPPED, shipped_ensure
from predictor.training import model_train_and_register


class Command(BaseCommand):
    help = (
        "Bring a checkout to a runnable state, doing only what is missing: with "
        "MONGODB_ADMIN_URI, create or update MongoDB's user for the platform (mongo_platform_user); "
        "migrate, collect static files, create the admin user (password from ADMIN_PASSWORD), "
        "upload the shipped datasets and define their models (adopting models registered before "
        "definitions), train every model that has no champion. "
        "One process, so that a second `make up` spends its time starting, not importing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--admin-username", default="admin")
        parser.add_argument(
            "--no-train",
            action="store_true",
            help=f"do not train (it needs MongoDB); exit {NEEDS_TRAINING} if a model has no champion",
        )

    def handle(self, *args, admin_username, no_train, **options):
        if settings.MONGODB_ADMIN_URI:  # compose's setup step: MongoDB runs with authentication
            call_command("mongo_platform_user", stdout=self.stdout)
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        User = get_user_model()
        admin = User.objects.filter(username=admin_username).first()
        if admin is None:
            # From the environment (or ADMIN_PASSWORD_FILE), never an argument: a command line
            # shows in `ps` to every user.
            admin_password = env_raw("ADMIN_PASSWORD")
            if not admin_password:
                raise CommandError(
                    f"set ADMIN_PASSWORD (or ADMIN_PASSWORD_FILE) to create the {admin_username} user"
                )
            admin = User.objects.create_superuser(username=admin_username, email="", password=admin_password)
            profile_ensure(user=admin)
            self.stdout.write(f"created superuser {admin_username}")
        defined = MLModel.objects.filter(name__in=list(SHIPPED), dataset_version__isnull=False).count()
        untrained = [name for name in SHIPPED if champion_get(name) is None]
        if no_train:
            # Datasets live in MongoDB too: without it, only say what is missing.
            if untrained or defined < len(SHIPPED):
                missing = untrained or ["definitions of the shipped models"]
                raise CommandError(f"no champion yet for {', '.join(missing)}", returncode=NEEDS_TRAINING)
            self.stdout.write("every model has a champion; not retraining")
            return
        history.ensure_indexes()  # MongoDB is up here (datasets and training need it too)
        untrained = shipped_ensure(admin)
        if not untrained:
            self.stdout.write("every model has a champion; not retraining")
        for name in untrained:
            version = model_train_and_register(name)
            self.stdout.write(f"{name}: trained v{version.number} ({version.status}) {version.metrics}")
