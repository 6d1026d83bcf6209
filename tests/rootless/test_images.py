"""Every image command as an unprivileged user: pull, push, login, load, save, import, tag, rmi, images,
inspect, history, system df, prune; registries are real (CNCF Distribution on 127.0.0.1, run by root)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator

import pytest

from tests.helpers import images
from tests.helpers.rootless import RootlessUser
from tests.registry_client.conftest import docker_archive
from tests.registry_client.servers import Distribution, htpasswd


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Distribution]:
    server = Distribution(tmp_path_factory.mktemp("rootless-registry"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Distribution]:
    work = tmp_path_factory.mktemp("rootless-basic-registry")
    path = htpasswd(work / "htpasswd", {"alice": "s3cret"})
    server = Distribution(work, {"htpasswd": {"realm": "basic-realm", "path": str(path)}})
    yield server
    server.stop()


def owned_image(user: RootlessUser) -> None:
    """app:1 in the user's work dir: busybox and a layer with files of uid/gid 1000 (saved as app.tar)."""
    layers = [images.layer_tar_bytes(images.busybox_rootfs_entries()), images.layer_tar_bytes([
        images.directory("home"), images.directory("home/app", uid=1000, gid=1000),
        images.file("home/app/data", b"mine\n", uid=1000, gid=1000),
    ])]  # fmt: skip
    docker_archive(user.work / "app.tar", layers, "app:1")
    os.chown(user.work / "app.tar", user.uid, user.gid)


def table(user: RootlessUser, *args: str) -> list[str]:
    return user.run([*args], check=True).stdout.splitlines()


def test_push_then_pull_from_a_local_registry(rootless_user: RootlessUser, registry: Distribution) -> None:
    user = rootless_user
    owned_image(user)
    user.run(["load", "-i", "app.tar"], check=True)
    remote = f"{registry.host}/rootless/app:1"
    user.run(["tag", "app:1", remote], check=True)
    pushed = user.run(["push", remote], check=True)
    assert "1: digest: sha256:" in pushed.stdout
    image_id = user.run(["image", "inspect", "--format", "{{.Id}}", "app:1"], check=True).stdout.strip()
    removed = user.run(["rmi", "app:1", remote], check=True).stdout
    assert f"Untagged: {remote}\n" in removed and f"Deleted: {image_id}\n" in removed
    assert table(user, "images", "-q") == []
    pulled = user.run(["pull", remote], check=True)
    assert f"Status: Downloaded newer image for {remote}" in pulled.stdout
    assert user.run(["image", "inspect", "--format", "{{.Id}}", remote], check=True).stdout.strip() == image_id
    # the pulled layer's uid-1000 file is the subordinate id of 1000 on the host
    [data] = list((user.store / "overlay2").glob("*/diff/home/app/data"))
    assert (os.stat(data).st_uid, os.stat(data).st_gid) == (user.host_id(1000), user.host_id(1000))
    history = table(user, "history", "--format", "{{.CreatedBy}}", remote)
    assert history == ["layer 1", "layer 0"]


def test_login_writes_the_users_own_docker_config(rootless_user: RootlessUser, basic_registry: Distribution) -> None:
    user = rootless_user
    login = user.run(["login", "-u", "alice", "--password-stdin", basic_registry.host], input="s3cret\n")
    assert login.returncode == 0, login.stderr
    assert "Login Succeeded" in login.stdout
    config = user.home / ".docker" / "config.json"
    assert basic_registry.host in json.loads(config.read_text())["auths"]
    assert os.stat(config).st_uid == user.uid and os.stat(config).st_mode & 0o077 == 0
    images.busybox_rootfs_tar(user.work / "bb.tar")
    os.chown(user.work / "bb.tar", user.uid, user.gid)
    remote = f"{basic_registry.host}/alice/bb:1"
    user.run(["import", "bb.tar", remote], check=True)
    user.run(["push", remote], check=True)
    user.run(["logout", basic_registry.host], check=True)
    refused = user.run(["push", remote])
    assert refused.returncode == 1 and ("no basic auth credentials" in refused.stderr or "unauthorized" in refused.stderr)


def test_save_load_import_tag_rmi_and_prune(rootless_user: RootlessUser) -> None:
    user = rootless_user
    owned_image(user)
    loaded = user.run(["load", "-i", "app.tar"], check=True)
    assert loaded.stdout == "Loaded image: app:1\n"
    user.run(["tag", "app:1", "app:2"], check=True)
    user.run(["save", "-o", "both.tar", "app:1", "app:2"], check=True)
    saved = {m.name: m.uid for ms in images.docker_archive_layers(user.work / "both.tar").values() for m in ms}
    assert saved["home/app/data"] == 1000
    images.busybox_rootfs_tar(user.work / "bb.tar")
    os.chown(user.work / "bb.tar", user.uid, user.gid)
    imported = user.run(["import", "bb.tar", "plain:1"], check=True)
    assert imported.stdout.startswith("sha256:")
    assert sorted(table(user, "images", "--format", "{{.Repository}}:{{.Tag}}")) == ["app:1", "app:2", "plain:1"]
    inspect = json.loads(user.run(["image", "inspect", "plain:1"], check=True).stdout)
    assert inspect[0]["GraphDriver"]["Name"] == "overlay2"
    assert inspect[0]["GraphDriver"]["Data"]["UpperDir"].startswith(str(user.store / "overlay2"))
    df = table(user, "system", "df")
    assert df[0].split()[:2] == ["TYPE", "TOTAL"] and df[1].split()[:2] == ["Images", "2"]
    user.run(["rmi", "app:1", "app:2"], check=True)
    assert not list((user.store / "overlay2").glob("*/diff/home/app"))  # subordinate-owned files removed too
    pruned = user.run(["image", "prune", "-a", "-f"], check=True)
    assert "Total reclaimed space:" in pruned.stdout
    assert table(user, "images", "-q") == []
    user.run(["load", "-i", "both.tar"], check=True)  # what was saved loads back
    assert sorted(table(user, "images", "--format", "{{.Repository}}:{{.Tag}}")) == ["app:1", "app:2"]


def test_a_store_of_root_is_not_the_users(rootless_user: RootlessUser, tmp_path: Path) -> None:
    """``--root`` still wins for a user, and a store it cannot write is one clear line."""
    result = rootless_user.run(["--root", "/var/lib/dockyard-not-mine", "images"])
    assert result.returncode == 1
    assert result.stderr.startswith("Error response from daemon: cannot use root /var/lib/dockyard-not-mine")
    assert not Path("/var/lib/dockyard-not-mine").exists()
