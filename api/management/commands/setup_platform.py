from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from api.services import profile_ensure
from predictor.registry import champion_get
from predictor.specs import SPECS
from predictor.train_model import train_and_register


class Command(BaseCommand):
    help = (
        "Bring a checkout to a runnable state, doing only what is missing: migrate, collect "
        "static files, create the admin user, train every model that has no champion. "
        "One process, so that a second `make up` spends its time starting, not importing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--admin-username", default="admin")
        parser.add_argument("--admin-password", required=True)

    def handle(self, *args, admin_username, admin_password, **options):
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        User = get_user_model()
        if not User.objects.filter(username=admin_username).exists():
            user = User.objects.create_superuser(username=admin_username, email="", password=admin_password)
            profile_ensure(user=user)
            self.stdout.write(f"created superuser {admin_username}")
        for name in SPECS:
            if champion_get(name) is not None:
                self.stdout.write(f"{name}: a champion is registered; not retraining")
                continue
            version = train_and_register(name)
            self.stdout.write(f"{name}: trained v{version.number} ({version.status}) {version.metrics}")
