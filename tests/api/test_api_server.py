"""``dockyard system service`` as a server: its socket, idle exit, TCP only with TLS or on loopback,
systemd socket activation, signals, several clients at once."""

from __future__ import annotations

import os
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.api.conftest import ApiService, UnixHTTPConnection, start_service, stop_service

SERVICE = [sys.executable, "-m", "dockyard"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read() if process.stdout else b""
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the service did not listen")


def test_socket_is_0660_root_and_docker_group_and_removed_at_sigterm(api_service: ApiService, tmp_path: Path) -> None:
    st = os.stat(api_service.socket)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660
    assert st.st_uid == 0
    try:
        import grp

        assert st.st_gid == grp.getgrnam("docker").gr_gid
    except KeyError:
        assert st.st_gid == 0
    other = start_service(tmp_path)
    assert stop_service(other) == 0
    assert not other.socket.exists()


def test_a_second_service_on_a_live_socket_is_refused(api_service: ApiService) -> None:
    proc = subprocess.run([*SERVICE, "--root", str(api_service.root), "system", "service", "--time", "0",
                           api_service.host], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 125
    assert proc.stderr.startswith("Error: ") and "in use by another service" in proc.stderr
    assert api_service.request("GET", "/_ping").status == 200


def test_idle_time_exits_and_requests_keep_it_alive(tmp_path: Path) -> None:
    sock = tmp_path / "idle.sock"
    proc = subprocess.Popen([*SERVICE, "--root", str(tmp_path / "root"), "system", "service", "--time", "1",
                             f"unix://{sock}"])
    try:
        started = time.monotonic()
        while not sock.exists():
            assert time.monotonic() - started < 30
            time.sleep(0.02)
        # a request that lasts longer than the idle time (an events stream) keeps it serving
        conn = UnixHTTPConnection(sock)
        conn.request("GET", f"/events?until={int(time.time()) + 2}")
        reply = conn.getresponse()
        assert reply.status == 200
        reply.read()  # ends at ``until``, two seconds on: longer than the idle time
        conn.close()
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not sock.exists()


def test_default_idle_time_is_podmans(tmp_path: Path) -> None:
    help_text = subprocess.run([*SERVICE, "system", "service", "--help"], capture_output=True, text=True).stdout
    assert help_text.startswith("Usage:  dockyard system service [OPTIONS] [URI]\n")
    assert "  -t, --time uint" in help_text and "(default 5)" in help_text


@pytest.mark.parametrize("uri", ["tcp://0.0.0.0:2375", "tcp://127.0.0.1:2375"])
def test_tcp_without_tls_is_refused(uri: str, tmp_path: Path) -> None:
    proc = subprocess.run([*SERVICE, "--root", str(tmp_path), "system", "service", uri],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 125
    assert "without TLS" in proc.stderr and proc.stderr.count("\n") == 1


def test_insecure_tcp_only_on_loopback(tmp_path: Path) -> None:
    proc = subprocess.run([*SERVICE, "--root", str(tmp_path), "system", "service", "--insecure", "tcp://0.0.0.0:2375"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 125 and "loopback" in proc.stderr
    port = _free_port()
    service = subprocess.Popen([*SERVICE, "--root", str(tmp_path / "root"), "system", "service", "--time", "0",
                                "--insecure", f"tcp://127.0.0.1:{port}"])
    try:
        _wait_port(port, service)
        env = {**os.environ, "DOCKER_HOST": f"tcp://127.0.0.1:{port}", "DOCKER_CONFIG": str(tmp_path)}
        out = subprocess.run(["docker", "version", "--format", "{{.Server.APIVersion}}"], env=env,
                             capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == "1.45", out.stderr
    finally:
        service.terminate()
        assert service.wait(timeout=20) == 0


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _certificates(d: Path) -> None:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as Docker's TLS guide makes them."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", str(d / "ca-key.pem"), "-out", str(d / "ca.pem"), "-days", "2", "-subj", "/CN=ca")
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
                      ("client", "extendedKeyUsage=clientAuth")):
        (d / f"{name}.ext").write_text(ext + "\n")
        _openssl("req", *ec, "-keyout", str(d / f"{name}-key.pem"), "-out", str(d / f"{name}.csr"), "-subj", f"/CN={name}")
        _openssl("x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / "ca.pem"), "-CAkey", str(d / "ca-key.pem"),
                 "-CAcreateserial", "-out", str(d / f"{name}-cert.pem"), "-days", "2", "-extfile", str(d / f"{name}.ext"))


def test_tls_requires_a_client_certificate(tmp_path: Path) -> None:
    _certificates(tmp_path)
    port = _free_port()
    service = subprocess.Popen([*SERVICE, "--root", str(tmp_path / "root"), "system", "service", "--time", "0",
                                "--tlsverify", "--tlscacert", str(tmp_path / "ca.pem"),
                                "--tlscert", str(tmp_path / "server-cert.pem"), "--tlskey", str(tmp_path / "server-key.pem"),
                                f"tcp://127.0.0.1:{port}"])
    try:
        _wait_port(port, service)
        env = {**os.environ, "DOCKER_CONFIG": str(tmp_path)}
        tls = ["--tlsverify", "--tlscacert", str(tmp_path / "ca.pem"), "--tlscert", str(tmp_path / "client-cert.pem"),
               "--tlskey", str(tmp_path / "client-key.pem"), "-H", f"tcp://127.0.0.1:{port}"]
        out = subprocess.run(["docker", *tls, "version", "--format", "{{.Server.APIVersion}}"], env=env,
                             capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == "1.45", out.stderr
        # without a client certificate the handshake fails: nothing is answered
        context = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls_sock:
                    tls_sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
                    if not tls_sock.recv(100):
                        raise ConnectionResetError("closed")
        # plain HTTP on the TLS port gets nothing either
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            raw.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                answer = raw.recv(100)
            except ConnectionResetError:
                answer = b""
            assert b"OK" not in answer
    finally:
        service.terminate()
        assert service.wait(timeout=20) == 0


def test_systemd_socket_activation(tmp_path: Path) -> None:
    """systemd-socket-activate passes the listening socket as fd 3 with LISTEN_FDS/LISTEN_PID, as systemd does."""
    sock = tmp_path / "activated.sock"
    passed = [f"--setenv={k}={os.environ[k]}" for k in ("PYTHONPATH", "PATH") if k in os.environ]
    service = subprocess.Popen(["systemd-socket-activate", "-l", str(sock), *passed, *SERVICE, "--root", str(tmp_path / "root"),
                                "system", "service", "--time", "0"])
    try:
        deadline = time.monotonic() + 30
        while not sock.exists():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        conn = UnixHTTPConnection(sock)
        conn.request("GET", "/_ping")
        assert conn.getresponse().read() == b"OK"
        conn.close()
    finally:
        service.terminate()
        service.wait(timeout=20)


def test_several_clients_at_once(api_service: ApiService) -> None:
    """A client holding a connection open does not stop others; many at once are all answered."""
    idle = socket.socket(socket.AF_UNIX)
    idle.connect(str(api_service.socket))
    idle.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n")  # a request never finished
    results: list[int] = []

    def ping() -> None:
        for _ in range(5):
            results.append(api_service.request("GET", "/v1.45/_ping").status)

    threads = [threading.Thread(target=ping) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    idle.close()
    assert results == [200] * 40
