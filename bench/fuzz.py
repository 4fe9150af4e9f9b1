"""`make fuzz`: a long, random schemathesis run against a running `make up`.

The suite's fuzz test (tests/api/test_schema_fuzz.py) replays the same derandomized
cases in-process on every `make test`; this one searches further: new random cases each
run, more of them, stateful sequences (submit, then read, cancel, give feedback on the
job it made), over HTTP to the real gunicorn. It logs in as the admin `make up` created
(the password is in var/admin-password), so staff endpoints are covered too.

    make up            # in one terminal
    make fuzz          # in another; FUZZ_EXAMPLES=200 for a longer search

Rate limits stay on: the 429s they answer are documented responses, and schemathesis
warns when an operation mostly got them (start `make up` with THROTTLE_SUBMIT=100000/minute
and THROTTLE_AUTH=100000/minute to fuzz deeper behind them).
"""

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from myproject import defaults


def main() -> int:
    base = "http://" + (os.environ.get("WEB_BIND") or defaults.WEB_BIND)
    password_file = Path(os.environ.get("VAR_DIR") or defaults.VAR_DIR) / defaults.ADMIN_PASSWORD_FILE
    if not password_file.exists():
        sys.exit(f"no {password_file}: start the platform with `make up` first")
    body = json.dumps({"username": "admin", "password": password_file.read_text().strip()}).encode()
    request = urllib.request.Request(
        f"{base}/api/v1/auth/token/", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            token = json.load(response)["access"]
    except OSError as exc:
        sys.exit(f"cannot log in at {base} ({exc}): is `make up` running?")
    command = [
        str(Path(sys.executable).with_name("st")),
        "run",
        f"{base}/api/v1/schema/",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "all",
        # A refused request the schema would allow (an unknown model name, a wrong
        # password) is the API being right about something a schema cannot say.
        "--exclude-checks",
        "positive_data_acceptance",
        "--max-examples",
        os.environ.get("FUZZ_EXAMPLES", "50"),
        "--workers",
        "2",
        "--request-timeout",
        "30",
    ]
    return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
