"""Fixtures for container tests: a store with the busybox image, and a leak check after each test."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import Dockyard
from tests.helpers.network import delete_store_bridges
from tests.helpers.processes import processes_under  # noqa: F401  (the container tests import it from here)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: runc and overlay mounts")


def runc_containers(root: Path) -> list[str]:
    result = subprocess.run(["runc", "--root", str(root / "runc"), "list", "-q"], capture_output=True, text=True)
    return result.stdout.split()


def wait_until(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.fixture(scope="session")
def busybox_image_tar(busybox_tar: Path) -> Path:
    return busybox_tar


@pytest.fixture
def dy(store_root: Path, busybox_tar: Path) -> Iterator[Dockyard]:
    """A store holding ``bb`` (busybox); afterwards every container is removed and nothing may be left."""
    d = Dockyard(store_root)
    d("import", str(busybox_tar), "bb")
    yield d
    ids = d("ps", "-aq", "--no-trunc", check=False).stdout.split()
    if ids:
        d("rm", "-f", *ids, check=False)
    assert wait_until(lambda: not processes_under(store_root)), f"processes left: {processes_under(store_root)}"
    assert runc_containers(store_root) == []
    with open("/proc/mounts") as f:
        leaked = [line.split()[1] for line in f if str(store_root) in line]
    delete_store_bridges(store_root)  # the store's bridges outlive its containers, as docker0 does
    assert not leaked, f"mounts left behind: {leaked}"
    assert not os.listdir(store_root / "containers")


def inspect(d: Dockyard, name: str) -> dict:  # type: ignore[type-arg]
    return json.loads(d("inspect", name).stdout)[0]


def runc_specs(dy: Dockyard, dockerd, tmp_path: Path, flags: list[str]) -> tuple[dict, dict]:  # type: ignore[no-untyped-def,type-arg]
    """The OCI runtime spec dockyard writes and the one dockerd 20.10 gives runc, for one ``run -d FLAGS``."""
    from tests.helpers.dockerd import BUSYBOX_TAG, busybox_image

    busybox_image(dockerd, tmp_path)
    docker_id = dockerd.run("run", "-d", *flags, BUSYBOX_TAG, "sleep", "1000").stdout.strip()
    try:
        theirs = json.loads(next(dockerd.exec_root.glob(f"**/{docker_id}/config.json")).read_text())
    finally:
        dockerd.run("rm", "-f", docker_id)
    ours_id = dy("run", "-d", *flags, "bb", "sleep", "1000").stdout.strip()
    ours = json.loads((dy.root / "containers" / ours_id / "config.json").read_text())
    dy("rm", "-f", ours_id)
    return ours, theirs
