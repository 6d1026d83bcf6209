"""Upload sessions live in the storage: restarts, several processes, disconnects, limits, shutdown."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

from tests.registry_server.conftest import Client, RegistryServer, digest_of


def _raw_request_head(host: str, method: str, path: str, length: int) -> tuple[socket.socket, bytes]:
    address, port = host.split(":")
    sock = socket.create_connection((address, int(port)), timeout=30)
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/octet-stream\r\nContent-Length: {length}\r\n\r\n"
    return sock, head.encode()


def _status_line(sock: socket.socket) -> str:
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n", 1)[0].decode()


def test_upload_survives_restart(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    data = os.urandom(300_000)
    with RegistryServer(storage) as first:
        client = Client(first.url)
        location = client.request("POST", "/v2/restart/me/blobs/uploads/").headers["Location"]
        r = client.request("PATCH", location, data[:100_000], {"Content-Range": "0-99999"})
        assert r.status == 202
    with RegistryServer(storage) as second:
        client = Client(second.url)
        status = client.request("GET", location)
        assert status.status == 204 and status.headers["Range"] == "0-99999"
        r = client.request("PATCH", location, data[100_000:], {"Content-Range": f"100000-{len(data) - 1}"})
        assert r.status == 202
        r = client.request("PUT", f"{location}?digest={digest_of(data)}")
        assert r.status == 201, r.data
        assert client.request("GET", f"/v2/restart/me/blobs/{digest_of(data)}").data == data


def test_two_processes_share_one_storage(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    data = os.urandom(200_000)
    with RegistryServer(storage) as a, RegistryServer(storage) as b:
        on_a, on_b = Client(a.url), Client(b.url)
        location = on_a.request("POST", "/v2/shared/blobs/uploads/").headers["Location"]
        assert on_b.request("PATCH", location, data[:50_000], {"Content-Range": "0-49999"}).status == 202
        assert on_a.request("GET", location).headers["Range"] == "0-49999"
        assert on_a.request("PATCH", location, data[50_000:]).status == 202
        assert on_b.request("PUT", f"{location}?digest={digest_of(data)}").status == 201
        assert on_a.request("GET", f"/v2/shared/blobs/{digest_of(data)}").data == data
        _, raw = on_b.push_image("shared", "v1", [os.urandom(10)])
        assert on_a.request("GET", "/v2/shared/manifests/v1").data == raw


def test_disconnect_mid_chunk_leaves_nothing_and_server_serves_on(server: RegistryServer, client: Client) -> None:
    location = client.request("POST", "/v2/disconnect/blobs/uploads/").headers["Location"]
    assert client.request("PATCH", location, b"x" * 1000).status == 202
    sock, head = _raw_request_head(server.host, "PATCH", location, 1_000_000)
    sock.sendall(head + b"y" * 50_000)
    sock.close()  # gone after 5% of the chunk
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = client.request("GET", location)
        if status.headers["Range"] == "0-999":
            break
        time.sleep(0.05)
    assert status.headers["Range"] == "0-999"  # the broken chunk was cut away
    assert client.request("GET", "/v2/").status == 200
    data = b"x" * 1000 + b"z" * 10
    assert client.request("PATCH", location, b"z" * 10).status == 202
    assert client.request("PUT", f"{location}?digest={digest_of(data)}").status == 201


def test_blob_size_limit(tmp_path: Path) -> None:
    with RegistryServer(tmp_path / "storage", "--max-blob-size", "1000") as limited:
        client = Client(limited.url)
        location = client.request("POST", "/v2/limited/blobs/uploads/").headers["Location"]
        r = client.request("PATCH", location, os.urandom(2000))
        assert r.status == 413 and r.error_codes == ["SIZE_INVALID"]
        assert client.request("GET", location).headers["Range"] == "0-0"
        small = os.urandom(500)
        assert client.request("PATCH", location, small).status == 202
        assert client.request("PUT", f"{location}?digest={digest_of(small)}").status == 201
        big = os.urandom(1500)
        r = client.request("POST", f"/v2/limited/blobs/uploads/?digest={digest_of(big)}", big)
        assert r.status == 413
        assert client.request("HEAD", f"/v2/limited/blobs/{digest_of(big)}").status == 404


def test_graceful_shutdown_finishes_upload_in_flight(tmp_path: Path) -> None:
    server = RegistryServer(tmp_path / "storage").start()
    try:
        client = Client(server.url)
        location = client.request("POST", "/v2/graceful/blobs/uploads/").headers["Location"]
        body = os.urandom(400_000)
        sock, head = _raw_request_head(server.host, "PATCH", location, len(body))
        sock.sendall(head + body[:100_000])
        time.sleep(0.3)
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        sock.sendall(body[100_000:])
        assert _status_line(sock) == "HTTP/1.1 202 Accepted"
        sock.close()
        assert server.proc.wait(timeout=20) == 0
    finally:
        server.stop()
    with RegistryServer(tmp_path / "storage") as again:
        assert Client(again.url).request("GET", location).headers["Range"] == f"0-{len(body) - 1}"


def test_workers_share_socket_and_storage(tmp_path: Path) -> None:
    with RegistryServer(tmp_path / "storage", "--workers", "3") as pool:
        client = Client(pool.url)
        digests = [client.push_image(f"workers/{n}", "v1", [os.urandom(1000)])[0] for n in range(6)]
        for n, digest in enumerate(digests):
            assert client.request("HEAD", f"/v2/workers/{n}/manifests/v1").headers["Docker-Content-Digest"] == digest
        pids = {line.split('process="')[1].split('"')[0] for _ in range(12)
                for line in client.request("GET", "/metrics").data.decode().splitlines() if 'process="' in line}
        assert len(pids) >= 1


def test_twenty_clients_push_overlapping_images(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    common = [os.urandom(200_000) for _ in range(3)]
    own = [os.urandom(50_000) for _ in range(20)]
    with RegistryServer(tmp_path / "storage", "--workers", "2") as pool:

        def push(n: int) -> tuple[str, str, list[bytes]]:
            client = Client(pool.url)
            layers = [common[n % 3], common[(n + 1) % 3], own[n]]
            name = f"conc/{n % 5}"
            digest, _ = client.push_image(name, f"t{n}", layers)
            return name, digest, layers

        with ThreadPoolExecutor(20) as executor:
            pushed = list(executor.map(push, range(20)))
        client = Client(pool.url)
        for n, (name, digest, layers) in enumerate(pushed):
            manifest = client.request("GET", f"/v2/{name}/manifests/t{n}")
            assert manifest.headers["Docker-Content-Digest"] == digest == digest_of(manifest.data)
            for descriptor, layer in zip(manifest.json()["layers"], layers, strict=True):
                assert client.request("GET", f"/v2/{name}/blobs/{descriptor['digest']}").data == layer
    stored = [p.parent.name for p in (tmp_path / "storage").glob("blobs/sha256/*/*/data")]
    assert len(stored) == len(set(stored))
    assert {digest_of(layer).split(":")[1] for layer in common + own} <= set(stored)
    assert not list((tmp_path / "storage").glob("repositories/**/_uploads/*/data"))


def test_config_file(tmp_path: Path) -> None:
    (tmp_path / "registry.yaml").write_text(f"root: {tmp_path / 'from-config'}\nlimits: {{max_blob_size: 10}}\naccess_log: false\n")
    server = RegistryServer(tmp_path / "flag-root", "--config", str(tmp_path / "registry.yaml"))
    with server:
        client = Client(server.url)
        data = os.urandom(20)
        assert client.request("POST", f"/v2/cfg/blobs/uploads/?digest={digest_of(data)}", data).status == 413
        client.push_blob("cfg", b"tiny")
    # the --root flag wins over the file's root; the file's other settings apply
    assert any((tmp_path / "flag-root").glob("blobs/sha256/*/*/data"))
    assert not (tmp_path / "from-config").exists()
    assert '"method"' not in server.log()  # access log off


def test_the_hash_state_travels_with_the_session(tmp_path: Path) -> None:
    """Each acknowledged chunk leaves the running SHA-256 in the session, so the process that finishes
    continues it instead of reading the bytes back; a wrong digest is still refused after a switch."""
    from dockyard.registry.server.hashstate import ResumableSha256

    storage = tmp_path / "storage"
    data = os.urandom(300_000)
    with RegistryServer(storage) as a, RegistryServer(storage) as b:
        on_a, on_b = Client(a.url), Client(b.url)
        location = on_a.request("POST", "/v2/hashed/blobs/uploads/").headers["Location"]
        assert on_a.request("PATCH", location, data[:100_000], {"Content-Range": "0-99999"}).status == 202
        assert on_b.request("PATCH", location, data[100_000:250_000], {"Content-Range": "100000-249999"}).status == 202
        states = {int(p.name): p for p in storage.rglob("hashstates/sha256/*")}
        assert sorted(states) == [100_000, 250_000]  # b continued a's state: it had none of its own
        resumed = ResumableSha256(states[250_000].read_bytes())
        resumed.update(data[250_000:])
        assert f"sha256:{resumed.hexdigest()}" == digest_of(data)
        assert on_a.request("PATCH", location, data[250_000:]).status == 202
        wrong = on_b.request("PUT", f"{location}?digest={digest_of(data[:-1])}")
        assert wrong.status == 400 and wrong.error_codes == ["DIGEST_INVALID"]

        location = on_a.request("POST", "/v2/hashed/blobs/uploads/").headers["Location"]
        assert on_a.request("PATCH", location, data[:100_000]).status == 202
        assert on_b.request("PUT", f"{location}?digest={digest_of(data[:100_000])}", data[:0]).status == 201
        assert on_a.request("GET", f"/v2/hashed/blobs/{digest_of(data[:100_000])}").data == data[:100_000]
        assert not list(storage.rglob("hashstates"))  # a finished or refused session leaves no state
