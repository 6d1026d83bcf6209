"""A container's directory, its root filesystem and the /etc files dockyard writes.

    containers/<id>/
      config.json        the OCI bundle's spec (written at every start)
      rootfs/            mount point of the union (image layers + layer/)
      layer/diff work/   the writable layer (overlay upper); a full copy for vfs
      hosts hostname resolv.conf
      state.json         Status, Pid, ExitCode, times (written by the monitor)
      <id>-json.log      Docker's json-file log
      runc.log init.pid  runc's log and the container's pid
      shm/               its /dev/shm while it runs, for --ipc shareable
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dockyard.archive.paths import confined
from dockyard.storage.mount import Mount, mount_all, unmount

HOSTS = (
    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
)


SHM_DIR = "shm"  # --ipc shareable: the container's /dev/shm, a tmpfs on the host others can join


class Paths:
    def __init__(self, home: Path, cid: str) -> None:
        self.dir = home / cid
        self.rootfs = self.dir / "rootfs"
        self.layer = self.dir / "layer"
        self.spec = self.dir / "config.json"
        self.state = self.dir / "state.json"
        self.log = self.dir / f"{cid}-json.log"
        self.runc_log = self.dir / "runc.log"
        self.pid_file = self.dir / "init.pid"
        self.hosts = self.dir / "hosts"
        self.hostname = self.dir / "hostname"
        self.resolv = self.dir / "resolv.conf"


def resolv_conf(host_text: str) -> str:
    """The host's resolv.conf without loopback nameservers (unreachable from a container), as Docker does."""
    lines = [ln for ln in host_text.splitlines() if not (ln.startswith("nameserver") and _loopback(ln))]
    if not any(ln.startswith("nameserver") for ln in lines):
        lines += ["nameserver 8.8.8.8", "nameserver 8.8.4.4"]
    return "\n".join(lines) + "\n"


def _loopback(line: str) -> bool:
    parts = line.split()
    return len(parts) > 1 and (parts[1].startswith("127.") or parts[1] == "::1")


def write_etc_files(paths: Paths, hostname: str, host_network: bool) -> None:
    try:
        host_resolv = Path("/etc/resolv.conf").read_text()
    except OSError:
        host_resolv = ""
    hosts = Path("/etc/hosts").read_text() if host_network and Path("/etc/hosts").exists() else HOSTS
    paths.hosts.write_text(hosts)
    paths.hostname.write_text(hostname + "\n")
    paths.resolv.write_text(resolv_conf(host_resolv))


def is_mounted(path: Path) -> bool:
    target = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == target for line in f)


def mount_rootfs(mounts: list[Mount], paths: Paths) -> None:
    if not is_mounted(paths.rootfs):
        mount_all(mounts, paths.rootfs)


def unmount_rootfs(paths: Paths) -> None:
    """Idempotent; ``--ipc shareable``'s /dev/shm goes with the root filesystem."""
    for target in (paths.rootfs, paths.dir / SHM_DIR):
        while target.exists() and is_mounted(target):
            unmount(target)


def remove_dir(paths: Paths) -> None:
    unmount_rootfs(paths)
    if paths.dir.exists():
        doomed = paths.dir.with_name(f".removing-{paths.dir.name}")
        os.rename(paths.dir, doomed)
        shutil.rmtree(doomed, ignore_errors=True)


def secure_join(root: Path, path: str) -> Path:
    """``root/path`` with every symlink resolved inside ``root`` (an image cannot point us at the host)."""
    return confined(root, path)
