"""Networks of an unprivileged user: slirp4netns for the default network and -p, user networks in the
user's rootless network namespace, where containers reach each other by name."""

from __future__ import annotations

import http.server
import socket
import threading
import time
import urllib.request
from typing import Iterator

import pytest

from tests.helpers.rootless import RootlessUser
from tests.helpers.rootless_images import INDEX, allow_tun, import_busybox


@pytest.fixture
def user(rootless_user: RootlessUser) -> RootlessUser:
    allow_tun()
    import_busybox(rootless_user)
    return rootless_user


def _host_address() -> str:
    """An address of this host other than loopback (the one its default route leaves from)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))
        return str(s.getsockname()[0])


def _get(url: str, timeout: float = 15) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=3) as answer:
                return bytes(answer.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture
def host_server() -> Iterator[str]:
    """An HTTP server on the host's non-loopback address: what a container reaches outbound."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"from the host\n")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer((_host_address(), 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://{server.server_address[0]}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_published_port_answers_http_from_the_host(user: RootlessUser) -> None:
    user.run(["run", "-d", "--name", "web", "-p", "8080:80", "bb", "httpd", "-f", "-p", "80", "-h", "/www"], check=True)
    assert _get("http://127.0.0.1:8080/") == INDEX
    assert _get(f"http://{_host_address()}:8080/") == INDEX
    assert user.run(["port", "web"], check=True).stdout == "80/tcp -> 0.0.0.0:8080\n"
    user.run(["rm", "-f", "web"], check=True)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", 8080), timeout=2).close()  # the forward went with the container
    # at once again: the connections' TIME_WAIT on the host side does not hold the port
    user.run(["run", "-d", "--name", "again", "-p", "8080:80", "bb", "httpd", "-f", "-p", "80", "-h", "/www"], check=True)
    assert _get("http://127.0.0.1:8080/") == INDEX
    taken = user.run(["run", "-d", "-p", "8080:80", "bb", "true"])  # but a port in use is refused
    assert taken.returncode == 125
    assert taken.stderr.splitlines()[0] == "dockyard: Error response from daemon: Bind for 0.0.0.0:8080 failed: port is already allocated"


def test_privileged_host_port_gets_docker_rootless_message(user: RootlessUser) -> None:
    result = user.run(["run", "--rm", "-p", "80:80", "bb", "true"])
    assert result.returncode == 125
    assert result.stderr.splitlines()[0] == (
        "dockyard: Error response from daemon: Error starting userland proxy: error while calling PortManager.AddPort(): "
        "cannot expose privileged port 80, you can add 'net.ipv4.ip_unprivileged_port_start=80' to /etc/sysctl.conf "
        "(currently 1024), or set CAP_NET_BIND_SERVICE on rootlesskit binary, or choose a larger port number (>= 1024): "
        "listen tcp4 0.0.0.0:80: bind: permission denied")


def test_default_network_has_outbound_access(user: RootlessUser, host_server: str) -> None:
    out = user.run(["run", "--rm", "bb", "sh", "-c", f"ip -o -4 addr show tap0; wget -q -O- {host_server}"], check=True)
    assert "10.0.2.100/24" in out.stdout and out.stdout.endswith("from the host\n")


def test_user_network_containers_reach_each_other_by_name(user: RootlessUser, host_server: str) -> None:
    user.run(["network", "create", "appnet"], check=True)
    user.run(["run", "-d", "--name", "server", "--network", "appnet", "bb", "httpd", "-f", "-p", "80", "-h", "/www"],
             check=True)
    client = user.run(["run", "--rm", "--network", "appnet", "bb", "sh", "-c",
                       f"wget -q -O- http://server/ && wget -q -O- {host_server}"], check=True)
    assert client.stdout == INDEX.decode() + "from the host\n"
    address = user.run(["inspect", "-f", "{{.NetworkSettings.Networks.appnet.IPAddress}}", "server"], check=True).stdout
    assert address.strip().count(".") == 3
    assert user.run(["network", "rm", "appnet"]).returncode != 0  # a running container is on it
    user.run(["rm", "-f", "server"], check=True)
    assert user.run(["network", "rm", "appnet"], check=True).stdout == "appnet\n"


def test_user_network_publishes_ports_through_the_rootless_namespace(user: RootlessUser) -> None:
    user.run(["network", "create", "pubnet"], check=True)
    user.run(["run", "-d", "--name", "pub", "--network", "pubnet", "-p", "8081:80", "bb", "httpd", "-f", "-p", "80", "-h", "/www"],
             check=True)
    assert _get("http://127.0.0.1:8081/") == INDEX
    assert _get(f"http://{_host_address()}:8081/") == INDEX
