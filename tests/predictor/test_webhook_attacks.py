"""Attacks on webhook delivery, each carried out and shown refused: DNS rebinding to a local
port, addresses that smuggle an internal IPv4 inside IPv6, and receivers that never finish
answering (which once held a delivery thread forever)."""

import ipaddress
import itertools
import shutil
import socket
import ssl
import subprocess
import threading
import time
from contextlib import contextmanager

import pytest

from myproject.servers import wait_until
from predictor import webhook_http, webhooks
from tests.live import webhook_receiver


def fake_dns(monkeypatch, answers: dict) -> list[str]:
    """Answer the names in `answers` (a list of addresses, or a function of the how-manieth
    lookup of that name it is); other names resolve for real. Returns the lookups made."""
    real, lookups = socket.getaddrinfo, []

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        addresses = answers[host]
        addresses = addresses(lookups.count(host)) if callable(addresses) else addresses
        infos = []
        for address in addresses:
            v6 = ipaddress.ip_address(address).version == 6
            family, sockaddr = (
                (socket.AF_INET6, (address, port, 0, 0)) if v6 else (socket.AF_INET, (address, port))
            )
            infos.append((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
        return infos

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


@contextmanager
def tcp_server(handle):
    """A raw TCP server running `handle(conn, stop)` per connection; all stop on exit."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop, state = threading.Event(), {"accepted": 0, "sent": 0}

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            state["accepted"] += 1
            threading.Thread(target=handle, args=(conn, stop, state), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], state
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def trickle(conn, stop, state):
    # A status line, then header lines without end, one byte every half second.
    for byte in itertools.chain(b"HTTP/1.1 200 OK\r\n", itertools.cycle(b"X-Slow: yes\r\n")):
        if stop.wait(0.5):
            break
        try:
            conn.send(bytes([byte]))
        except OSError:
            break
        state["sent"] += 1
    conn.close()


def silent(conn, stop, state):
    stop.wait(30)
    conn.close()


def deliver(job, *, allow_private: bool, timeout_s: float = 2):
    return webhooks.deliver(job.id, "completed", attempt=1, allow_private=allow_private, timeout_s=timeout_s)


def test_dns_rebinding_never_reaches_a_local_port(history, stored_job, receiver, monkeypatch):
    port = receiver.server_port
    # Public for the check, loopback for any later lookup (the one urllib used to make).
    lookups = fake_dns(monkeypatch, {"rebind.test": lambda n: ["8.8.8.8"] if n == 1 else ["127.0.0.1"]})
    connects, real_connect = [], socket.socket.connect

    def connect(sock, address):
        if address[1] == port:
            connects.append(address[0])
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    job = stored_job(webhook=f"http://rebind.test:{port}/hook", webhook_events_filter=["completed"])

    with pytest.raises(webhooks.DeliveryFailed):
        deliver(job, allow_private=False)

    assert lookups == ["rebind.test"]
    assert connects == ["8.8.8.8"]  # the checked address, never the rebound one
    assert receiver.connections == 0
    assert receiver.calls == []
    [attempt] = history.deliveries_for(job.id)
    assert attempt.error or not 200 <= attempt.status_code < 300


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254, the cloud metadata service
        "64:ff9b::808:808",  # NAT64 of a public address: the translator is still inside
        "64:ff9b:1::7f00:1",  # local-use NAT64
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:10.0.0.1",
        "::7f00:1",  # IPv4-compatible
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
        "fe80::1",
        "fc00::1",
        "224.0.0.1",
    ],
)
def test_ipv6_addresses_embedding_internal_ipv4_are_refused(monkeypatch, address):
    fake_dns(monkeypatch, {"sneaky.test": [address]})
    with pytest.raises(webhooks.InvalidWebhook, match="not allowed"):
        webhooks.url_check("https://sneaky.test/hook", allow_private=False)


def test_one_internal_address_among_public_ones_is_refused(monkeypatch):
    fake_dns(monkeypatch, {"mixed.test": ["8.8.8.8", "2606:4700::1111", "::ffff:127.0.0.1"]})
    with pytest.raises(webhooks.InvalidWebhook):
        webhooks.url_check("https://mixed.test/hook", allow_private=False)


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "2002:808:808::1"])
def test_public_addresses_are_still_accepted(monkeypatch, address):
    fake_dns(monkeypatch, {"hooks.example.test": [address]})
    url = "https://hooks.example.test/hook"
    assert webhooks.url_check(url, allow_private=False) == url


def test_the_pinned_connection_keeps_host_and_signature(history, stored_job, receiver, monkeypatch):
    lookups = fake_dns(monkeypatch, {"hooks.example.test": ["127.0.0.1"]})
    port = receiver.server_port
    job = stored_job(webhook=f"http://hooks.example.test:{port}/hook?a=1")

    assert deliver(job, allow_private=True) == 200

    assert lookups == ["hooks.example.test"]
    [(headers, body)] = receiver.calls
    headers = {name.lower(): value for name, value in headers.items()}
    assert headers["host"] == f"hooks.example.test:{port}"
    expected = webhooks.sign(
        webhooks.secret_for(job.owner_id),
        message_id=headers["webhook-id"],
        timestamp=int(headers["webhook-timestamp"]),
        body=body,
    )
    assert headers["webhook-signature"] == expected
    assert [d.status_code for d in history.deliveries_for(job.id)] == [200]


@pytest.fixture
def certificate(tmp_path):
    if not shutil.which("openssl"):
        pytest.skip("needs the openssl command")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=hooks.example.test",
         "-addext", "subjectAltName=DNS:hooks.example.test"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_https_to_a_pinned_address_checks_the_urls_hostname(history, stored_job, monkeypatch, certificate):
    cert, key = certificate
    server_tls, names = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), []
    server_tls.load_cert_chain(cert, key)
    server_tls.sni_callback = lambda _sock, name, _context: names.append(name)
    # The receiver's certificate is trusted here, as a real CA's would be.
    monkeypatch.setattr(webhook_http, "_tls_context", lambda: ssl.create_default_context(cafile=str(cert)))
    fake_dns(monkeypatch, {"hooks.example.test": ["127.0.0.1"], "other.example.test": ["127.0.0.1"]})

    with webhook_receiver(server_tls) as server:
        good = stored_job(webhook=f"https://hooks.example.test:{server.server_port}/hook")
        assert deliver(good, allow_private=True) == 200
        assert names == ["hooks.example.test"]
        assert len(server.calls) == 1

        # Same address, another name: the certificate does not cover it.
        bad = stored_job(webhook=f"https://other.example.test:{server.server_port}/hook")
        with pytest.raises(webhooks.DeliveryFailed, match="certificate"):
            deliver(bad, allow_private=True)
        assert len(server.calls) == 1


@pytest.mark.parametrize("handler", [trickle, silent])
def test_a_slow_receiver_is_cut_off_at_the_deadline(history, stored_job, handler):
    with tcp_server(handler) as (port, state):
        job = stored_job(webhook=f"http://127.0.0.1:{port}/hook", webhook_events_filter=["completed"])
        started = time.monotonic()
        with pytest.raises(webhooks.DeliveryFailed, match="exceeded the 2 s deadline"):
            deliver(job, allow_private=True, timeout_s=2)
        elapsed = time.monotonic() - started
        assert state["accepted"] == 1
        if handler is trickle:
            assert state["sent"] >= 2  # each byte came well within any per-read timeout

    # Cut off at the deadline: not before it, and long before this receiver would let the
    # delivery go (the silent one after 30 s, the trickling one never). The rest of the
    # margin is for a loaded machine.
    assert 1.9 <= elapsed < 10
    [attempt] = history.deliveries_for(job.id)
    assert attempt.status_code is None
    assert "exceeded the 2 s deadline while waiting for the answer" in attempt.error


def test_a_hanging_dns_lookup_counts_against_the_deadline(history, stored_job, monkeypatch):
    release = threading.Event()
    lookups = fake_dns(monkeypatch, {"slow-dns.test": lambda n: release.wait(20) and ["127.0.0.1"]})
    job = stored_job(webhook="http://slow-dns.test/hook", webhook_events_filter=["completed"])
    try:
        started = time.monotonic()
        with pytest.raises(webhooks.DeliveryFailed, match="deadline while resolving"):
            deliver(job, allow_private=False, timeout_s=1)
        assert time.monotonic() - started < 10  # the lookup itself hangs for 20 s
    finally:
        release.set()
    assert lookups == ["slow-dns.test"]
    [attempt] = history.deliveries_for(job.id)
    assert "exceeded the 1 s deadline" in attempt.error


@pytest.mark.pipeline
@pytest.mark.django_db(transaction=True)
def test_slow_receivers_do_not_starve_the_notifier(history, stored_job, webhook_worker, receiver):
    """As many trickling receivers as the worker has threads (4 in the suite): before the
    deadline they held every thread forever; now a healthy receiver is served after one
    WEBHOOK_TIMEOUT_S (10 s by default)."""
    from workers.tasks import deliver_webhook_task

    with tcp_server(trickle) as (port, state):
        slow = [stored_job(webhook=f"http://127.0.0.1:{port}/slow{i}") for i in range(4)]
        for job in slow:
            deliver_webhook_task.apply_async(args=[job.id, "completed"])
        wait_until(lambda: state["accepted"] >= 4, timeout=15, what="four slow deliveries")
        healthy = stored_job(webhook=f"http://127.0.0.1:{receiver.server_port}/hook")
        deliver_webhook_task.apply_async(args=[healthy.id, "completed"])
        wait_until(lambda: receiver.calls, timeout=25, what="the healthy delivery")
    wait_until(lambda: history.deliveries_for(healthy.id), timeout=10, what="its log")
    assert history.deliveries_for(healthy.id)[0].status_code == 200


@pytest.mark.pipeline
@pytest.mark.django_db(transaction=True)
def test_a_receiver_known_not_to_answer_holds_one_thread_and_the_rest_are_put_off(
    history, stored_job, receiver
):
    """A receiver that never answers: once one delivery to it ran out of time, the next ones
    share WEBHOOK_SLOW_SLOTS threads (1 here) and the rest wait outside the pool, so a
    healthy receiver is served before any of them times out. Before, the six took all four
    threads and the healthy delivery waited for their deadline (10 s here: a margin for a
    loaded machine between the slow slot's start and the healthy delivery)."""
    from myproject.servers import stop
    from tests.processes import log_tail, shared_database_url, start_worker
    from workers.tasks import deliver_webhook_task

    settings = {"WEBHOOK_TIMEOUT_S": "10", "WEBHOOK_SLOW_SLOTS": "1", "DATABASE_URL": shared_database_url()}
    # Its own queue: the suite's notifier (webhook_worker) knows nothing of this receiver.
    worker = start_worker("webhooks-lanes", settings, pool="threads")
    silent = socket.create_server(("127.0.0.1", 0), backlog=64)  # accepts nothing, answers nothing
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
        first = stored_job(webhook=url)
        deliver_webhook_task.apply_async(args=[first.id, "completed"], queue="webhooks-lanes")
        wait_until(lambda: history.deliveries_for(first.id), timeout=30, what="the first delivery's timeout")
        assert "deadline" in history.deliveries_for(first.id)[0].error

        more = [stored_job(webhook=url) for _ in range(6)]
        for job in more:
            deliver_webhook_task.apply_async(args=[job.id, "completed"], queue="webhooks-lanes")
        wait_until(
            lambda: "webhook put off" in log_tail("webhooks-lanes-worker", 400), timeout=30, what="a deferral"
        )
        healthy = stored_job(webhook=f"http://127.0.0.1:{receiver.server_port}/hook")
        deliver_webhook_task.apply_async(args=[healthy.id, "completed"], queue="webhooks-lanes")
        wait_until(lambda: receiver.calls, timeout=30, what="the healthy delivery")
        # Served while the one slow delivery let through still waits for its deadline.
        assert sum(len(history.deliveries_for(job.id)) for job in more) == 0
    finally:
        silent.close()
        stop(worker)
