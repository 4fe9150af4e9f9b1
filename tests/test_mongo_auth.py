"""MongoDB with authentication: the platform's own user, made by predictor/mongo_users.py
with the root's credentials, against a private SecantusDB running with --auth.

The server is set up as compose's mongo image does it: started open, the root user created
in admin, stopped, started again with --auth.
"""

import io
import subprocess
from urllib.parse import quote_plus

import pytest
import yaml
from django.core.management import call_command
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from myproject.servers import free_port, mongo_command, port_open, stop, wait_until
from predictor.mongo_users import MongoUserError, provision_platform_user
from tests.processes import ROOT

# Every URL-reserved character a password might hold: the URIs carry them percent-encoded.
ROOT_PASSWORD = "r00t:/?#[]@!$&'()*+,;=%"
DATABASE = "platform_auth_test"
UNAUTHORIZED = 13  # mongod's code for "not authorized" and "requires authentication"
AUTH_FAILED = 18


def uri(port: int, user: str | None, password: str | None, database: str = "", **options) -> str:
    login = f"{quote_plus(user)}:{quote_plus(password)}@" if user else ""
    query = "&".join(f"{name}={value}" for name, value in {"retryWrites": "false", **options}.items())
    return f"mongodb://{login}127.0.0.1:{port}/{database}?{query}"


