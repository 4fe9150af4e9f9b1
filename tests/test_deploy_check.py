"""`manage.py check --deploy` is clean with the settings compose.yaml gives the web."""

import os
import re
import secrets
import subprocess
import sys

import yaml

from tests.processes import ROOT

# ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME}
SUBSTITUTION = re.compile(r"\$\{(\w+)(?:(:?-)([^}]*)|:?\?[^}]*)?\}")


def compose_value(value: str, required: dict) -> str:
    """What docker compose would pass, with only the required variables set."""

    def substitute(match):
        name, default = match.group(1), match.group(3)
        return required.get(name, default or "")

    return SUBSTITUTION.sub(substitute, str(value))


def test_the_web_service_settings_pass_djangos_deployment_checks(tmp_path):
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    required = {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "POSTGRES_PASSWORD": secrets.token_urlsafe(16),
        "REDIS_PASSWORD": secrets.token_urlsafe(16),
        "FLOWER_BASIC_AUTH": f"flower:{secrets.token_urlsafe(16)}",
        "ADMIN_PASSWORD": secrets.token_urlsafe(16),
        "MONGO_ROOT_PASSWORD": secrets.token_urlsafe(16),
        "MONGO_PASSWORD": secrets.token_urlsafe(16),
    }
    web = compose["services"]["web"]["environment"]
    env = {name: compose_value(value, required) for name, value in web.items()}
    keep = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env={**keep, **env, "VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "myproject.settings"},
        capture_output=True,
        text=True,
        cwd=ROOT,
    )

    assert env["DJANGO_HTTPS"] == "true"
    assert env["NUM_PROXIES"] == "1"
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
