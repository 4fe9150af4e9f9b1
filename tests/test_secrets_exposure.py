"""Secrets never travel on a command line, where `ps` shows them to every user of the host."""

import subprocess
import sys
import time
from pathlib import Path

from tests.processes import ROOT, site_environ


def test_the_admin_password_reaches_setup_through_its_environment_not_its_arguments(tmp_path):
    password = "not-on-the-command-line-7f3a"
    setup = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "setup_platform", "--no-train"],
        env=site_environ(tmp_path, ADMIN_PASSWORD=password),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    # What `ps` shows for it, read while it runs (migrating takes a few seconds); the
    # kernel fills it in once the new program is loaded.
    deadline = time.monotonic() + 30
    while not (command_line := Path(f"/proc/{setup.pid}/cmdline").read_bytes()):
        assert setup.poll() is None, "setup ended before it was seen"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    setup.communicate(timeout=120)

    assert setup.returncode in (0, 3)  # 3: models still need training (--no-train)
    assert b"setup_platform" in command_line
    assert password.encode() not in command_line
    check = subprocess.run(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "shell",
            "-c",
            "import os; from django.contrib.auth import authenticate; "
            "print(authenticate(username='admin', password=os.environ['CHECK']) is not None)",
        ],
        env=site_environ(tmp_path, CHECK=password),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert check.stdout.strip().splitlines()[-1] == "True"


def test_setup_refuses_to_invent_an_admin_without_a_password(tmp_path):
    env = site_environ(tmp_path)
    env.pop("ADMIN_PASSWORD", None)
    setup = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "setup_platform", "--no-train"],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert setup.returncode == 1
    assert "set ADMIN_PASSWORD" in setup.stderr
