"""The filesystem-backed registry never waits on its disk on the event loop.

The storage lives on a real ext4 file system (a loop mount) that the test
freezes with ``fsfreeze``, as a snapshot backup does: every write waits in
the kernel until it is thawed, reads still work. While one request's storage
write is stuck there (a worker thread of the server sleeps in the kernel), a
manifest HEAD to the same single worker is answered. Order, not time: the HEAD
is answered before the stuck request, which completes once the disk thaws.
(A blob GET cannot be stalled on a local disk short of a FUSE server; the S3
version of this test, ``test_regsrv_s3_loop.py``, stalls a blob GET.)
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import urllib3

from tests.conftest import needs_root
from tests.registry_server.conftest import Client, RegistryServer
from tests.registry_server.test_regsrv_conformance import OCI_MANIFEST

pytestmark = needs_root

_SAFETY = urllib3.Timeout(connect=5, read=30)  # only so that a broken server fails the test instead of hanging it


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A small ext4 file system of its own, mounted under ``tmp_path``."""
    image, mountpoint = tmp_path / "disk.img", tmp_path / "disk"
    with open(image, "wb") as f:
        f.truncate(64 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True, capture_output=True)
    mountpoint.mkdir()
    subprocess.run(["mount", "-o", "loop,noatime", str(image), str(mountpoint)], check=True, capture_output=True)
    try:
        yield mountpoint
    finally:
        subprocess.run(["fsfreeze", "-u", str(mountpoint)], check=False, capture_output=True)
        subprocess.run(["umount", str(mountpoint)], check=False, capture_output=True)


def _threads_in_kernel_sleep(pid: int) -> list[int]:
    """The process's threads in uninterruptible sleep (state D): waiting on the disk."""
    stuck = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        if stat[stat.rindex(")") + 2] == "D":
            stuck.append(int(task.name))
    return stuck


def test_a_stalled_storage_write_does_not_stall_the_worker(tmp_path: Path, disk: Path, repo: str) -> None:
    server = RegistryServer(disk / "storage", "--workers", "1", log=tmp_path / "server.log")
    with server:
        client = Client(server.url)
        manifest_digest, _ = client.push_image(repo, "v1", [os.urandom(4000)])
        assert server.proc is not None
        subprocess.run(["fsfreeze", "-f", str(disk)], check=True)
        try:
            with ThreadPoolExecutor(1) as pool:
                upload = pool.submit(Client(server.url).request, "POST", f"/v2/{repo}/blobs/uploads/")
                deadline = time.monotonic() + 60
                while not (stuck := _threads_in_kernel_sleep(server.proc.pid)) and time.monotonic() < deadline:
                    time.sleep(0.02)
                assert stuck, "the upload never reached its storage write"
                assert server.proc.pid not in stuck  # a pool thread waits, not the main thread, which runs the event loop
                head = Client(server.url).request("HEAD", f"/v2/{repo}/manifests/v1", headers={"Accept": OCI_MANIFEST}, timeout=_SAFETY)
                assert head.status == 200 and head.headers["Docker-Content-Digest"] == manifest_digest
                assert not upload.done()  # the order asserted: the HEAD was answered while the write was stuck
                subprocess.run(["fsfreeze", "-u", str(disk)], check=True)
                started = upload.result(timeout=60)
        finally:
            subprocess.run(["fsfreeze", "-u", str(disk)], check=False, capture_output=True)
        assert started.status == 202 and started.headers["Location"].startswith(f"/v2/{repo}/blobs/uploads/")
