"""Images and host set-up for the rootless container, network and build tests.

What the set-up changes on the host: ``/dev/net/tun`` is made mode 0666 (as distributions ship it; this
VM has 0600), so that slirp4netns, run by the user, can open it.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.helpers.images import busybox_rootfs_entries, directory, file, layer_tar
from tests.helpers.rootless import RootlessUser

TUN = Path("/dev/net/tun")
APPLETS = ("sh", "ls", "cat", "echo", "true", "id", "sleep", "ps", "kill", "httpd", "wget", "ip", "mkdir", "tty",
           "hostname", "grep", "stat")
INDEX = b"hello from a rootless container\n"


def allow_tun() -> None:
    """slirp4netns opens /dev/net/tun as the user."""
    mode = stat.S_IMODE(os.stat(TUN).st_mode)
    if mode & 0o666 != 0o666:
        os.chmod(TUN, mode | 0o666)


def import_busybox(user: RootlessUser, name: str = "bb") -> str:
    """A busybox image in the user's store (``import`` of a rootfs tar the user can read): httpd serves
    ``/www/index.html``; ``/bin/su0`` is setuid root and becomes root for good (``su0 PROGRAM ARGS``); user 1000 exists."""
    entries = busybox_rootfs_entries(applets=APPLETS)
    entries = [e for e in entries if e.name not in ("etc/passwd", "etc/group")]
    entries += [
        file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\n"),
        file("etc/group", b"root:x:0:\nuser:x:1000:\n"),
        directory("www"),
        file("www/index.html", INDEX),
        file("bin/su0", _su0(user.work), 0o4755),
    ]
    tar = layer_tar(user.work / f"{name}.tar", sorted(entries, key=lambda e: e.name))
    os.chown(tar, user.uid, user.gid)
    user.run(["import", str(tar), name], check=True)
    return name


# setuid root, then all IDs 0 and exec: busybox itself would drop a setuid privilege it does not need
SU0 = "#include <unistd.h>\nint main(int c, char **v) { if (setgid(0) || setuid(0)) return 99; execv(v[1], v + 1); return 98; }\n"


def _su0(work: Path) -> bytes:
    if shutil.which("gcc") is None:
        pytest.skip("gcc (static libc) builds the setuid helper")
    (work / "su0.c").write_text(SU0)
    subprocess.run(["gcc", "-static", "-Os", "-o", str(work / "su0"), str(work / "su0.c")], check=True)
    return (work / "su0").read_bytes()
