"""The real Podman client against the real server: push, pull, inspect and run (issue 4).

Podman runs rootful with everything of its own under one temp dir, so nothing
global is touched:

- storage (``--root``, ``--runroot``, ``--storage-driver vfs``: no overlay
  mounts), ``--tmpdir``, ``--network-config-dir``, the OCI runtime's state
  (``--runtime-flag root=``), the image-copy scratch dir;
- configuration: ``CONTAINERS_CONF`` / ``CONTAINERS_STORAGE_CONF`` /
  ``CONTAINERS_REGISTRIES_CONF`` / ``REGISTRY_AUTH_FILE`` point at private
  files, and a private signature policy (``--signature-policy``);
- paths Podman 4.3 hard-codes: every podman command runs in a private mount
  namespace (``unshare --mount``) with a tmpfs on ``/run`` (Podman creates
  ``/run/containers/networks``, netavark's lock, runc's default state dir
  there) and the temp dir bound over ``/var/lib`` (Podman keeps its blob-info
  cache in ``/var/lib/containers/cache`` whatever ``--root`` says). Whatever
  Podman mounts there disappears with the namespace;
- containers go into a cgroup parent of their own, removed at the end.

Containers run with ``--ulimit nofile=1024:1024 --ulimit nproc=1024:1024``:
Podman's default (nofile 1048576) is above this machine's hard limit and
root here has no CAP_SYS_RESOURCE, so runc fails with "error setting rlimits
for ready process: operation not permitted" without them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Dockyard
from tests.helpers import cgroups
from tests.helpers.cgroups import cgroup_roots
from tests.helpers.dockerd import mounts_under
from tests.registry_server.conftest import Client, RegistryServer

PODMAN = shutil.which("podman")
DESCRIPTION = "a tiny busybox pushed by podman"
MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
])
ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


def _skip_reason() -> str | None:
    if PODMAN is None:
        return "podman not installed (apt-get install podman)"
    if os.geteuid() != 0:
        return "rootful podman in a private mount namespace needs root"
    if shutil.which("unshare") is None:
        return "unshare (util-linux) missing"
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                            "mount -t tmpfs dyk-probe /run"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot make a private mount namespace: {probe.stderr.strip()}"
    return None


class PodmanError(AssertionError):
    pass


class Podman:
    """``podman`` with every piece of its state under ``base`` (see the module docstring)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.cgroup = f"dyk-podman-{uuid.uuid4().hex[:12]}"
        d = {name: base / name for name in ("root", "run", "tmp", "net", "runtime", "varlib", "copytmp")}
        for p in d.values():
            p.mkdir(parents=True, exist_ok=True)
        (d["varlib"] / "containers").mkdir(exist_ok=True)
        self.dirs = d
        runtime = "runc"  # crun refuses this host's hybrid cgroup layout (a controller on cgroup2)
        (base / "containers.conf").write_text(
            "[engine]\n"
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "none"\n'
            f'tmp_dir = "{d["tmp"]}"\n'
            'lock_type = "file"\n'  # not a shared-memory segment in /dev/shm
            f'runtime = "{runtime}"\n'
            f'static_dir = "{d["root"] / "libpod"}"\n'
            f'volume_path = "{d["root"] / "volumes"}"\n'
            f'image_copy_tmp_dir = "{d["copytmp"]}"\n'
            "[network]\n"
            f'network_config_dir = "{d["net"]}"\n'
        )
        (base / "storage.conf").write_text(
            f'[storage]\ndriver = "vfs"\ngraphroot = "{d["root"]}"\nrunroot = "{d["run"]}"\n'
        )
        (base / "registries.conf").write_text("unqualified-search-registries = []\n")
        (base / "auth.json").write_text("{}\n")
        (base / "policy.json").write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("CONTAINER", "REGISTRY_AUTH", "XDG_"))}
        self.env |= {
            "CONTAINERS_CONF": str(base / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(base / "storage.conf"),
            "CONTAINERS_REGISTRIES_CONF": str(base / "registries.conf"),
            "REGISTRY_AUTH_FILE": str(base / "auth.json"),
            "TMPDIR": str(d["copytmp"]),
        }
        self.global_flags = [
            "--root", str(d["root"]), "--runroot", str(d["run"]), "--storage-driver", "vfs",
            "--tmpdir", str(d["tmp"]), "--events-backend", "none", "--cgroup-manager", "cgroupfs",
            "--network-config-dir", str(d["net"]), "--runtime-flag", f"root={d['runtime']}",
        ]

    @property
    def policy(self) -> list[str]:
        return ["--signature-policy", str(self.base / "policy.json")]

    def argv(self, *args: str) -> list[str]:
        script = 'mount -t tmpfs -o mode=755 dyk-podman-run /run && mount --bind "$0" /var/lib && exec "$@"'
        return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script,
                str(self.dirs["varlib"]), str(PODMAN), *self.global_flags, *args]

    def __call__(self, *args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout, env=self.env,
                           stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise PodmanError(f"podman {' '.join(args)} exited {r.returncode}:\n{r.stderr.strip()}")
        return r

    def run_flags(self) -> list[str]:
        return ["--rm", "--network", "none", "--cgroup-parent", f"/{self.cgroup}", *ULIMITS]

    def inspect(self, ref: str) -> dict:  # type: ignore[type-arg]
        return json.loads(self("image", "inspect", ref).stdout)[0]

    def cleanup(self) -> None:
        self("rm", "-af", check=False, timeout=60)
        _remove_cgroups(self.cgroup)
        for mp in mounts_under(self.base):  # none expected: podman mounted inside its own namespaces
            if subprocess.run(["umount", mp], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", mp], capture_output=True)
        if not mounts_under(self.base):
            shutil.rmtree(self.base, ignore_errors=True)


def _remove_cgroups(name: str) -> None:
    """SIGKILL whatever is left in our cgroup parent (in every hierarchy), then rmdir it bottom up."""
    cgroups.kill_and_remove(cgroup_roots(name))


@pytest.fixture(scope="module")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Podman]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    p = Podman(tmp_path_factory.mktemp("podman"))
    try:
        yield p
    finally:
        p.cleanup()


@pytest.fixture(scope="module")
def local_image(podman: Podman, busybox_tar: Path) -> tuple[str, str]:
    """The tests/helpers busybox rootfs ``podman import``ed; (reference, image ID)."""
    ref = "localhost/dyk/podman-bb:1"
    image_id = podman(
        "import", *podman.policy,
        "--change", 'CMD ["/bin/busybox", "echo", "hello from podman"]',
        "--change", f'LABEL org.opencontainers.image.description="{DESCRIPTION}"',
        str(busybox_tar), ref,
    ).stdout.strip().splitlines()[-1]
    assert image_id.startswith("sha256:"), image_id
    return ref, image_id.removeprefix("sha256:")


@pytest.fixture(scope="module")
def can_run(podman: Podman, local_image: tuple[str, str]) -> str | None:
    """None if podman can run a container here (a local image, no registry involved), else why not."""
    r = podman("run", *podman.run_flags(), local_image[0], "/bin/busybox", "echo", "ok", check=False)
    if r.returncode == 0 and r.stdout == "ok\n":
        return None
    return f"podman cannot run containers on this machine: {r.stderr.strip()[-500:]}"


def _log_lines(server: RegistryServer) -> list[dict]:  # type: ignore[type-arg]
    out = []
    for line in server.log_path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and "method" in entry:
            out.append(entry)
    return out


def _manifest(client: Client, name: str, reference: str) -> tuple[str, dict]:  # type: ignore[type-arg]
    r = client.request("GET", f"/v2/{name}/manifests/{reference}", headers={"Accept": MANIFEST_TYPES})
    assert r.status == 200, (r.status, r.data)
    digest = r.headers["Docker-Content-Digest"]
    assert digest == "sha256:" + hashlib.sha256(r.data).hexdigest()
    return digest, json.loads(r.data)


def test_podman_push_pull_round_trip(podman: Podman, server: RegistryServer, local_image: tuple[str, str], tmp_path: Path) -> None:
    ref, image_id = local_image
    remote = f"{server.host}/podman/bb:1"
    digestfile = tmp_path / "digest"
    podman("push", *podman.policy, "--tls-verify=false", "--digestfile", str(digestfile), ref, f"docker://{remote}")
    pushed = digestfile.read_text().strip()

    # the registry holds what podman says it pushed: manifest, config = image ID, every layer
    client = Client(server.url)
    digest, manifest = _manifest(client, "podman/bb", "1")
    assert digest == pushed
    assert manifest["config"]["digest"] == f"sha256:{image_id}"
    for blob in [manifest["config"], *manifest["layers"]]:
        head = client.request("HEAD", f"/v2/podman/bb/blobs/{blob['digest']}")
        assert head.status == 200 and int(head.headers["Content-Length"]) == blob["size"]
    config = json.loads(client.request("GET", f"/v2/podman/bb/blobs/{manifest['config']['digest']}").data)
    assert config["config"]["Labels"]["org.opencontainers.image.description"] == DESCRIPTION

    listed = podman("search", "--list-tags", "--tls-verify=false", f"{server.host}/podman/bb").stdout
    assert "1" in listed.split(), listed

    # pull it back into an empty store: same image ID, the digest that was pushed
    podman("rmi", ref)
    assert podman("image", "exists", ref, check=False).returncode != 0
    podman("pull", *podman.policy, "--tls-verify=false", remote)
    inspected = podman.inspect(remote)
    assert inspected["Id"] == image_id
    assert inspected["Digest"] == pushed
    assert f"{server.host}/podman/bb@{pushed}" in inspected["RepoDigests"]
    assert inspected["Labels"]["org.opencontainers.image.description"] == DESCRIPTION
    podman("tag", remote, ref)  # the module's other tests still find the local image


def test_podman_second_push_uploads_nothing(podman: Podman, server: RegistryServer, local_image: tuple[str, str]) -> None:
    ref, _ = local_image
    remote = f"docker://{server.host}/podman/again:1"
    podman("push", *podman.policy, "--tls-verify=false", ref, remote)
    before = len(_log_lines(server))
    podman("push", *podman.policy, "--tls-verify=false", ref, f"docker://{server.host}/podman/again:2")
    second = [(e["method"], e["path"]) for e in _log_lines(server)[before:] if e["path"].startswith("/v2/podman/again")]
    # every blob is found by HEAD; only the manifest is written again
    assert not [m for m in second if m[0] in ("POST", "PATCH")], second
    assert ("PUT", "/v2/podman/again/manifests/2") in second
    client = Client(server.url)
    assert _manifest(client, "podman/again", "1")[0] == _manifest(client, "podman/again", "2")[0]
    tags = client.request("GET", "/v2/podman/again/tags/list").json()["tags"]
    assert sorted(tags) == ["1", "2"]


def test_podman_run_pulled_image(podman: Podman, server: RegistryServer, local_image: tuple[str, str], can_run: str | None) -> None:
    if can_run is not None:
        pytest.skip(can_run)
    ref, image_id = local_image
    remote = f"{server.host}/podman/run:1"
    podman("push", *podman.policy, "--tls-verify=false", ref, f"docker://{remote}")
    podman("rmi", "-f", remote, check=False)
    podman("pull", *podman.policy, "--tls-verify=false", remote)
    assert podman.inspect(remote)["Id"] == image_id
    assert podman("run", *podman.run_flags(), remote, "/bin/busybox", "echo", "ok").stdout == "ok\n"
    assert podman("run", *podman.run_flags(), remote).stdout == "hello from podman\n"  # the image's CMD
    assert podman("ps", "-aq").stdout.strip() == ""  # --rm removed both


def test_podman_load_dockyard_archive_push_docker_schema2_pull_by_digest(
    podman: Podman, server: RegistryServer, busybox_tar: Path, tmp_path: Path, can_run: str | None
) -> None:
    """An archive made by ``dockyard save``, loaded by podman, pushed as Docker schema 2, pulled by digest."""
    dockyard = Dockyard(tmp_path / "dockyard-root")
    image_id = dockyard("import", "-c", 'CMD ["/bin/busybox", "echo", "saved by dockyard"]', str(busybox_tar), "dyk/saved:1").stdout.strip()
    archive = tmp_path / "saved.tar"
    dockyard("save", "-o", str(archive), "dyk/saved:1")
    podman("load", *podman.policy, "-i", str(archive))
    loaded = podman.inspect("dyk/saved:1")
    assert loaded["Id"] == image_id.removeprefix("sha256:")

    remote = f"{server.host}/podman/saved"
    digestfile = tmp_path / "digest"
    podman("push", *podman.policy, "--tls-verify=false", "--format", "v2s2", "--digestfile", str(digestfile),
           "dyk/saved:1", f"docker://{remote}:1")
    pushed = digestfile.read_text().strip()
    client = Client(server.url)
    r = client.request("HEAD", f"/v2/podman/saved/manifests/{pushed}",
                       headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    assert r.status == 200
    assert r.headers["Content-Type"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert r.headers["Docker-Content-Digest"] == pushed

    podman("rmi", "-f", "dyk/saved:1")
    podman("pull", *podman.policy, "--tls-verify=false", f"{remote}@{pushed}")
    pulled = podman.inspect(f"{remote}@{pushed}")
    assert pulled["Id"] == loaded["Id"]
    assert pulled["Digest"] == pushed
    if can_run is None:
        assert podman("run", *podman.run_flags(), f"{remote}@{pushed}").stdout == "saved by dockyard\n"
