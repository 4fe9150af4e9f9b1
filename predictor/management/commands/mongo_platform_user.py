from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from pymongo.errors import PyMongoError

from predictor.mongo_users import MongoUserError, platform_user, provision_platform_user


class Command(BaseCommand):
    help = (
        "Create or update the MongoDB user MONGODB_URI names (readWrite on its database only), "
        "connecting with the administrator's MONGODB_ADMIN_URI (or MONGODB_ADMIN_URI_FILE). "
        "Without MONGODB_ADMIN_URI it does nothing: a MongoDB without authentication "
        "(make up, the tests) has no users to make. setup_platform runs it first."
    )

    def handle(self, *args, **options):
        if not settings.MONGODB_ADMIN_URI:
            self.stdout.write("MONGODB_ADMIN_URI is not set: no MongoDB user to provision")
            return
        try:
            user, _, database, auth_db = platform_user(settings.MONGODB_URI)
            done = provision_platform_user(settings.MONGODB_ADMIN_URI, settings.MONGODB_URI)
        except (MongoUserError, PyMongoError) as exc:
            # The error names neither URI: both hold passwords.
            raise CommandError(f"MongoDB user for the platform: {exc}") from None
        self.stdout.write(f"MongoDB user {user}@{auth_db} {done}: readWrite on {database} only")
