"""Fixtures shared by every test: a throw-away store root, the CLI, test images, a private dockerd."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.helpers import images  # noqa: E402
from tests.helpers.dockerd import dockerd_fixture  # noqa: E402,F401  (the session-wide `dockerd` fixture)

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: real overlay mounts and device nodes")


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


class Dockyard:
    """Runs the real ``dockyard`` command against one store root."""

    def __init__(self, root: Path, storage_driver: str | None = None) -> None:
        self.root = root
        self.storage_driver = storage_driver

    def __call__(self, *args: str, input: bytes | None = None, check: bool = True, env: dict[str, str] | None = None) -> Result:
        argv = [sys.executable, "-m", "dockyard", "--root", str(self.root)]
        if self.storage_driver:
            argv += ["--storage-driver", self.storage_driver]
        proc = subprocess.run(
            argv + list(args), input=input, capture_output=True, timeout=300, env={**os.environ, **(env or {})}
        )
        result = Result(proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"))
        if check and proc.returncode != 0:
            raise AssertionError(f"dockyard {' '.join(args)} exited {proc.returncode}:\n{result.stderr}")
        return result

    def raw(self, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        """Bytes on stdout (``save`` to a pipe)."""
        argv = [sys.executable, "-m", "dockyard", "--root", str(self.root), *args]
        return subprocess.run(argv, input=input, capture_output=True, timeout=300)


def tree_digest(root: Path) -> str:
    """A checksum of everything under ``root``: names, types, modes, owners, contents, xattrs."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            h.update(f"{os.path.relpath(path, root)}|{st.st_mode}|{st.st_uid}|{st.st_gid}|{st.st_rdev}".encode())
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as f:
                    h.update(hashlib.sha256(f.read()).digest())
            elif os.path.islink(path):
                h.update(os.readlink(path).encode())
            for key in sorted(os.listxattr(path, follow_symlinks=False)):
                h.update(key.encode() + os.getxattr(path, key, follow_symlinks=False))
    return h.hexdigest()


@pytest.fixture
def store_root(tmp_path: Path) -> Path:
    return tmp_path / "root"


@pytest.fixture
def dockyard(store_root: Path) -> Dockyard:
    return Dockyard(store_root)


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Debian's busybox-static as a small deterministic rootfs tar."""
    return images.busybox_rootfs_tar(tmp_path_factory.mktemp("busybox") / "busybox.tar")


@pytest.fixture(scope="session")
def multilayer_archive(dockerd, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    """A ``docker save`` of a 7-layer image with whiteouts, links, setuid files and an xattr."""
    from tests.helpers.dockerd import multilayer_docker_archive

    return multilayer_docker_archive(dockerd, tmp_path_factory.mktemp("multilayer"))


@pytest.fixture
def no_leaks(store_root: Path) -> Iterator[None]:
    """Fails the test if it leaves mounts under the store root."""
    yield
    with open("/proc/mounts") as f:
        leaked = [line.split()[1] for line in f if str(store_root) in line]
    assert not leaked, f"mounts left behind: {leaked}"
