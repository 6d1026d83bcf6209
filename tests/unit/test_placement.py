"""Where new layer directories land: never in the block group of inodes a removal freed moments ago.

On ext4 without a journal (this VM's root file system) the kernel skips every recently
freed inode when it allocates one; these tests free thousands of inodes for real and check
that the probe sees the cost and that a new layer directory lands in another group.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.conftest import Dockyard  # noqa: E402
from tests.helpers import images  # noqa: E402

from dockyard.storage.driver import Overlay2, Vfs  # noqa: E402
from dockyard.storage.placement import (  # noqa: E402
    NEW_PREFIX,
    SLOW_NS,
    TOPDIR_FL,
    creation_cost_ns,
    make_layer_dir,
    mark_top_dir,
)


def _source(path: Path) -> tuple[str, str]:
    out = subprocess.run(["findmnt", "-n", "-o", "FSTYPE,SOURCE", "-T", str(path)], capture_output=True, text=True)
    fstype, _, source = out.stdout.strip().partition(" ")
    return fstype, source.strip()


def _inodes_per_group(path: Path) -> int | None:
    """From the group count ext4 lists in /proc (the superblock itself needs the block device)."""
    fstype, source = _source(path)
    if fstype != "ext4" or not source.startswith("/dev/"):
        return None
    dev = os.path.basename(os.path.realpath(source))
    try:
        groups = sum(1 for line in open(f"/proc/fs/ext4/{dev}/mb_groups") if line.startswith("#") and ":" in line)
    except OSError:
        return None
    return os.statvfs(path).f_files // groups if groups else None


def _journal_less_ext4(path: Path) -> bool:
    fstype, source = _source(path)
    dev = os.path.basename(os.path.realpath(source))
    jbd2 = Path("/proc/fs/jbd2")
    return fstype == "ext4" and jbd2.is_dir() and not any(e.name.startswith(dev + "-") for e in jbd2.iterdir())


def _group(path: Path, per_group: int) -> int:
    return (os.lstat(path).st_ino - 1) // per_group


def _free_many(directory: Path, count: int = 6000) -> None:
    """Create and delete ``count`` files in ``directory``: recently freed inodes in its group."""
    for i in range(count):
        os.close(os.open(directory / f"f{i}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for i in range(count):
        os.unlink(directory / f"f{i}")
    time.sleep(1.1)  # the kernel counts an inode as recently freed from the second after its deletion


@pytest.fixture
def ext4_home(tmp_path: Path) -> tuple[Path, int]:
    per_group = _inodes_per_group(tmp_path)
    if per_group is None or not _journal_less_ext4(tmp_path):
        pytest.skip("needs ext4 without a journal (the kernel's recently-freed-inode path)")
    home = tmp_path / "home"
    home.mkdir()
    return home, per_group


def test_new_layer_dir_avoids_the_group_a_removal_just_freed(ext4_home: tuple[Path, int]) -> None:
    home, per_group = ext4_home
    old = home / "old-layer"  # the last directory made in home: where the next one would land without placement
    old.mkdir()
    _free_many(old)
    hot = _group(old, per_group)
    assert creation_cost_ns(old) > SLOW_NS  # the kernel scans the freed inodes: what the probe relies on

    made = [make_layer_dir(home, f"layer{i}") for i in range(3)]

    assert all(_group(d, per_group) != hot for d in made)
    # the cheapest of three probes: one probe can catch an interrupt accounted to this thread on a busy machine
    assert all(min(creation_cost_ns(d) for _ in range(3)) < creation_cost_ns(old) for d in made)
    assert sorted(p.name for p in home.iterdir()) == ["layer0", "layer1", "layer2", "old-layer"]  # no try left behind


def test_home_carries_topdir_and_layer_dirs_are_plain(ext4_home: tuple[Path, int]) -> None:
    import array
    import fcntl

    from dockyard.storage.placement import FS_IOC_GETFLAGS

    home, _ = ext4_home
    layer = make_layer_dir(home, "abc")

    def flags(path: Path) -> int:
        fd = os.open(path, os.O_RDONLY)
        try:
            buf = array.array("l", [0])
            fcntl.ioctl(fd, FS_IOC_GETFLAGS, buf)
            return buf[0]
        finally:
            os.close(fd)

    assert flags(home) & TOPDIR_FL
    assert not flags(layer) & TOPDIR_FL  # not inherited: a layer's own subdirectories stay together
    assert list(layer.iterdir()) == []
    with pytest.raises(FileExistsError):
        make_layer_dir(home, "abc")


def test_without_topdir_a_plain_directory_is_made(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if _source(shm)[0] != "tmpfs":
        pytest.skip("needs a tmpfs at /dev/shm")
    home = Path(__import__("tempfile").mkdtemp(dir=shm))
    try:
        assert not mark_top_dir(home)
        assert make_layer_dir(home, "x").is_dir()
        assert os.listdir(home) == ["x"]
    finally:
        import shutil

        shutil.rmtree(home)


@pytest.mark.parametrize("driver", [Overlay2, Vfs])
def test_a_crash_between_tries_leaves_nothing_after_the_sweep(tmp_path: Path, driver: type[Overlay2] | type[Vfs]) -> None:
    if os.geteuid() != 0:
        pytest.skip("the drivers' homes are made as root")
    store = driver(tmp_path / driver.name)
    kept = store.create("kept", [])
    (tmp_path / driver.name / f"{NEW_PREFIX}0123456789abcdef").mkdir()  # a try a kill -9 left

    assert [p.name for p in store.leftovers({"kept"})] == [f"{NEW_PREFIX}0123456789abcdef"]
    store.sweep({"kept"})

    assert store.leftovers({"kept"}) == []
    assert kept.is_dir()


def test_the_next_command_sweeps_a_try_a_kill_left_and_check_finds_the_store_clean(
    tmp_path: Path, dockyard: Dockyard
) -> None:
    if os.geteuid() != 0:
        pytest.skip("the store's layers need root")
    dockyard("import", str(images.busybox_rootfs_tar(tmp_path / "bb.tar")), "bb:1")
    home = dockyard.root / "overlay2"
    left = home / f"{NEW_PREFIX}fedcba9876543210"
    left.mkdir()
    (left / ".probe").touch()  # killed between the probe's create and its unlink

    dockyard("images")

    assert not left.exists()
    assert not [n for n in os.listdir(home) if n.startswith(NEW_PREFIX)]
    assert dockyard("system", "check").stdout.strip().splitlines()[-1] == "store is clean"
    assert dockyard("images", "-q", "bb:1").stdout.strip()
