"""Registry answers beside Docker's: the docker CLI (28) on a private dockerd and dockyard, same
registry, same command lines; exit code, stdout and the stderr line compared."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Result, needs_root
from tests.registry_client.conftest import Client
from tests.registry_client.servers import Distribution

pytestmark = [needs_root, pytest.mark.docker]

DOCKER_28 = "/usr/local/bin/docker"
if not os.access(DOCKER_28, os.X_OK):
    pytestmark.append(pytest.mark.skip(reason="docker CLI 28 not installed"))


def docker(dockerd, config: Path, *args: str, stdin: str | None = None) -> Result:  # type: ignore[no-untyped-def]
    """The docker CLI with its own config directory; ``docker`` in its words reads ``dockyard``."""
    r = subprocess.run([DOCKER_28, "-H", dockerd.host, *args], capture_output=True, text=True, timeout=300,
                       input=stdin if stdin is not None else "", env={**dockerd.env, "DOCKER_CONFIG": str(config)})  # fmt: skip
    return Result(r.returncode, r.stdout.replace("docker", "dockyard"), r.stderr.replace("docker", "dockyard"))


def _first(text: str) -> str:
    return text.splitlines()[0] if text else ""


def test_pull_by_digest_names_the_repository(dockerd, registry: Distribution, client: Client, busybox_tar: Path, repo: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name = f"{registry.host}/{repo}:d"
    client("import", str(busybox_tar), name)
    digest = client("push", name).stdout.splitlines()[-1].split()[2]
    by_digest = f"{registry.host}/{repo}@{digest}"
    client("rmi", name)  # its digest goes with the last tag of the repository
    theirs = docker(dockerd, tmp_path / "docker-config", "pull", by_digest)
    ours = client("pull", by_digest)
    assert _first(ours.stdout) == _first(theirs.stdout) == f"{by_digest}: Pulling from {repo}"
    assert ours.stdout.splitlines()[-2:] == theirs.stdout.splitlines()[-2:]
    dockerd.run("rmi", by_digest)


def test_push_of_a_missing_tag_or_repository(dockerd, registry: Distribution, client: Client, busybox_tar: Path, repo: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name = f"{registry.host}/{repo}"
    client("import", str(busybox_tar), f"{name}:1")
    dockerd.run("import", str(busybox_tar), f"{name}:1")
    try:
        for target in (f"{name}:absent", f"{name}-none", f"{name}-none:5"):
            theirs = docker(dockerd, tmp_path / "docker-config", "push", target)
            ours = client("push", target, check=False)
            assert (ours.returncode, ours.stdout, ours.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr)
            assert ours.returncode == 1 and "The push refers to repository [" in ours.stdout
    finally:
        dockerd.run("rmi", f"{name}:1")


def test_basic_registry_without_credentials(dockerd, basic_registry: Distribution, client: Client, busybox_tar: Path, repo: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name = f"{basic_registry.host}/{repo}:1"
    client("import", str(busybox_tar), name)
    dockerd.run("import", str(busybox_tar), name)
    try:
        config = tmp_path / "docker-config"
        for args in (["push", name], ["pull", name]):
            theirs = docker(dockerd, config, *args)
            ours = client(*args, check=False)
            assert ours.returncode == theirs.returncode == 1
            assert ours.stderr.splitlines()[-1] == theirs.stderr.splitlines()[-1]
            assert ours.stderr.rstrip().endswith("no basic auth credentials")
    finally:
        dockerd.run("rmi", name)


def test_login_reuses_stored_credentials_without_a_terminal(dockerd, basic_registry: Distribution, client: Client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "docker-config"
    host = basic_registry.host
    docker(dockerd, config, "login", "-u", "alice", "--password-stdin", host, stdin="wonderland")
    client("login", "-u", "alice", "--password-stdin", host, input=b"wonderland")
    theirs = docker(dockerd, config, "login", host)
    ours = client("login", host, input=b"", check=False)
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout) == (0, "Login Succeeded\n")
    assert _first(ours.stderr) == _first(theirs.stderr) == "Authenticating with existing credentials... [Username: alice]"


def test_logout_of_a_server_never_logged_in(dockerd, basic_registry: Distribution, client: Client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    theirs = docker(dockerd, tmp_path / "never", "logout", basic_registry.host)
    ours = client("logout", basic_registry.host)
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout) == (0, f"Removing login credentials for {basic_registry.host}\n")
