from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from api.services import profile_ensure


class Command(BaseCommand):
    help = "Create a superuser with this name and password unless that user exists (used by make up)."

    def add_arguments(self, parser):
        parser.add_argument("--username", required=True)
        parser.add_argument("--password", required=True)

    def handle(self, *args, username, password, **options):
        User = get_user_model()
        if User.objects.filter(username=username).exists():
            return
        user = User.objects.create_superuser(username=username, email="", password=password)
        profile_ensure(user=user)
        self.stdout.write(f"created superuser {username}")
