"""Flower behind the site's staff login: a real Flower process, started the way `make up`
starts it (`python -m myproject.flower`), on a unix socket only its owner may reach."""

import base64
import errno
import http.server
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

import flower as flower_package
import pytest

from api.views.flower import UnixHTTPConnection
from myproject.flower import flower_address, flower_command, private_socket_directory
from myproject.servers import free_port, stop, wait_until
from tests.clients import client_for
from tests.processes import log_tail, spawn

FLOWER_AUTH = "flower:test-Flower-secret-7"
BASIC = "Basic " + base64.b64encode(FLOWER_AUTH.encode()).decode()
# What the web's environment holds and Flower's must not.
WEB_SECRETS = {
    "DJANGO_SECRET_KEY": "web-secret-key-flower-must-not-see",
    "DATABASE_URL": "postgres://platform:db-Password-1@127.0.0.1:5432/platform",
}
NOBODY = 65534


def _flower_get(socket_path: str, path: str, auth: str | None = BASIC) -> tuple[int, bytes]:
    connection = UnixHTTPConnection(socket_path, timeout=5)
    try:
        connection.request("GET", path, headers={"Authorization": auth} if auth else {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _answers(socket_path: str) -> bool:
    try:
        return _flower_get(socket_path, "/flower/healthcheck")[0] == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def flower(redis_server):
    """(process, socket path): Flower as the Procfile runs it, launched from the web's environment."""
    # 0711 like a home directory: others may pass through, so only the launcher's own
    # directory stands between them and the socket.
    base = Path(tempfile.mkdtemp(prefix="flower-"))
    base.chmod(0o711)
    socket_path = str(base / "flower" / "flower.sock")
    env = {
        **os.environ,
        **WEB_SECRETS,
        "FLOWER_URL": f"unix://{socket_path}",
        "FLOWER_BASIC_AUTH": FLOWER_AUTH,
    }
    proc = spawn("flower", [sys.executable, "-m", "myproject.flower"], env)
    try:
        wait_until(lambda: proc.poll() is not None or _answers(socket_path), timeout=60, what="Flower")
        assert proc.poll() is None, log_tail("flower")
        yield proc, socket_path
    finally:
        stop(proc)
        shutil.rmtree(base)


@pytest.fixture
def flower_site(settings, flower):
    _, socket_path = flower
    settings.FLOWER_URL = f"unix://{socket_path}"
    settings.FLOWER_BASIC_AUTH = FLOWER_AUTH
    return socket_path


@pytest.fixture
def staff(make_user):
    return make_user("ops-lead", is_staff=True)


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


# --- Who gets in ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/flower/"),
        ("get", "/flower/metrics"),
        ("get", "/flower/healthcheck"),
        ("get", "/flower/api/workers"),
        ("post", "/flower/api/worker/shutdown/predict@host"),
    ],
)
def test_anonymous_visitors_are_sent_to_the_login_page_for_every_flower_path(
    client, flower_site, method, path
):
    response = getattr(client, method)(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={quote(path)}"
    assert b"# HELP" not in _body(response)


@pytest.mark.parametrize("path", ["/flower/", "/flower/metrics"])
def test_signed_in_people_who_are_not_staff_are_refused(client, flower_site, user, path):
    client.force_login(user)
    response = client.get(path)
    assert response.status_code == 403
    assert b"# HELP" not in _body(response)
    assert b"Workers \xc2\xb7 Flower" not in _body(response)


def test_a_bearer_token_is_no_session_and_opens_nothing(flower_site, staff):
    response = client_for(staff).get("/flower/metrics")
    assert response.status_code == 302
    assert b"# HELP" not in _body(response)


def test_a_deactivated_staff_members_session_no_longer_opens_flower(client, flower_site, staff):
    client.force_login(staff)
    staff.is_active = False
    staff.save()
    assert client.get("/flower/").status_code == 302


def test_staff_see_flowers_pages_through_the_site(client, flower_site, staff):
    client.force_login(staff)
    response = client.get("/flower/")
    body = _body(response).decode()
    assert response.status_code == 200
    assert "<title>Workers · Flower</title>" in body
    assert 'value="flower" id="url_prefix"' in body  # its scripts call /flower/api/...
    assert "/flower/static/js/flower.js" in body
    # Flower's own cookie would land on the whole site; its pages never need it here.
    assert "Set-Cookie" not in response
    assert "private" in response["Cache-Control"]


def test_staff_read_flowers_metrics(client, flower_site, staff):
    client.force_login(staff)
    response = client.get("/flower/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert b"# HELP flower_" in _body(response)


def test_flowers_files_stream_through_unchanged(client, flower_site, staff):
    client.force_login(staff)
    response = client.get("/flower/static/js/jquery-3.6.4.min.js")
    shipped = (Path(flower_package.__file__).parent / "static" / "js" / "jquery-3.6.4.min.js").read_bytes()
    assert response.status_code == 200
    assert response.streaming
    assert len(shipped) > 64 * 1024  # more than one chunk
    assert _body(response) == shipped


def test_flower_lists_tasks_by_name_from_the_workers_events_without_django(
    client, flower_site, staff, live_worker
):
    from myproject import celery_app

    client.force_login(staff)
    name = "workers.tasks.requeue_stale_jobs_task"
    deadline = time.monotonic() + 60
    sent, seen, next_send = set(), {}, 0.0
    while time.monotonic() < deadline:
        # Flower hears only the events sent after it subscribed: send again until it has one.
        if time.monotonic() >= next_send:
            sent.add(celery_app.send_task(name).id)
            next_send = time.monotonic() + 5
        seen = json.loads(_body(client.get("/flower/api/tasks")))
        if any(task_id in seen and seen[task_id]["state"] == "SUCCESS" for task_id in sent):
            break
        time.sleep(0.5)
    done = [seen[task_id] for task_id in sent if task_id in seen and seen[task_id]["state"] == "SUCCESS"]
    assert done, seen
    assert done[0]["name"] == name
    assert done[0]["worker"].startswith("predict-")


def test_cross_site_requests_that_change_state_are_refused_before_reaching_flower(client, flower_site, staff):
    client.force_login(staff)
    shutdown = "/flower/api/worker/shutdown/predict@host"
    assert client.post(shutdown, HTTP_ORIGIN="https://evil.example").status_code == 403
    assert client.post(shutdown, HTTP_SEC_FETCH_SITE="cross-site").status_code == 403
    assert client.post(shutdown).status_code == 403  # no Origin, no fetch metadata: unknown
    # From the site's own page it reaches Flower, which knows no such worker.
    response = client.post(shutdown, HTTP_ORIGIN="http://testserver")
    assert response.status_code == 404
    assert b"Unknown worker" in _body(response)


def test_flower_refusing_the_sites_credentials_is_a_bad_gateway_not_a_password_prompt(
    client, flower_site, staff, settings
):
    settings.FLOWER_BASIC_AUTH = "flower:not-its-password"
    client.force_login(staff)
    response = client.get("/flower/")
    assert response.status_code == 502
    assert "WWW-Authenticate" not in response


def test_a_flower_that_is_down_is_a_bad_gateway(client, staff, settings, tmp_path):
    settings.FLOWER_URL = f"unix://{tmp_path / 'no-such.sock'}"
    client.force_login(staff)
    assert client.get("/flower/").status_code == 502


def test_without_flower_url_there_is_no_flower_page_and_no_link(client, staff, settings):
    settings.FLOWER_URL = ""
    client.force_login(staff)
    assert client.get("/flower/").status_code == 404
    assert 'href="/flower/"' not in client.get("/").content.decode()


def test_only_staff_see_the_flower_link(client, flower_site, staff, user):
    client.force_login(user)
    assert 'href="/flower/"' not in client.get("/").content.decode()
    client.force_login(staff)
    assert 'href="/flower/"' in client.get("/").content.decode()


# --- What passes the proxy -----------------------------------------------------------


@pytest.fixture
def recording_upstream(settings):
    """A stand-in Flower on TCP that records each request and answers with awkward headers."""
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen.append({"method": self.command, "path": self.path, "headers": self.headers, "body": body})
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Connection", "close, X-Per-Hop")
            self.send_header("X-Per-Hop", "for this connection only")
            self.send_header("Keep-Alive", "timeout=5")
            self.send_header("Set-Cookie", "_xsrf=abc; Path=/")
            self.send_header("X-Flower", "kept")
            self.end_headers()
            # No Content-Length: the answer ends when the connection closes.
            for part in (b'{"chunks": [', b'"one", ', b'"two"]}'):
                self.wfile.write(part)
                self.wfile.flush()

        def log_message(self, *args):
            pass

    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.FLOWER_URL = f"http://127.0.0.1:{port}"
    settings.FLOWER_BASIC_AUTH = FLOWER_AUTH
    yield seen
    server.shutdown()
    server.server_close()


def test_the_proxy_forwards_the_request_with_flowers_credentials_and_none_of_the_sites(
    client, staff, recording_upstream
):
    client.force_login(staff)
    response = client.post(
        "/flower/api/task/async-apply/workers.tasks.predict_task?queue=predict&x=%2F",
        data=b'{"args": ["job-1"]}',
        content_type="application/json",
        HTTP_ORIGIN="http://testserver",
        HTTP_X_XSRFTOKEN="token-from-flowers-cookie",
        HTTP_AUTHORIZATION="Bearer someone-elses-token",
        HTTP_X_FORWARDED_HOST="evil.example",
    )
    assert response.status_code == 201
    assert _body(response) == b'{"chunks": ["one", "two"]}'
    (request,) = recording_upstream
    assert request["method"] == "POST"
    assert request["path"] == "/flower/api/task/async-apply/workers.tasks.predict_task?queue=predict&x=%2F"
    assert request["body"] == b'{"args": ["job-1"]}'
    headers = request["headers"]
    assert headers["Authorization"] == BASIC
    assert headers["Host"] == "testserver"
    assert headers["Origin"] == "http://testserver"
    assert headers["X-XSRFToken"] == "token-from-flowers-cookie"
    assert headers["Content-Type"] == "application/json"
    assert "Cookie" not in headers  # the site's session stays with the site
    assert "X-Forwarded-Host" not in headers
    assert response["Content-Type"] == "application/json"
    assert response["X-Flower"] == "kept"
    for name in ("Set-Cookie", "X-Per-Hop", "Keep-Alive", "Connection"):
        assert name not in response


# --- Who can reach Flower's socket ---------------------------------------------------


def _connect_as(uid: int, socket_path: str) -> int:
    """errno of connecting to the socket as another user; 0 when it connected."""
    pid = os.fork()
    if pid == 0:
        code = 255
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.connect(socket_path)
            code = 0
        except OSError as error:
            code = error.errno or 255
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_flowers_socket_sits_in_a_directory_only_its_owner_may_enter(flower):
    _, socket_path = flower
    directory = Path(socket_path).parent.stat()
    assert directory.st_uid == os.getuid()
    assert directory.st_mode & 0o777 == 0o700
    assert Path(socket_path).stat().st_uid == os.getuid()


@pytest.mark.skipif(os.getuid() != 0, reason="acting as another user needs root")
def test_another_user_cannot_connect_to_flowers_socket(flower):
    _, socket_path = flower
    directory = Path(socket_path).parent
    assert _connect_as(NOBODY, socket_path) == errno.EACCES
    # The directory is the lock (Flower makes its socket 0777): opened, the attack works.
    directory.chmod(0o711)
    try:
        assert _connect_as(NOBODY, socket_path) == 0
    finally:
        directory.chmod(0o700)
    assert _connect_as(NOBODY, socket_path) == errno.EACCES


def test_flowers_process_holds_none_of_the_webs_secrets(flower):
    proc, _ = flower
    # The launcher exec'd Flower in place: the pid honcho (here, the fixture) started is Flower.
    cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
    assert cmdline[1:4] == [b"-m", b"celery", b"flower"]
    assert b"-A" not in cmdline
    assert b"myproject" not in b" ".join(cmdline)
    assert not any(b"redis://" in part for part in cmdline)  # anyone may read a command line
    environ = dict(
        entry.split(b"=", 1) for entry in Path(f"/proc/{proc.pid}/environ").read_bytes().split(b"\0") if entry
    )
    names = {name.decode() for name in environ}
    assert names.isdisjoint({"DJANGO_SECRET_KEY", "DATABASE_URL", "MONGODB_URI", "DJANGO_SETTINGS_MODULE"})
    assert names <= {"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONUNBUFFERED"} | {
        "CELERY_BROKER_URL",
        "FLOWER_BASIC_AUTH",
    }
    assert not any(secret.encode() in b"".join(environ.values()) for secret in WEB_SECRETS.values())


def test_flower_asks_direct_callers_for_its_password_except_on_metrics(flower):
    """Why it must stay out of reach: its own lock skips /metrics (the audit's finding)."""
    _, socket_path = flower
    assert _flower_get(socket_path, "/flower/", auth=None)[0] == 401
    status, body = _flower_get(socket_path, "/flower/metrics", auth=None)
    assert status == 200
    assert b"# HELP flower_" in body


# --- The launcher's rules ------------------------------------------------------------


def test_the_launcher_creates_a_private_socket_directory_and_refuses_a_shared_one(tmp_path):
    private_socket_directory(tmp_path / "new" / "flower")
    assert (tmp_path / "new" / "flower").stat().st_mode & 0o777 == 0o700
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    with pytest.raises(ValueError, match="chmod 700"):
        private_socket_directory(shared)
    assert shared.stat().st_mode & 0o777 == 0o755  # reported, never changed


@pytest.mark.parametrize(
    "url", ["http://0.0.0.0:5555", "http://192.168.1.10:5555", "https://127.0.0.1:5555", "http://flower:5555"]
)
def test_the_launcher_listens_on_nothing_but_a_socket_or_loopback(url):
    with pytest.raises(ValueError, match="loopback"):
        flower_command(flower_address(url))
    assert "--address=127.0.0.1" in flower_command(flower_address("http://127.0.0.1:5555"))


@pytest.mark.parametrize(
    "url",
    [
        "unix://relative/flower.sock",
        "unix:///" + "x" * 120,
        "ftp://127.0.0.1:21",
        "http://127.0.0.1:5555/flower",
        "http://127.0.0.1:port",
    ],
)
def test_a_malformed_flower_url_is_refused_with_the_reason(url):
    with pytest.raises(ValueError, match="FLOWER_URL"):
        flower_address(url)
