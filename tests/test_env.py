"""myproject/env.py: settings from the environment, or from files named by NAME_FILE."""

import re
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from myproject.env import env_int, env_raw, env_str
from tests.processes import ROOT


def test_a_value_can_come_from_a_file_without_its_final_newline(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret value\n")
    monkeypatch.delenv("SOME_SECRET", raising=False)
    monkeypatch.setenv("SOME_SECRET_FILE", str(secret))
    assert env_str("SOME_SECRET", "default") == "s3cret value"
    secret.write_text("42")
    assert env_int("SOME_SECRET", 0) == 42


def test_both_a_value_and_a_file_is_refused_and_so_is_an_unreadable_file(monkeypatch, tmp_path):
    monkeypatch.setenv("SOME_SECRET", "given")
    monkeypatch.setenv("SOME_SECRET_FILE", str(tmp_path / "secret"))
    with pytest.raises(ImproperlyConfigured, match="not both"):
        env_raw("SOME_SECRET")
    monkeypatch.delenv("SOME_SECRET")
    with pytest.raises(ImproperlyConfigured, match="cannot read"):
        env_raw("SOME_SECRET")


def test_the_secret_key_can_come_from_a_file(tmp_path):
    key = tmp_path / "key"
    key.write_text("k" * 60 + "\n")
    code = "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "myproject.settings", "VAR_DIR": str(tmp_path)}
    answer = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "DJANGO_SECRET_KEY_FILE": str(key)},
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip() == "k" * 60


def test_every_setting_read_from_the_environment_is_in_env_example():
    # myproject/settings.py promises .env.example lists every variable the platform reads.
    read = set()
    for source in (ROOT / "myproject").glob("*.py"):
        read |= set(
            re.findall(r"\benv_(?:raw|str|bool|int|list)\(\s*\"([A-Z][A-Z0-9_]*)\"", source.read_text())
        )
    listed = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert len(read) > 40  # the pattern still finds the settings
    assert sorted(read - listed) == []