def client(address: str) -> MongoClient:
    return MongoClient(address, directConnection=True, serverSelectionTimeoutMS=5000)


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    port, storage = free_port(), str(tmp_path_factory.mktemp("mongo-auth"))

    def start(*extra):
        proc = subprocess.Popen(
            [*mongo_command(port, storage), "--standalone", *extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: port_open(port), timeout=30, what="SecantusDB")
        return proc

    proc = start()
    try:
        with client(uri(port, None, None)) as open_server:
            open_server.admin.command(
                "createUser", "root", pwd=ROOT_PASSWORD, roles=[{"role": "root", "db": "admin"}]
            )
    finally:
        stop(proc)
    proc = start("--auth")
    yield port
    stop(proc)


def platform_uri(port: int, password: str, database: str = DATABASE) -> str:
    # Each test its own database, and so its own user platform@database: any order works.
    return uri(port, "platform", password, database, authSource=database)


def admin_uri(port: int) -> str:
    return uri(port, "root", ROOT_PASSWORD, authSource="admin")


def refused(action) -> int:
    with pytest.raises(OperationFailure) as failure:
        action()
    return failure.value.code


def test_the_platform_user_is_made_with_the_root_and_then_works_without_it(auth_server):
    port = auth_server
    first, second = "first:/?#@%pass", "second/@:&=pass"
    with client(uri(port, None, None)) as anonymous:
        assert anonymous.admin.command("ping")["ok"] == 1  # the healthcheck's command
        assert refused(lambda: anonymous[DATABASE].jobs.find_one()) == UNAUTHORIZED
    with client(platform_uri(port, first)) as platform:
        assert refused(lambda: platform[DATABASE].jobs.find_one()) == AUTH_FAILED  # no user yet

    assert provision_platform_user(admin_uri(port), platform_uri(port, first)) == "created"
    assert provision_platform_user(admin_uri(port), platform_uri(port, first)) == "updated"

    # From here on only the platform's URI: the root's password is not needed.
    with client(platform_uri(port, first)) as platform:
        platform[DATABASE].jobs.insert_one({"_id": "job-1", "status": "queued"})
        assert platform[DATABASE].jobs.find_one({"_id": "job-1"})["status"] == "queued"
        platform[DATABASE].jobs.create_index("status")
        assert refused(lambda: platform["other_db"].things.find_one()) == UNAUTHORIZED
        assert refused(lambda: platform["other_db"].things.insert_one({})) == UNAUTHORIZED
        assert refused(lambda: platform.admin.command("usersInfo", 1)) == UNAUTHORIZED
        assert (
            refused(lambda: platform[DATABASE].command("createUser", "x", pwd="y", roles=["root"]))
            == UNAUTHORIZED
        )
        assert (
            refused(lambda: platform[DATABASE].command("grantRolesToUser", "platform", roles=["dbOwner"]))
            == UNAUTHORIZED
        )

    # A new password in the URI is applied: the old one stops working, the data stays.
    assert provision_platform_user(admin_uri(port), platform_uri(port, second)) == "updated"
    with client(platform_uri(port, first)) as old:
        assert refused(lambda: old[DATABASE].jobs.find_one()) == AUTH_FAILED
    with client(platform_uri(port, second)) as platform:
        assert platform[DATABASE].jobs.find_one({"_id": "job-1"})["status"] == "queued"
    with client(admin_uri(port)) as admin:
        (user,) = admin[DATABASE].command("usersInfo", "platform")["users"]
        assert user["roles"] == [{"role": "readWrite", "db": DATABASE}]


def test_a_role_granted_by_hand_is_taken_back_and_a_wrong_root_password_fails(auth_server):
    port, database = auth_server, "platform_auth_roles"
    password = "granted-pass"
    provision_platform_user(admin_uri(port), platform_uri(port, password, database))
    with client(admin_uri(port)) as admin:
        admin[database].command("grantRolesToUser", "platform", roles=[{"role": "root", "db": "admin"}])
    assert provision_platform_user(admin_uri(port), platform_uri(port, password, database)) == "updated"
    with client(platform_uri(port, password, database)) as platform:
        assert refused(lambda: platform["other_db"].things.find_one()) == UNAUTHORIZED

    wrong = uri(port, "root", "not-the-password", authSource="admin")
    assert (
        refused(lambda: provision_platform_user(wrong, platform_uri(port, "x", database), timeout_ms=5000))
        == AUTH_FAILED
    )


def test_the_platform_uri_must_name_a_user_and_its_own_database():
    with pytest.raises(MongoUserError, match="no user"):
        provision_platform_user("mongodb://unused", "mongodb://127.0.0.1:1/predictions")
    with pytest.raises(MongoUserError, match="own database"):
        provision_platform_user("mongodb://unused", "mongodb://platform:pw@127.0.0.1:1/admin")


def test_the_command_provisions_with_an_admin_uri_and_does_nothing_without(auth_server, settings):
    port, database = auth_server, "platform_auth_command"
    out = io.StringIO()
    settings.MONGODB_ADMIN_URI = ""  # make up and the suite: MongoDB without authentication
    call_command("mongo_platform_user", stdout=out)
    assert "not set" in out.getvalue()

    settings.MONGODB_ADMIN_URI = admin_uri(port)
    settings.MONGODB_URI = platform_uri(port, "command-pass", database)
    call_command("mongo_platform_user", stdout=out)
    assert f"platform@{database} created" in out.getvalue()
    assert "command-pass" not in out.getvalue()
    assert quote_plus(ROOT_PASSWORD) not in out.getvalue()
    with client(platform_uri(port, "command-pass", database)) as platform:
        platform[database].jobs.find_one()


def test_compose_gives_the_root_password_to_mongo_and_setup_only():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    mongo = compose["mongo"]["environment"]
    assert mongo["MONGO_INITDB_ROOT_USERNAME"] == "root"
    assert "${MONGO_ROOT_PASSWORD" in mongo["MONGO_INITDB_ROOT_PASSWORD"]
    assert "${MONGO_ROOT_PASSWORD" in compose["setup"]["environment"]["MONGODB_ADMIN_URI"]
    # setup_platform runs mongo_platform_user first when MONGODB_ADMIN_URI is set.
    assert compose["setup"]["command"] == ["python", "manage.py", "setup_platform"]
    for name, service in compose.items():
        if name in ("mongo", "setup"):
            continue
        env = service.get("environment") or {}
        assert "MONGODB_ADMIN_URI" not in env, name
        assert not any("MONGO_ROOT_PASSWORD" in str(value) for value in env.values()), name
        if "MONGODB_URI" in env:
            assert env["MONGODB_URI"].startswith("mongodb://platform:${MONGO_PASSWORD"), name


def test_a_refused_login_is_history_unavailable_not_a_crash(auth_server):
    # The API turns HistoryUnavailable into a 503: a wrong MONGO_PASSWORD is an outage of
    # the history to a client, not a 500.
    from predictor.history import HistoryUnavailable, guard

    @guard
    def read(address):
        with client(address) as mongo:
            return mongo[DATABASE].jobs.find_one()

    with pytest.raises(HistoryUnavailable, match="refused the platform's user"):
        read(uri(auth_server, "platform", "not-the-password", DATABASE, authSource=DATABASE))
    with pytest.raises(HistoryUnavailable, match="refused the platform's user"):
        read(uri(auth_server, None, None, DATABASE))  # no login at all: unauthorized
