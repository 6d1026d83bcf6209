"""The client against dockyard's own registry server (``dockyard registry serve``), as a real process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import needs_root
from tests.registry_client.conftest import Client, load

pytestmark = [needs_root]


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[object]:
    from tests.registry_server.conftest import RegistryServer

    storage = tmp_path / "server" / "storage"
    storage.mkdir(parents=True)
    with RegistryServer(storage) as server:
        yield server


def test_push_pull_and_search_on_our_own_server(own_server: object, client: Client, other_client: Client, three_layer_archive: Path) -> None:
    host = own_server.host  # type: ignore[attr-defined]
    load(client, three_layer_archive)
    name = f"{host}/ours/three:1"
    client("tag", "dyk/three:1", name)
    digest = client("push", name).stdout.strip().splitlines()[-1].split()[2]
    out = other_client("pull", name).stdout
    assert f"Digest: {digest}" in out
    ours, theirs = (json.loads(c("inspect", name).stdout)[0] for c in (client, other_client))
    assert theirs["Id"] == ours["Id"] and theirs["RootFS"] == ours["RootFS"]
    again = client("push", name).stdout
    assert again.count("Layer already exists") == 3
    found = client("search", "--format", "{{.Name}}", f"{host}/three").stdout.split()
    assert any(n.endswith("ours/three") for n in found), found
