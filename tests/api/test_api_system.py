"""System routes over a real ``dockyard system service``: raw HTTP for exact shapes, the docker CLI and
docker-py as the clients people use."""

from __future__ import annotations

import json
import socket
import time
import urllib.parse
from pathlib import Path

import pytest

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


def test_info_and_system_df(api_service: ApiService, api_busybox: str) -> None:
    info = api_service.request("GET", "/v1.45/info").json()
    assert info["Images"] >= 1 and info["OSType"] == "linux" and info["DockerRootDir"] == str(api_service.root)
    assert "ClientInfo" not in info  # the client's part is the client's
    # the CLI's `info --format '{{json .}}'` is the same document and the client's part
    cli = json.loads(api_service.cli("info", "--format", "{{json .}}").stdout)
    assert set(cli) - set(info) == {"ClientInfo"} and cli["ID"] == info["ID"]
    assert api_service.docker("info", "--format", "{{.Images}} {{.Driver}}").stdout.split() == [str(info["Images"]), info["Driver"]]
    df = api_service.request("GET", "/system/df").json()
    assert set(df) == {"LayersSize", "Images", "Containers", "Volumes", "BuildCache", "BuilderSize"}
    assert any("busybox:latest" in i["RepoTags"] for i in df["Images"])
    assert api_service.docker("system", "df", "--format", "{{.Type}}").stdout.split("\n")[0] == "Images"


def test_events_since_until_and_filters(api_service: ApiService, api_busybox: str) -> None:
    start = time.time()
    api_service.docker("tag", "busybox", "evented:1")
    api_service.cli("rmi", "evented:1")  # the CLI's events are the API's too: one log
    until = time.time() + 0.5
    reply = api_service.request("GET", f"/events?since={start:.9f}&until={until:.9f}")
    assert reply.status == 200 and reply.headers["content-type"] == "application/json"
    actions = [(e["Type"], e["Action"], e["Actor"]["Attributes"].get("name")) for e in reply.json_lines()]
    assert ("image", "tag", "evented:1") in actions and ("image", "untag") in [a[:2] for a in actions]
    filters = urllib.parse.quote(json.dumps({"event": ["untag"]}))
    only = api_service.request("GET", f"/events?since={start:.9f}&until={until:.9f}&filters={filters}").json_lines()
    assert {e["Action"] for e in only} == {"untag"}
    line = api_service.docker("events", "--since", str(int(start)), "--until", str(int(until) + 1),
                              "--filter", "event=tag", "--format", "{{.Action}} {{.Actor.Attributes.name}}").stdout
    assert "tag evented:1" in line.splitlines()
    bad = api_service.request("GET", "/events?since=yesterday")
    assert bad.status == 400


def test_events_follow_live_and_stop_when_the_client_goes(api_service: ApiService, api_busybox: str) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(api_service.socket))
        sock.sendall(b'GET /v1.45/events?filters=%7B%22event%22%3A%5B%22tag%22%5D%7D HTTP/1.1\r\nHost: x\r\n\r\n')
        sock.settimeout(30)
        head = sock.recv(4096)
        assert head.startswith(b"HTTP/1.1 200 OK") and b"Transfer-Encoding: chunked" in head
        api_service.cli("tag", "busybox", "live:1")
        data = b""
        while b"live:1" not in data:
            chunk = sock.recv(65536)
            assert chunk
            data += chunk
    api_service.cli("rmi", "live:1")
    # the follower noticed the close: the service has no request in flight and still answers
    assert api_service.request("GET", "/_ping").status == 200


@pytest.mark.docker
def test_swarm_and_plugin_answers_match_dockerd(api_service: ApiService, dockerd: object) -> None:
    from tests.api.conftest import UnixHTTPConnection

    def ask(sock_path: str, method: str, path: str) -> tuple[int, bytes]:
        conn = UnixHTTPConnection(Path(sock_path))
        conn.request(method, path)
        reply = conn.getresponse()
        out = (reply.status, reply.read())
        conn.close()
        return out

    dockerd_sock = dockerd.host.removeprefix("unix://")  # type: ignore[attr-defined]
    for method, path in (("GET", "/v1.41/swarm"), ("GET", "/v1.41/nodes"), ("GET", "/v1.41/services"),
                         ("GET", "/v1.41/tasks"), ("GET", "/v1.41/secrets"), ("GET", "/v1.41/configs"),
                         ("GET", "/v1.41/plugins"), ("POST", "/v1.41/swarm/leave")):
        theirs = ask(dockerd_sock, method, path)
        ours = ask(str(api_service.socket), method, path)
        assert ours[0] == theirs[0], path
        assert json.loads(ours[1]) == json.loads(theirs[1]), path


def test_docker_py_system_calls(api_service: ApiService, api_busybox: str) -> None:
    import docker

    client = docker.DockerClient(base_url=api_service.host, timeout=60)
    assert client.ping() is True
    assert client.version()["ApiVersion"] == "1.45"
    assert client.info()["Images"] >= 1
    assert "LayersSize" in client.df()
    start = time.time()
    client.images.get("busybox").tag("pyevent", "1")
    events = list(client.events(since=start, until=time.time() + 0.5, decode=True, filters={"type": "image"}))
    assert any(e["Action"] == "tag" and e["Actor"]["Attributes"]["name"] == "pyevent:1" for e in events)
    client.images.remove("pyevent:1")
    with pytest.raises(docker.errors.APIError) as failure:
        client.swarm.init()
    assert failure.value.status_code == 501
