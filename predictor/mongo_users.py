"""The platform's own MongoDB user, made with an administrator's credentials.

With authentication on, the apps connect as the user their MONGODB_URI names, with the role
readWrite on that URI's database and nothing else: a leaked app secret then reaches the
platform's data, not the server (other databases, users, shutdown). The administrator's
credentials (MONGODB_ADMIN_URI) reach the one-shot setup step only.

The platform URI is the one source of the user's name, password, database and authSource,
so the user made here is exactly the one the apps log in as; running it again brings the
password and the role back to what the URI says (a changed password is applied).
"""

from pymongo import MongoClient
from pymongo.errors import OperationFailure
from pymongo.uri_parser import parse_uri

# mongod's code (and SecantusDB's) for createUser of a name that exists: another setup
# run created it between our look and our create.
USER_EXISTS = 51003


class MongoUserError(Exception):
    """The platform URI cannot name a user to provision."""


def platform_user(platform_uri: str) -> tuple[str, str, str, str]:
    """(user, password, database, authSource) of the URI the apps connect with."""
    parsed = parse_uri(platform_uri)
    user, password, database = parsed["username"], parsed["password"], parsed["database"]
    if not user or not password:
        raise MongoUserError("MONGODB_URI names no user and password for the platform to connect as")
    if not database or database in ("admin", "local", "config"):
        # readWrite binds to this database: on admin it would reach the users themselves.
        raise MongoUserError(f"MONGODB_URI must name the platform's own database, not {database!r}")
    options = {name.lower(): value for name, value in parsed["options"].items()}
    # pymongo's own default: the URI's database.
    return user, password, database, options.get("authsource") or database


def provision_platform_user(admin_uri: str, platform_uri: str, *, timeout_ms: int = 30_000) -> str:
    """Create the user platform_uri names, or bring it to that URI's password, with the single
    role readWrite on the URI's database. Returns "created" or "updated"."""
    user, password, database, auth_db = platform_user(platform_uri)
    roles = [{"role": "readWrite", "db": database}]
    with MongoClient(admin_uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms) as admin:
        where = admin[auth_db]
        if not where.command("usersInfo", user)["users"]:
            try:
                where.command("createUser", user, pwd=password, roles=roles)
                return "created"
            except OperationFailure as exc:
                if exc.code != USER_EXISTS:
                    raise
        # The roles are set too: any role granted by hand since is taken back.
        where.command("updateUser", user, pwd=password, roles=roles)
        return "updated"
