"""``/v1/search`` on the private registry, through raw HTTP and ``docker search``."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import needs_root
from tests.registry_server.conftest import Client, RegistryServer

DESCRIPTION = "org.opencontainers.image.description"


def _push_described(client: Client, name: str, description: str | None) -> None:
    labels = {DESCRIPTION: description} if description else {}
    config = {"architecture": "amd64", "os": "linux", "config": {"Labels": labels}, "rootfs": {"type": "layers", "diff_ids": []}}
    client.push_image(name, "latest", [os.urandom(20)], config)


def test_search_api(client: Client) -> None:
    _push_described(client, "search/findme-one", "the first one")
    _push_described(client, "search/findme-two", None)
    _push_described(client, "search/other", "not this")
    r = client.request("GET", "/v1/search?q=findme")
    assert r.status == 200
    body = r.json()
    assert body["num_results"] == 2 and body["query"] == "findme"
    assert [(x["name"], x["description"]) for x in body["results"]] == [("search/findme-one", "the first one"), ("search/findme-two", "")]
    assert set(body["results"][0]) >= {"name", "description", "star_count", "is_official", "is_automated"}
    page = client.request("GET", "/v1/search?q=findme&n=1&page=2").json()
    assert [x["name"] for x in page["results"]] == ["search/findme-two"] and page["num_pages"] == 2
    assert client.request("GET", "/v1/search?q=findme&n=x").status == 400
    assert client.request("GET", "/v1/_ping").status == 200


@needs_root
@pytest.mark.docker
def test_docker_search(dockerd, server: RegistryServer, client: Client) -> None:  # type: ignore[no-untyped-def]
    _push_described(client, "dsearch/busybox", "a tiny busybox")
    out = dockerd.run("search", "--format", "{{json .}}", f"{server.host}/dsearch").stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert {"Name": "dsearch/busybox", "Description": "a tiny busybox"}.items() <= rows[0].items()
    table = dockerd.run("search", "--no-trunc", f"{server.host}/busybox").stdout
    assert "dsearch/busybox" in table and "a tiny busybox" in table
