"""System routes over a real ``dockyard system service``: raw HTTP for exact shapes, the docker CLI and
docker-py as the clients people use."""

from __future__ import annotations

import socket

from tests.api.conftest import ApiService

NO_CACHE = "no-cache, no-store, must-revalidate"


def test_ping_get_and_head_answer_dockers_headers(api_service: ApiService) -> None:
    for path in ("/_ping", "/v1.45/_ping", "/v1.24/_ping"):
        reply = api_service.request("GET", path)
        assert (reply.status, reply.body) == (200, b"OK")
        assert reply.headers["api-version"] == "1.45"
        assert reply.headers["docker-experimental"] == "false"
        assert reply.headers["ostype"] == "linux"
        assert reply.headers["cache-control"] == NO_CACHE
        assert reply.headers["pragma"] == "no-cache"
    head = api_service.request("HEAD", "/_ping")
    assert (head.status, head.body, head.headers["content-length"]) == (200, b"", "0")
    assert head.headers["api-version"] == "1.45"


def test_versions_outside_the_range_are_refused_as_dockerd_does(api_service: ApiService) -> None:
    old = api_service.request("GET", "/v1.12/version")
    assert old.status == 400
    assert old.json() == {"message": "client version 1.12 is too old. Minimum supported API version is 1.24, "
                                     "please upgrade your client to a newer version"}
    new = api_service.request("GET", "/v1.99/version")
    assert (new.status, new.json()) == (400, {"message": "client version 1.99 is too new. Maximum supported API version is 1.45"})
    missing = api_service.request("GET", "/v1.45/no/such/route")
    assert (missing.status, missing.json()) == (404, {"message": "page not found"})


def test_version_document(api_service: ApiService) -> None:
    doc = api_service.request("GET", "/v1.45/version").json()
    assert isinstance(doc, dict)
    assert (doc["ApiVersion"], doc["MinAPIVersion"], doc["Os"]) == ("1.45", "1.24", "linux")
    assert doc["Components"][0]["Name"] == "Engine"


def test_docker_cli_version_negotiates_the_api(api_service: ApiService) -> None:
    out = api_service.docker("version", "--format", "{{.Server.APIVersion}} {{.Server.Os}} {{.Client.APIVersion}}").stdout
    assert out.split() == ["1.45", "linux", "1.45"]


def test_keep_alive_serves_several_requests_on_one_connection(api_service: ApiService) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(api_service.socket))
        sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\nGET /v1.40/_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while data.count(b"\r\n\r\nOK") < 2:
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
    assert data.count(b"HTTP/1.1 200 OK") == 2


def test_chunked_request_body_is_read(api_service: ApiService) -> None:
    """The docker CLI sends chunked bodies; the connection stays usable after one."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(api_service.socket))
        sock.sendall(b"POST /_ping HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"3\r\nabc\r\n0\r\n\r\nGET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while not data.endswith(b"\r\n\r\nOK"):
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
    assert data.startswith(b"HTTP/1.1 404 Not Found")
