"""Layer tars: apply, re-export, whiteouts, safety, sizes, diff tars, compression.

Everything runs against real files and real syscalls (as root): device nodes,
ownership, xattrs (user.*, security.capability, trusted.overlay.*) and real
overlay mounts. Tars come from tarfile (tests.helpers.images), from GNU tar,
or are crafted byte by byte for the malformed cases.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import random
import stat
import struct
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.helpers import images  # noqa: E402
from tests.helpers.images import (  # noqa: E402
    Entry,
    blockdev,
    chardev,
    directory,
    fifo,
    file,
    hardlink,
    layer_tar_bytes,
    opaque_whiteout,
    symlink,
    whiteout,
)

from dockyard.archive import compression  # noqa: E402
from dockyard.archive.apply import AppliedLayer, OPAQUE_XATTR, Whiteouts, apply_layer, directory_size  # noqa: E402
from dockyard.archive.compression import Compression, detect, open_decompressed  # noqa: E402
from dockyard.archive.export import export_layer, write_diff_tar  # noqa: E402
from dockyard.errors import InvalidArchiveError, UnsafePathError  # noqa: E402
from dockyard.oci.digest import Digest  # noqa: E402
from dockyard.storage.driver import Overlay2  # noqa: E402
from dockyard.storage.mount import mount_all, unmount  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: device nodes, chown, trusted.* xattrs, mounts")

MODES = [Whiteouts.OVERLAY, Whiteouts.DELETE]
# VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE, permitted = CAP_NET_BIND_SERVICE
CAPABILITY = struct.pack("<IIIII", 0x02000001, 1 << 10, 0, 0, 0)


# --- helpers -------------------------------------------------------------------


def apply_bytes(data: bytes, dest: Path, mode: Whiteouts = Whiteouts.OVERLAY, split: Path | None = None) -> AppliedLayer:
    dest.mkdir(parents=True, exist_ok=True)
    split = split or dest.parent / (dest.name + ".tarsplit")
    return apply_layer(io.BytesIO(data), dest, mode, split)


def export_bytes(dest: Path, split: Path | None = None) -> bytes:
    split = split or dest.parent / (dest.name + ".tarsplit")
    out = bytearray()
    total = export_layer(dest, split, out.extend)
    assert total == len(out)
    return bytes(out)


def roundtrip(tmp_path: Path, data: bytes, mode: Whiteouts = Whiteouts.OVERLAY, name: str = "layer") -> Path:
    """Apply ``data``, re-export it and check the bytes (and so the diff ID) are unchanged."""
    dest = tmp_path / name
    applied = apply_bytes(data, dest, mode)
    assert applied.diff_id == Digest.of(data)
    assert applied.tar_size == len(data)
    if mode is Whiteouts.OVERLAY:
        assert applied.size == directory_size(dest)
    else:  # a vfs layer's size is the content its own tar carries, as Docker's naive differ counts it
        assert applied.size == sum(m.size for m in tarfile.open(fileobj=io.BytesIO(data)) if m.isreg())
    exported = export_bytes(dest)
    assert len(exported) == len(data)
    assert exported == data, "re-exported layer differs from the applied tar"
    assert hashlib.sha256(exported).hexdigest() == applied.diff_id.hex
    return dest


def xattrs(path: Path | str) -> dict[str, bytes]:
    return {k: os.getxattr(path, k, follow_symlinks=False) for k in os.listxattr(path, follow_symlinks=False)}


def snapshot(root: Path, *, skip_xattrs: tuple[str, ...] = ()) -> dict[str, dict[str, object]]:
    """Every entry under ``root``: type, mode, owner, device, content, link target, hardlink group, xattrs, mtime."""
    out: dict[str, dict[str, object]] = {}
    inodes: dict[int, list[str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            entry: dict[str, object] = {
                "mode": st.st_mode,
                "uid": st.st_uid,
                "gid": st.st_gid,
                "mtime_ns": st.st_mtime_ns,
                "xattrs": {k: v for k, v in xattrs(path).items() if not k.startswith(skip_xattrs)},
            }
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    entry["sha256"] = hashlib.sha256(f.read()).hexdigest()
                inodes.setdefault(st.st_ino, []).append(rel)
                entry["ino"] = st.st_ino
            elif stat.S_ISLNK(st.st_mode):
                entry["target"] = os.readlink(path)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                entry["rdev"] = (os.major(st.st_rdev), os.minor(st.st_rdev))
            out[rel] = entry
    for entry in out.values():
        if "ino" in entry:
            entry["links"] = tuple(sorted(inodes[entry.pop("ino")]))  # type: ignore[index]
    return out


def assert_same_tree(a: dict[str, dict[str, object]], b: dict[str, dict[str, object]], *, mtime_tolerance_ns: int | None = 0,
                     ignore_mtime: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    assert sorted(a) == sorted(b)
    for name in a:
        left, right = dict(a[name]), dict(b[name])
        ma, mb = left.pop("mtime_ns"), right.pop("mtime_ns")
        assert left == right, f"{name}: {left} != {right}"
        if mtime_tolerance_ns is not None and name not in ignore_mtime:
            assert abs(ma - mb) <= mtime_tolerance_ns, f"{name}: mtime {ma} != {mb}"  # type: ignore[operator]


def fix_checksum(block: bytes | bytearray) -> bytes:
    b = bytearray(block)
    b[148:156] = b" " * 8
    b[148:156] = b"%06o\0 " % sum(b)
    return bytes(b)


def ustar_header(name: str, size: int, kind: bytes = tarfile.REGTYPE) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.type = kind
    info.mtime = images.DEFAULT_MTIME
    return info.tobuf(format=tarfile.USTAR_FORMAT)


class Zeros(io.RawIOBase):
    """``head`` followed by endless zero bytes; counts what was read."""

    def __init__(self, head: bytes) -> None:
        self.head = head
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = len(buffer)
        chunk = (self.head[self.consumed : self.consumed + n]).ljust(n, b"\0")
        buffer[:n] = chunk
        self.consumed += n
        if self.consumed > 64 << 20:
            raise AssertionError("reader consumed more than 64 MiB for a header")
        return n


# --- round trip: apply + export is byte-identical ------------------------------------


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
def test_roundtrip_all_entry_types_and_attributes(tmp_path: Path, mode: Whiteouts) -> None:
    tool = b"#!/bin/sh\n" + bytes(range(256)) * 13 + b"tail"  # several blocks, not block-aligned
    data = layer_tar_bytes([
        directory("bin", 0o755, mtime=1600000000),
        directory("tmp", 0o1777, mtime=1600000001),
        directory("srv", 0o2775, uid=1000, gid=1001, mtime=1600000002, xattrs={"user.dir": b"d"}),
        file("bin/tool", tool, 0o4755, uid=0, gid=0, mtime=1600000003,
             xattrs={"user.k": b"v\x00\xff\x01", "security.capability": CAPABILITY}),
        file("bin/sgid", b"x", 0o2711, uid=1, gid=42, mtime=1600000005),
        file("srv/empty", b"", 0o600, uid=1000, gid=1001),
        Entry("bin/sh", "symlink", linkname="tool", uid=5, gid=6, mtime=1600000004),
        hardlink("bin/tool-link", "bin/tool"),
        chardev("dev/null", 1, 3, 0o666),
        blockdev("dev/loop9", 7, 9, 0o660),
        fifo("srv/fifo", 0o620),
    ])
    dest = roundtrip(tmp_path, data, mode)

    st = os.lstat(dest / "bin/tool")
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o4755
    assert (st.st_uid, st.st_gid, st.st_mtime, st.st_nlink) == (0, 0, 1600000003, 2)
    assert (dest / "bin/tool").read_bytes() == tool
    assert xattrs(dest / "bin/tool") == {"user.k": b"v\x00\xff\x01", "security.capability": CAPABILITY}
    assert os.lstat(dest / "bin/tool-link").st_ino == st.st_ino

    st = os.lstat(dest / "bin/sgid")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime) == (0o2711, 1, 42, 1600000005)

    st = os.lstat(dest / "tmp")
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o1777 and st.st_mtime == 1600000001
    st = os.lstat(dest / "srv")  # written into after its header: the mtime is restored at the end
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime) == (0o2775, 1000, 1001, 1600000002)
    assert xattrs(dest / "srv") == {"user.dir": b"d"}
    assert os.lstat(dest / "bin").st_mtime == 1600000000

    st = os.lstat(dest / "bin/sh")
    assert stat.S_ISLNK(st.st_mode) and os.readlink(dest / "bin/sh") == "tool"
    assert (st.st_uid, st.st_gid, st.st_mtime) == (5, 6, 1600000004)

    st = os.lstat(dest / "dev/null")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3) and stat.S_IMODE(st.st_mode) == 0o666
    st = os.lstat(dest / "dev/loop9")
    assert stat.S_ISBLK(st.st_mode) and st.st_rdev == os.makedev(7, 9) and stat.S_IMODE(st.st_mode) == 0o660
    st = os.lstat(dest / "srv/fifo")
    assert stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o620
    assert (dest / "srv/empty").stat().st_size == 0
    assert stat.S_IMODE(os.lstat(dest / "dev").st_mode) == 0o755  # implicit parent


def test_roundtrip_is_byte_identical_for_random_content(tmp_path: Path) -> None:
    blob = os.urandom(3 * 1024 * 1024 + 17)  # larger than the reader's chunk
    data = layer_tar_bytes([file("big", blob), file("small", b"s"), file("exact", b"e" * 512)])
    dest = roundtrip(tmp_path, data)
    assert (dest / "big").read_bytes() == blob


@pytest.mark.parametrize("fmt", ["pax", "gnu", "ustar"])
def test_roundtrip_long_names(tmp_path: Path, fmt: str) -> None:
    if fmt == "ustar":
        # fits USTAR only through its 155-byte prefix field (a hardlink's linkname has no prefix: kept < 100)
        long_dir = "p" * 120
        long_name = f"{long_dir}/{'q' * 90}"
        link_target = "t" * 99
        tar_format = tarfile.USTAR_FORMAT
    else:
        long_dir = "d" * 80 + "/" + "e" * 80
        long_name = f"{long_dir}/{'n' * 150}"
        link_target = "../" + "t" * 200
        tar_format = tarfile.PAX_FORMAT if fmt == "pax" else tarfile.GNU_FORMAT
    # USTAR has no prefix for link names: there the hardlinks point at a short name
    link_to = "short" if fmt == "ustar" else long_name
    data = layer_tar_bytes([
        directory(long_dir.split("/")[0]),
        file(long_name, b"long name content", 0o640),
        file("short", b"short content"),
        symlink(f"{long_dir}/sym", link_target),
        hardlink("short-link", link_to),
        hardlink(f"{long_dir}/{'h' * 90}", link_to),
    ], format=tar_format)
    # make sure the tar really uses the mechanism under test
    if fmt == "pax":
        assert b"path=" in data and b"linkpath=" in data
    elif fmt == "gnu":
        kinds = {data[i + 156 : i + 157] for i in range(0, len(data), 512) if data[i : i + 13] == b"././@LongLink"}
        assert kinds == {b"L", b"K"}
    else:
        headers = [data[i : i + 512] for i in range(0, len(data), 512)]
        assert any(h[257:263] == b"ustar\0" and h[345] != 0 for h in headers)
    dest = roundtrip(tmp_path, data)
    assert (dest / long_name).read_bytes() == b"long name content"
    assert os.readlink(dest / long_dir / "sym") == link_target
    assert os.lstat(dest / "short-link").st_ino == os.lstat(dest / link_to).st_ino
    assert os.lstat(dest / long_dir / ("h" * 90)).st_ino == os.lstat(dest / link_to).st_ino


def _gnu_tar_source(root: Path) -> None:
    root.mkdir()
    os.chmod(root, 0o755)
    d = root / "d"
    d.mkdir()
    os.chown(d, 1000, 1000)
    os.chmod(d, 0o2755)
    f = d / "f"
    f.write_bytes(b"hello\n" * 300)
    os.chown(f, 0, 0)
    os.chmod(f, 0o4755)
    os.setxattr(f, "user.foo", b"bar")
    os.setxattr(f, "security.capability", CAPABILITY)
    os.link(f, d / "hl")
    os.symlink("f", d / "sl")
    long_dir = root / ("x" * 60) / ("y" * 60)
    long_dir.mkdir(parents=True)
    long_file = long_dir / ("z" * 120)
    long_file.write_bytes(b"long")
    os.link(long_file, root / "link-to-long")
    os.symlink("w" * 150, root / "longlink")
    os.mknod(root / "c", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    os.mknod(root / "b", stat.S_IFBLK | 0o640, os.makedev(7, 0))
    os.mkfifo(root / "p", 0o644)
    (root / "empty").touch()
    tmp = root / "tmp"
    tmp.mkdir()
    os.chmod(tmp, 0o1777)
    (tmp / "owned").write_text("1\n")
    os.chown(tmp / "owned", 1234, 5678)
    for path in sorted(root.rglob("*"), key=lambda p: -len(p.parts)):
        os.utime(path, ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789), follow_symlinks=False)


@pytest.mark.parametrize("args", [["--xattrs"], ["--xattrs", "--format=posix"], ["--format=gnu"]],
                         ids=["default-xattrs", "posix-xattrs", "gnu"])
def test_roundtrip_gnu_tar(tmp_path: Path, args: list[str]) -> None:
    src = tmp_path / "src"
    _gnu_tar_source(src)
    tar_path = tmp_path / "layer.tar"
    subprocess.run(["tar", *args, "-cf", str(tar_path), "-C", str(src), "."], check=True)
    data = tar_path.read_bytes()
    assert len(data) % 10240 == 0  # GNU tar pads to its record size: many trailing zero blocks
    dest = roundtrip(tmp_path, data)
    expected = snapshot(src)
    if "--format=gnu" in args:
        for entry in expected.values():
            entry["xattrs"] = {}  # the GNU format cannot carry xattrs
        # the GNU format keeps whole seconds
        assert_same_tree(snapshot(dest), expected, mtime_tolerance_ns=10**9)
    else:
        # PAX keeps nanoseconds (exactness is checked in test_pax_mtime_keeps_nanoseconds)
        assert_same_tree(snapshot(dest), expected, mtime_tolerance_ns=1000)


def test_roundtrip_gnu_tar_with_trailing_zero_blocks(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("a\n")
    data = subprocess.run(["tar", "-cf", "-", "-C", str(src), "a"], check=True, capture_output=True).stdout
    roundtrip(tmp_path, data + b"\0" * 512 * 33)


def test_roundtrip_extra_trailing_zero_blocks(tmp_path: Path) -> None:
    data = layer_tar_bytes([file("a", b"x" * 700)]) + b"\0" * (512 * 25 + 100)
    roundtrip(tmp_path, data)


def test_roundtrip_without_end_of_archive_marker(tmp_path: Path) -> None:
    data = layer_tar_bytes([file("a", b"x" * 700), directory("d")])
    stripped = data.rstrip(b"\0")
    stripped += b"\0" * (-len(stripped) % 512)  # whole member blocks, no zero blocks after the last
    dest = roundtrip(tmp_path, stripped)
    assert (dest / "a").read_bytes() == b"x" * 700 and (dest / "d").is_dir()


def test_trailer_is_bounded(tmp_path: Path) -> None:
    data = layer_tar_bytes([file("a", b"x")]) + b"\0" * (2 << 20)
    with pytest.raises(InvalidArchiveError):
        apply_bytes(data, tmp_path / "dest")


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
def test_roundtrip_file_overwritten_later_in_same_tar(tmp_path: Path, mode: Whiteouts) -> None:
    first = os.urandom(5000)
    data = layer_tar_bytes([
        file("a", first, 0o600, mtime=1000),
        file("b", b"keep"),
        directory("d"),
        file("d/c", b"one"),
        file("a", b"second", 0o644, mtime=2000),
        file("d/c", b"two" * 1000),
    ])
    dest = roundtrip(tmp_path, data, mode)
    assert (dest / "a").read_bytes() == b"second"
    st = os.lstat(dest / "a")
    assert stat.S_IMODE(st.st_mode) == 0o644 and st.st_mtime == 2000
    assert (dest / "d/c").read_bytes() == b"two" * 1000
    assert (dest / "b").read_bytes() == b"keep"


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
def test_roundtrip_file_replaced_by_whiteout_in_same_tar(tmp_path: Path, mode: Whiteouts) -> None:
    data = layer_tar_bytes([
        file("gone", b"g" * 1500),
        directory("dir"),
        file("dir/inner", b"i" * 700),
        file("dir/also-gone", b"a" * 10),
        file("stay", b"s"),
        whiteout("gone"),
        whiteout("dir/also-gone"),
    ])
    dest = roundtrip(tmp_path, data, mode)
    for name in ("gone", "dir/also-gone"):
        if mode is Whiteouts.OVERLAY:
            st = os.lstat(dest / name)
            assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
        else:
            assert not os.path.lexists(dest / name)
    assert (dest / "stay").read_bytes() == b"s"
    assert (dest / "dir/inner").read_bytes() == b"i" * 700


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
def test_roundtrip_directory_replaced_by_whiteout_in_same_tar(tmp_path: Path, mode: Whiteouts) -> None:
    """apply._remove keeps the records of files below a removed directory, so a directory
    the layer wrote and then whited out must apply (and re-export) like a file does."""
    data = layer_tar_bytes([
        directory("dir"),
        file("dir/inner", b"i" * 700),
        directory("dir/sub"),
        file("dir/sub/deep", b"deep"),
        file("stay", b"s"),
        whiteout("dir"),
    ])
    dest = roundtrip(tmp_path, data, mode)
    if mode is Whiteouts.OVERLAY:
        st = os.lstat(dest / "dir")
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    else:
        assert not os.path.lexists(dest / "dir")


def test_directory_replaced_by_file_in_same_tar_keeps_the_file_mtime(tmp_path: Path) -> None:
    """Directory mtimes are restored at the end; one that was replaced meanwhile must not be."""
    data = layer_tar_bytes([
        directory("y", mtime=1000),
        file("y/in", b"in"),
        file("y", b"now a file", mtime=2000),
    ])
    dest = roundtrip(tmp_path, data)
    assert os.lstat(dest / "y").st_mtime == 2000, "the removed directory's mtime was applied to the file"


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
def test_roundtrip_hardlink_whose_target_is_overwritten_later(tmp_path: Path, mode: Whiteouts) -> None:
    original = os.urandom(2000)
    data = layer_tar_bytes([
        file("a", original, 0o755),
        hardlink("b", "a"),
        hardlink("c", "b"),
        file("a", b"replacement"),
        file("b", b"b replaced too"),
    ])
    dest = roundtrip(tmp_path, data, mode)
    assert (dest / "a").read_bytes() == b"replacement"
    assert (dest / "b").read_bytes() == b"b replaced too"
    assert (dest / "c").read_bytes() == original
    assert len({os.lstat(dest / n).st_ino for n in "abc"}) == 3


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
def test_roundtrip_type_changes_in_same_tar(tmp_path: Path, mode: Whiteouts) -> None:
    data = layer_tar_bytes([
        file("x", b"file first" * 100),
        directory("x"),  # file -> directory
        file("x/in", b"in"),
        directory("y"),
        file("y/in", b"y" * 600),
        file("y", b"dir -> file"),  # directory (with a recorded file) -> file
        file("z", b"z" * 513),
        symlink("z", "x/in"),  # file -> symlink
        file("w", b"w"),
        fifo("w"),  # file -> fifo
    ])
    dest = roundtrip(tmp_path, data, mode)
    assert (dest / "x").is_dir() and (dest / "x/in").read_bytes() == b"in"
    assert (dest / "y").read_bytes() == b"dir -> file"
    assert os.readlink(dest / "z") == "x/in"
    assert stat.S_ISFIFO(os.lstat(dest / "w").st_mode)


def test_repeated_directory_header_last_one_wins(tmp_path: Path) -> None:
    """Later members override earlier ones, for directories too (as Docker and tar do)."""
    data = layer_tar_bytes([
        directory("d", 0o755, mtime=1000),
        file("d/f", b"f"),
        directory("d", 0o700, uid=7, gid=8, mtime=2000),
    ])
    dest = roundtrip(tmp_path, data)
    st = os.lstat(dest / "d")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o700, 7, 8)
    assert st.st_mtime == 2000, f"directory mtime is the first header's ({st.st_mtime}), not the last one's (2000)"


def test_pax_mtime_keeps_nanoseconds(tmp_path: Path) -> None:
    """Go's tar reader and Docker keep PAX mtimes to the nanosecond."""
    data = layer_tar_bytes([
        Entry("d", "dir", mode=0o755, pax={"mtime": "1700000000.123456789"}),
        Entry("d/f", "file", b"x", mode=0o644, pax={"mtime": "1700000000.987654321"}),
    ])
    dest = roundtrip(tmp_path, data)
    assert os.lstat(dest / "d/f").st_mtime_ns == 1_700_000_000_987_654_321
    assert os.lstat(dest / "d").st_mtime_ns == 1_700_000_000_123_456_789


def test_pax_global_headers_do_not_change_members(tmp_path: Path) -> None:
    """Go's reader hands a global header ('g') out as an entry of its own and Docker's
    Unpack skips it, so it changes no member: the layer must extract as Docker extracts it."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT,
                      pax_headers={"uid": "1234", "gid": "4321", "mtime": "1", "comment": "made by a tool"}) as tar:
        for entry in (directory("d", mtime=1600000000), file("d/a", b"a", mtime=1600000001)):
            tar.addfile(entry.tarinfo(images.DEFAULT_MTIME), io.BytesIO(entry.content) if entry.type == "file" else None)
    data = buf.getvalue()
    assert data[156:157] == b"g"
    dest = roundtrip(tmp_path, data)
    st = os.lstat(dest / "d/a")
    assert (st.st_uid, st.st_gid, st.st_mtime) == (0, 0, 1600000001)
    st = os.lstat(dest / "d")
    assert (st.st_uid, st.st_gid, st.st_mtime) == (0, 0, 1600000000)


def test_root_entry_sets_root_attributes(tmp_path: Path) -> None:
    data = layer_tar_bytes([directory(".", 0o700, uid=3, gid=4, mtime=1234567890), file("./a", b"a")])
    dest = roundtrip(tmp_path, data)
    st = os.lstat(dest)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime) == (0o700, 3, 4, 1234567890)


# --- whiteouts --------------------------------------------------------------------


def test_overlay_whiteouts_become_char_devices_and_opaque_xattrs(tmp_path: Path) -> None:
    data = layer_tar_bytes([
        directory("etc"),
        Entry("etc/.wh.motd", "file", mode=0o644, uid=1000, gid=1001),
        directory("var"),
        opaque_whiteout("var"),
        file("var/new", b"n"),
        opaque_whiteout("implicit/dir"),  # parents created as needed
        whiteout("top"),
        directory(".wh..wh.plnk"),  # AUFS bookkeeping: skipped
    ])
    dest = roundtrip(tmp_path, data, Whiteouts.OVERLAY)
    st = os.lstat(dest / "etc/motd")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)
    assert (st.st_uid, st.st_gid) == (1000, 1001)
    assert stat.S_ISCHR(os.lstat(dest / "top").st_mode) and os.lstat(dest / "top").st_rdev == 0
    assert os.getxattr(dest / "var", OPAQUE_XATTR) == b"y"
    assert os.getxattr(dest / "implicit/dir", OPAQUE_XATTR) == b"y"
    assert (dest / "var/new").read_bytes() == b"n"
    assert OPAQUE_XATTR not in os.listxattr(dest / "etc")
    names = {p.name for p in dest.rglob("*")}
    assert not any(n.startswith(".wh.") for n in names), names


BASE_TREE = [
    directory("etc"),
    file("etc/motd", b"motd"),
    file("etc/keep", b"keep"),
    directory("var"),
    directory("var/cache"),
    file("var/cache/a", b"a"),
    directory("var/cache/sub"),
    file("var/cache/sub/b", b"b"),
    directory("opt"),
    file("opt/x", b"x"),
    directory("opt/sub"),
    file("opt/sub/y", b"y"),
    directory("srv"),
    file("srv/old", b"old"),
    file("rootfile", b"L1"),
]


def test_delete_mode_removes_lower_content(tmp_path: Path) -> None:
    dest = tmp_path / "vfs"
    apply_bytes(layer_tar_bytes(BASE_TREE), dest, Whiteouts.DELETE, tmp_path / "l1.ts")
    child = layer_tar_bytes([
        whiteout("etc/motd"),
        whiteout("var/cache/sub"),
        whiteout("never-existed"),
        # opaque marker first, then the layer's own entries (Docker's order)
        directory("opt"),
        opaque_whiteout("opt"),
        file("opt/new", b"new"),
        directory("opt/sub"),
        file("opt/sub/mine", b"mine"),
        # opaque marker after the layer's own entries: those stay, the lower ones go
        directory("srv"),
        file("srv/mine", b"mine"),
        opaque_whiteout("srv"),
        file("rootfile", b"L2"),
    ])
    applied = apply_bytes(child, dest, Whiteouts.DELETE, tmp_path / "l2.ts")
    assert applied.diff_id == Digest.of(child)
    assert not os.path.lexists(dest / "etc/motd")
    assert (dest / "etc/keep").read_bytes() == b"keep"
    assert not os.path.lexists(dest / "var/cache/sub")
    assert (dest / "var/cache/a").read_bytes() == b"a"
    assert not os.path.lexists(dest / "never-existed")
    assert sorted(os.listdir(dest / "opt")) == ["new", "sub"]
    assert os.listdir(dest / "opt/sub") == ["mine"]
    assert os.listdir(dest / "srv") == ["mine"]
    assert (dest / "rootfile").read_bytes() == b"L2"
    assert not [p for p in dest.rglob("*") if p.name.startswith(".wh.") or stat.S_ISCHR(p.lstat().st_mode)]
    assert not any(OPAQUE_XATTR in os.listxattr(p, follow_symlinks=False) for p in [dest, *dest.rglob("*")])


@contextlib.contextmanager
def mounted_stack(driver: Overlay2, cache_ids: list[str], target: Path) -> Iterator[Path]:
    target.mkdir(parents=True, exist_ok=True)
    mount_all(driver.mounts(cache_ids, None), target)
    try:
        yield target
    finally:
        unmount(target)


def build_overlay_stack(home: Path, tars: list[bytes]) -> tuple[Overlay2, list[str]]:
    driver = Overlay2(home)
    caches: list[str] = []
    for i, data in enumerate(tars):
        cache_id = f"layer{i}"
        diff = driver.create(cache_id, list(caches))
        apply_layer(io.BytesIO(data), diff, Whiteouts.OVERLAY, home / cache_id / "tar-split")
        caches.append(cache_id)
    return driver, caches


def build_vfs(dest: Path, tars: list[bytes]) -> Path:
    dest.mkdir(parents=True)
    for i, data in enumerate(tars):
        apply_layer(io.BytesIO(data), dest, Whiteouts.DELETE, dest.parent / f"vfs{i}.ts")
    return dest


def visible(root: Path) -> dict[str, object]:
    """What a container sees: names with type and content."""
    out: dict[str, object] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, root)
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    out[rel] = f.read()
            elif stat.S_ISLNK(st.st_mode):
                out[rel] = ("symlink", os.readlink(path))
            else:
                out[rel] = ("mode", stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode))
    return out


STACK = [
    layer_tar_bytes(BASE_TREE),
    layer_tar_bytes([
        whiteout("etc/motd"),
        file("rootfile", b"L2"),
        directory("opt"),
        opaque_whiteout("opt"),
        file("opt/new", b"new"),
        file("etc/added", b"added"),
        file("var/cache/a", b"a2"),
    ]),
    layer_tar_bytes([
        whiteout("var/cache/sub"),
        file("etc/keep", b"L3"),
        whiteout("etc/added"),
        directory("srv"),
        opaque_whiteout("srv"),
        symlink("srv/link", "../etc/keep"),
    ]),
]


def test_real_overlay_mount_shows_the_union(tmp_path: Path) -> None:
    driver, caches = build_overlay_stack(tmp_path / "overlay2", STACK)
    assert driver.mounts(caches, None)[0].type == "overlay"
    with mounted_stack(driver, caches, tmp_path / "merged") as merged:
        assert not os.path.lexists(merged / "etc/motd")  # whiteout in layer 2
        assert not os.path.lexists(merged / "etc/added")  # added in 2, whited out in 3
        assert (merged / "etc/keep").read_bytes() == b"L3"  # upper overrides
        assert (merged / "rootfile").read_bytes() == b"L2"
        assert sorted(os.listdir(merged / "opt")) == ["new"]  # opaque in layer 2
        assert sorted(os.listdir(merged / "var/cache")) == ["a"]  # sub whited out in layer 3
        assert (merged / "var/cache/a").read_bytes() == b"a2"
        assert sorted(os.listdir(merged / "srv")) == ["link"]  # opaque in layer 3
        assert (merged / "srv/link").read_bytes() == b"L3"
        assert sorted(os.listdir(merged / "etc")) == ["keep"]
        assert not [n for n in visible(merged) if ".wh." in n]


def test_vfs_delete_mode_matches_overlay_union(tmp_path: Path) -> None:
    driver, caches = build_overlay_stack(tmp_path / "overlay2", STACK)
    vfs = build_vfs(tmp_path / "vfs", STACK)
    with mounted_stack(driver, caches, tmp_path / "merged") as merged:
        union = visible(merged)
    assert visible(vfs) == union


def test_delete_mode_opaque_after_children_hides_lower_content_in_rewritten_subdirs(tmp_path: Path) -> None:
    """An opaque directory hides everything the lower layers had below it, also below
    subdirectories this layer wrote before the marker (overlay does, so vfs must too)."""
    lower = layer_tar_bytes([
        directory("d"),
        file("d/lowerfile", b"l"),
        directory("d/sub"),
        file("d/sub/old", b"old"),
    ])
    upper = layer_tar_bytes([
        directory("d"),
        directory("d/sub"),
        file("d/sub/new", b"new"),
        opaque_whiteout("d"),  # after the layer's own children
    ])
    driver, caches = build_overlay_stack(tmp_path / "overlay2", [lower, upper])
    with mounted_stack(driver, caches, tmp_path / "merged") as merged:
        union = visible(merged)
    assert "d/sub/old" not in union and union["d/sub/new"] == b"new"
    vfs = visible(build_vfs(tmp_path / "vfs", [lower, upper]))
    assert vfs == union, f"vfs (DELETE) result {sorted(vfs)} differs from the overlay union {sorted(union)}"


# --- safety -----------------------------------------------------------------------


@pytest.fixture
def box(tmp_path: Path) -> Path:
    """``box/dest`` is the layer root; ``box/sentinel`` must never change."""
    box = tmp_path / "box"
    (box / "dest").mkdir(parents=True)
    (box / "sentinel").mkdir()
    (box / "sentinel" / "passwd").write_text("sentinel\n")
    os.utime(box / "sentinel" / "passwd", (1000, 1000))
    return box


def outside(box: Path) -> dict[str, object]:
    """Everything in ``box`` except the layer root, plus the host's /etc/passwd."""
    state: dict[str, object] = {}
    paths: list[Path] = []
    if box.exists():
        for top in box.iterdir():
            if top.name != "dest":
                paths += [top, *top.rglob("*")] if top.is_dir() and not top.is_symlink() else [top]
    for path in sorted(paths):
        if True:
            st = path.lstat()
            state[str(path)] = (st.st_mode, st.st_mtime_ns, st.st_nlink, path.read_bytes() if path.is_file() else None)
    state["box-exists"] = box.is_dir()
    state["dest-exists"] = (box / "dest").is_dir()
    with open("/etc/passwd", "rb") as f:
        state["/etc/passwd"] = (hashlib.sha256(f.read()).hexdigest(), os.stat("/etc/passwd").st_nlink)
    return state


def unsafe_cases(box: Path) -> dict[str, list[Entry]]:
    sentinel = str(box / "sentinel")
    return {
        "dotdot-name": [file("../escaped", b"x")],
        "dotdot-into-sentinel": [file("../sentinel/passwd", b"pwned")],
        "dotdot-dir": [directory("../newdir")],
        "nested-dotdot-name": [file("a/../../escaped", b"x")],
        "deep-nested-dotdot-name": [directory("a"), file("a/b/../../../sentinel/passwd", b"pwned")],
        "symlink-to-root-then-file": [symlink("l", "/"), file("l" + sentinel + "/passwd", b"pwned")],
        "symlink-to-root-then-dir": [symlink("l", "/"), directory("l" + sentinel + "/newdir")],
        "symlink-to-dotdot": [symlink("up", "..")],
        "symlink-to-dotdot-then-file": [symlink("up", ".."), file("up/sentinel/passwd", b"pwned")],
        "symlink-climbs-out": [symlink("s", "../sentinel")],
        "symlink-in-subdir-climbs-out": [directory("d"), symlink("d/s", "../../sentinel")],
        "symlink-deep-climbs-out": [symlink("d/e/s", "../../../../x")],
        "symlink-in-subdir-climbs-out-then-file": [symlink("d/s", "../../sentinel"), file("d/s/passwd", b"pwned")],
        "dir-replaced-by-symlink-then-file": [directory("d"), symlink("d", sentinel), file("d/passwd", b"pwned")],
        "nested-dir-replaced-by-symlink-then-file": [
            directory("d"), directory("d/e"), symlink("d", sentinel), file("d/e/x", b"pwned")],
        "hardlink-dotdot": [hardlink("h", "../../etc/passwd")],
        "hardlink-dotdot-sentinel": [hardlink("h", "../sentinel/passwd")],
        "hardlink-nested-dotdot": [hardlink("h", "a/../../sentinel/passwd")],
        "hardlink-through-abs-symlinked-dir": [symlink("l", sentinel), hardlink("h", "l/passwd")],
        "hardlink-through-symlinked-dir-to-etc": [symlink("l", "/etc"), hardlink("h", "l/passwd")],
        "hardlink-through-relative-symlinked-dir": [
            directory("d"), file("d/f", b"f"), symlink("l", "d"), hardlink("h", "l/f")],
        "whiteout-through-symlink": [symlink("l", str(box)), whiteout("l/sentinel")],
        "opaque-through-symlink": [symlink("l", sentinel), opaque_whiteout("l")],
        "whiteout-of-dotdot": [file(".wh...", b"")],
        "whiteout-of-dotdot-in-subdir": [directory("d"), file("d/.wh...", b"")],
    }


UNSAFE_IDS = sorted(unsafe_cases(Path("/x")))


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
@pytest.mark.parametrize("case", UNSAFE_IDS)
def test_unsafe_layers_are_rejected_and_write_nothing_outside(box: Path, case: str, mode: Whiteouts) -> None:
    entries = unsafe_cases(box)[case]
    before = outside(box)
    try:
        apply_layer(io.BytesIO(layer_tar_bytes(entries)), box / "dest", mode, box / "split")
        raised: BaseException | None = None
    except Exception as exc:  # noqa: BLE001 - inspected below
        raised = exc
    (box / "split").unlink(missing_ok=True)
    assert outside(box) == before, f"{case}: something outside the layer root was created, changed or removed"
    assert isinstance(raised, InvalidArchiveError), f"{case}: expected UnsafePathError/InvalidArchiveError, got {raised!r}"
    if case.startswith(("dotdot", "symlink", "dir-replaced", "nested-dir", "hardlink-through", "whiteout-through",
                        "opaque-through", "nested-dotdot", "deep-nested")):
        assert isinstance(raised, UnsafePathError), f"{case}: {raised!r}"


def test_absolute_names_land_inside_the_root(box: Path) -> None:
    before = outside(box)
    data = layer_tar_bytes([
        file("/etc/passwd", b"layer passwd\n"),
        file("/../../abs-dotdot", b"y"),
        file("./a//b/./c", b"c"),
        symlink("/abs-link", "/etc/passwd"),  # an absolute target stays within the root when resolved there
        hardlink("/etc/hl", "/etc/passwd"),
    ])
    dest = box / "dest"
    apply_layer(io.BytesIO(data), dest, Whiteouts.OVERLAY, box / "split")
    (box / "split").unlink()
    assert outside(box) == before
    assert (dest / "etc/passwd").read_bytes() == b"layer passwd\n"
    assert (dest / "abs-dotdot").read_bytes() == b"y"
    assert (dest / "a/b/c").read_bytes() == b"c"
    assert os.readlink(dest / "abs-link") == "/etc/passwd"
    assert os.lstat(dest / "etc/hl").st_ino == os.lstat(dest / "etc/passwd").st_ino
    assert os.lstat(dest / "etc/hl").st_ino != os.stat("/etc/passwd").st_ino


def test_names_and_link_targets_that_merely_start_with_dots_are_inside(tmp_path: Path) -> None:
    """``..data`` is a name inside the root (Kubernetes' atomic-writer layout uses it), not ``../``."""
    data = layer_tar_bytes([
        directory("..2024_01_01"),
        file("..2024_01_01/config", b"c"),
        symlink("..data", "..2024_01_01"),
        symlink("config", "..data/config"),
        directory("sub"),
        symlink("sub/up", "../..data"),
        file("...", b"three dots"),
        hardlink("hl", "..2024_01_01/config"),
    ])
    dest = roundtrip(tmp_path, data)
    assert os.readlink(dest / "..data") == "..2024_01_01"
    assert (dest / "config").read_bytes() == b"c"
    assert os.readlink(dest / "sub/up") == "../..data"
    assert (dest / "...").read_bytes() == b"three dots"


def test_hardlink_to_missing_target_is_invalid(tmp_path: Path) -> None:
    with pytest.raises(InvalidArchiveError):
        apply_bytes(layer_tar_bytes([hardlink("h", "nothing-here")]), tmp_path / "dest")


# --- malformed tars ------------------------------------------------------------------


def _sample_tar() -> bytes:
    return layer_tar_bytes([directory("d"), file("d/a", b"A" * 3000), file("b", b"B" * 10)])


@pytest.mark.parametrize("cut", [100, 511, 512 + 100, 1024, 1024 + 1, 1024 + 512, 1024 + 2999, 1024 + 3000, 1024 + 3100])
def test_truncated_tar_is_invalid(tmp_path: Path, cut: int) -> None:
    # block 0: "d/", block 1: "d/a", blocks 2-7: its 3000 bytes and padding, block 8: "b"
    data = layer_tar_bytes([directory("d"), file("d/a", b"A" * 3000), file("b", b"B" * 10)], format=tarfile.USTAR_FORMAT)
    assert data[512:515] == b"d/a" and data[4096:4097] == b"b"
    with pytest.raises(InvalidArchiveError):
        apply_bytes(data[:cut], tmp_path / "dest")


def test_truncated_pax_header_is_invalid(tmp_path: Path) -> None:
    data = layer_tar_bytes([file("p" * 150, b"x")])  # PAX header first
    with pytest.raises(InvalidArchiveError):
        apply_bytes(data[:700], tmp_path / "dest")


@pytest.mark.parametrize("offset", [0, 100, 130, 150, 156, 200, 500])
def test_corrupt_header_checksum_is_invalid(tmp_path: Path, offset: int) -> None:
    data = bytearray(_sample_tar())
    second = 512  # header of d/a
    data[second + offset] ^= 0x55
    with pytest.raises(InvalidArchiveError):
        apply_bytes(bytes(data), tmp_path / "dest")


def test_not_a_tar_is_invalid(tmp_path: Path) -> None:
    with pytest.raises(InvalidArchiveError):
        apply_bytes(os.urandom(4096), tmp_path / "dest")


def test_huge_pax_header_is_bounded() -> None:
    header = ustar_header("PaxHeaders/x", 0o77777777777, b"x")  # claims 8 GiB of PAX records
    source = Zeros(header)
    with tempfile.TemporaryDirectory() as tmp, pytest.raises(InvalidArchiveError):
        apply_layer(io.BufferedReader(source), Path(tmp), Whiteouts.OVERLAY, Path(tmp) / "split")
    assert source.consumed <= 4 << 20


def test_pax_header_just_over_the_limit_is_invalid(tmp_path: Path) -> None:
    record = b"c" * ((1 << 20) + 1)  # the declared size alone is over the bound
    header = ustar_header("PaxHeaders/x", len(record), b"x")
    data = header + record + b"\0" * (-len(record) % 512) + layer_tar_bytes([file("a", b"a")], format=tarfile.USTAR_FORMAT)
    with pytest.raises(InvalidArchiveError):
        apply_bytes(data, tmp_path / "dest")


def test_huge_gnu_long_name_is_bounded() -> None:
    header = ustar_header("././@LongLink", 1 << 30, b"L")
    source = Zeros(header)
    with tempfile.TemporaryDirectory() as tmp, pytest.raises(InvalidArchiveError):
        apply_layer(io.BufferedReader(source), Path(tmp), Whiteouts.OVERLAY, Path(tmp) / "split")
    assert source.consumed <= 4 << 20


@pytest.mark.parametrize("record", [b"abc path=x\n", b"5 path=x\n", b"12 pathx\n\n\n\n", b"0 =\n"])
def test_malformed_pax_record_is_invalid(tmp_path: Path, record: bytes) -> None:
    header = ustar_header("PaxHeaders/x", len(record), b"x")
    data = header + record + b"\0" * (-len(record) % 512) + layer_tar_bytes([file("a", b"a")], format=tarfile.USTAR_FORMAT)
    with pytest.raises(InvalidArchiveError):
        apply_bytes(data, tmp_path / "dest")


@pytest.mark.parametrize("key,value", [("size", "ten"), ("uid", "root"), ("gid", "-x"), ("mtime", "yesterday")])
def test_non_numeric_pax_values_are_invalid(tmp_path: Path, key: str, value: str) -> None:
    """Go's reader fails such a header with ErrHeader; it must not escape as a bare ValueError."""
    data = layer_tar_bytes([Entry("f", "file", b"x", mode=0o644, pax={key: value})])
    with pytest.raises(InvalidArchiveError):
        apply_bytes(data, tmp_path / "dest")


def test_negative_pax_size_is_invalid(tmp_path: Path) -> None:
    data = layer_tar_bytes([Entry("f", "file", b"", mode=0o644, pax={"size": "-1"})])
    with pytest.raises(InvalidArchiveError):
        apply_bytes(data, tmp_path / "dest")


def test_gnu_sparse_file_from_gnu_tar_is_unsupported(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    with open(src / "sparse", "wb") as f:
        f.truncate(1 << 20)
        f.seek(500_000)
        f.write(b"data")
    tar_path = tmp_path / "sparse.tar"
    subprocess.run(["tar", "--sparse", "--format=gnu", "-cf", str(tar_path), "-C", str(src), "sparse"], check=True)
    data = tar_path.read_bytes()
    assert data[156:157] == b"S"
    with pytest.raises(InvalidArchiveError, match="unsupported"):
        apply_bytes(data, tmp_path / "dest")


@pytest.mark.parametrize("kind", [b"S", b"V", b"M", b"N", b"D", b"A", b"Z"])
def test_unsupported_entry_types_are_invalid(tmp_path: Path, kind: bytes) -> None:
    data = bytearray(layer_tar_bytes([file("a", b"x")], format=tarfile.USTAR_FORMAT))
    data[156:157] = kind
    data[0:512] = fix_checksum(data[0:512])
    with pytest.raises(InvalidArchiveError):
        apply_bytes(bytes(data), tmp_path / "dest")


def test_crafted_header_with_fixed_checksum_is_accepted(tmp_path: Path) -> None:
    """Control for the cases above: fix_checksum produces headers the reader accepts."""
    data = bytearray(layer_tar_bytes([file("a", b"x")], format=tarfile.USTAR_FORMAT))
    data[0:1] = b"b"
    data[0:512] = fix_checksum(data[0:512])
    dest = roundtrip(tmp_path, bytes(data))
    assert (dest / "b").read_bytes() == b"x"


# --- directory_size -------------------------------------------------------------------


def test_directory_size_follows_dockers_rule(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "d" / "e").mkdir(parents=True)
    (root / "a").write_bytes(b"a" * 1000)
    os.link(root / "a", root / "a2")  # same inode: once
    os.link(root / "a", root / "d" / "a3")
    os.symlink("a", root / "s")  # 1
    os.symlink("some/longer/target", root / "d" / "s2")  # 18
    (root / "empty").touch()
    (root / "d" / "e" / "b").write_bytes(b"b" * 5)
    os.mkfifo(root / "p")
    os.mknod(root / "c", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    os.mknod(root / "wh", stat.S_IFCHR | 0o600, 0)
    with open(root / "sparse", "wb") as f:
        f.truncate(1 << 20)  # apparent size counts, as Docker's st_size does
    assert directory_size(root) == 1000 + 1 + 18 + 5 + (1 << 20)
    assert directory_size(tmp_path / "root" / "d" / "e") == 5


def test_applied_layer_size_is_dockers_size(tmp_path: Path) -> None:
    data = layer_tar_bytes([
        file("a", b"a" * 1000),
        hardlink("b", "a"),
        symlink("s", "a" * 40),
        directory("d"),
        file("d/x", b"x" * 24),
        chardev("c", 1, 3),
        whiteout("gone"),
    ])
    dest = tmp_path / "dest"
    applied = apply_bytes(data, dest)
    assert applied.size == 1000 + 40 + 24


# --- write_diff_tar ----------------------------------------------------------------------


def build_diff_tree(root: Path, *, reverse: bool = False) -> None:
    """A container's upper dir: every entry type, whiteouts, an opaque dir; fixed mtimes."""
    steps = []
    steps.append(lambda: (root / "etc").mkdir(parents=True))
    steps.append(lambda: (root / "opaque").mkdir())
    steps.append(lambda: (root / "empty-dir").mkdir())
    for step in steps:
        step()
    actions = [
        lambda: (root / "etc/hosts").write_bytes(b"127.0.0.1 localhost\n"),
        lambda: (root / "opaque/kept").write_bytes(b"k" * 2000),
        lambda: os.mknod(root / "etc/removed", stat.S_IFCHR | 0o600, 0),
        lambda: os.mknod(root / "gone-dir", stat.S_IFCHR | 0o600, 0),
        lambda: os.symlink("hosts", root / "etc/hosts.link"),
        lambda: os.mknod(root / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3)),
        lambda: os.mknod(root / "loop", stat.S_IFBLK | 0o660, os.makedev(7, 1)),
        lambda: os.mkfifo(root / "fifo", 0o600),
        lambda: (root / "suid").write_bytes(b"#!/bin/sh\n"),
    ]
    for action in reversed(actions) if reverse else actions:
        action()
    os.link(root / "etc/hosts", root / "hosts-hardlink")
    os.chmod(root / "suid", 0o4755)
    os.chown(root / "etc/hosts", 1000, 1001)
    os.setxattr(root / "etc/hosts", "user.note", b"\x00binary\xff")
    os.setxattr(root / "suid", "security.capability", CAPABILITY)
    os.setxattr(root / "opaque", OPAQUE_XATTR, b"y")
    os.setxattr(root / "etc/hosts", "trusted.overlay.origin", b"host-only")
    for i, path in enumerate(sorted(root.rglob("*"), key=lambda p: (-len(p.parts), str(p)))):
        os.utime(path, (1_600_000_000 + i, 1_600_000_000 + i), follow_symlinks=False)
    os.utime(root / "etc/hosts", (4_000_000_000, 4_000_000_000))  # in the future


def diff_tar(root: Path, **kwargs: object) -> bytes:
    out = io.BytesIO()
    write_diff_tar(root, out, **kwargs)  # type: ignore[arg-type]
    return out.getvalue()


def test_write_diff_tar_is_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    build_diff_tree(a)
    build_diff_tree(b, reverse=True)  # other creation order, other inode numbers
    first = diff_tar(a, clamp_mtime=1_700_000_000)
    assert diff_tar(a, clamp_mtime=1_700_000_000) == first
    assert diff_tar(b, clamp_mtime=1_700_000_000) == first
    assert diff_tar(a) == diff_tar(b)


def test_write_diff_tar_converts_overlay_whiteouts(tmp_path: Path) -> None:
    root = tmp_path / "upper"
    build_diff_tree(root)
    with tarfile.open(fileobj=io.BytesIO(diff_tar(root)), mode="r:") as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert "etc/.wh.removed" in names and ".wh.gone-dir" in names
    assert "etc/removed" not in names and "gone-dir" not in names
    opaque_at = names.index("opaque")
    assert names[opaque_at + 1] == "opaque/.wh..wh..opq"  # right after its directory, before its children
    assert names.index("opaque/kept") > opaque_at + 1
    by_name = {m.name: m for m in members}
    assert by_name["etc/.wh.removed"].isreg() and by_name["etc/.wh.removed"].size == 0
    assert by_name["hosts-hardlink"].islnk() and by_name["hosts-hardlink"].linkname == "etc/hosts"
    assert by_name["null"].ischr() and (by_name["null"].devmajor, by_name["null"].devminor) == (1, 3)
    assert by_name["loop"].isblk() and by_name["fifo"].isfifo()
    for m in members:
        assert not any("trusted.overlay" in k for k in m.pax_headers), m.name
    hosts = by_name["etc/hosts"]
    assert hosts.pax_headers["SCHILY.xattr.user.note"].encode("utf-8", "surrogateescape") == b"\x00binary\xff"
    # parents come before children, siblings sorted
    for i, name in enumerate(names):
        parent = name.rsplit("/", 1)[0] if "/" in name else None
        if parent:
            assert parent in names[:i]


def test_write_diff_tar_clamps_mtimes(tmp_path: Path) -> None:
    root = tmp_path / "upper"
    build_diff_tree(root)
    clamp = 1_600_000_005
    with tarfile.open(fileobj=io.BytesIO(diff_tar(root, clamp_mtime=clamp)), mode="r:") as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["etc/hosts"].mtime == clamp
    assert all(m.mtime <= clamp for m in members.values())
    old = os.lstat(root / "etc/hosts.link").st_mtime
    assert old < clamp and members["etc/hosts.link"].mtime == int(old)
    with tarfile.open(fileobj=io.BytesIO(diff_tar(root)), mode="r:") as tar:
        assert tar.getmember("etc/hosts").mtime == 4_000_000_000


def test_write_diff_tar_output_reproduces_the_tree(tmp_path: Path) -> None:
    root = tmp_path / "upper"
    build_diff_tree(root)
    data = diff_tar(root)
    dest = roundtrip(tmp_path, data, Whiteouts.OVERLAY, name="copy")
    expected = snapshot(root, skip_xattrs=("trusted.overlay.origin",))
    whiteouts = {n for n, e in expected.items() if stat.S_ISCHR(e["mode"]) and e.get("rdev") == (0, 0)}  # type: ignore[arg-type]
    for name in whiteouts:  # a whiteout keeps only its kind (Docker does the same)
        for e in (expected,):
            e[name]["mode"] = stat.S_IFCHR | 0o600
    got = snapshot(dest)
    assert "trusted.overlay.origin" not in got["etc/hosts"]["xattrs"]  # type: ignore[operator]
    assert_same_tree(got, expected, ignore_mtime=whiteouts)
    assert os.getxattr(dest / "opaque", OPAQUE_XATTR) == b"y"


def test_write_diff_tar_applied_in_delete_mode(tmp_path: Path) -> None:
    root = tmp_path / "upper"
    build_diff_tree(root)
    lower = tmp_path / "lower"
    apply_bytes(layer_tar_bytes([
        directory("etc"), file("etc/removed", b"r"), file("etc/other", b"o"),
        directory("gone-dir"), file("gone-dir/x", b"x"),
        directory("opaque"), file("opaque/lower-only", b"l"),
    ]), lower, Whiteouts.DELETE)
    apply_bytes(diff_tar(root), lower, Whiteouts.DELETE, tmp_path / "second.ts")
    assert not os.path.lexists(lower / "etc/removed") and not os.path.lexists(lower / "gone-dir")
    assert (lower / "etc/other").read_bytes() == b"o"
    assert sorted(os.listdir(lower / "opaque")) == ["kept"]


def test_write_diff_tar_keeps_non_utf8_names_and_xattrs(tmp_path: Path) -> None:
    root = os.fsencode(tmp_path / "upper")
    os.mkdir(root)
    name = os.path.join(root, b"\xff\xfename")
    with open(name, "wb") as f:
        f.write(b"x")
    os.symlink(b"\xfe\xfftarget", os.path.join(root, b"lnk"))
    os.setxattr(name, "user.\u00e9", b"\xff\x00")
    data = diff_tar(Path(os.fsdecode(root)))
    dest = os.fsencode(roundtrip(tmp_path, data, name="copy"))
    assert set(os.listdir(dest)) == {b"\xff\xfename", b"lnk"}
    assert os.readlink(os.path.join(dest, b"lnk")) == b"\xfe\xfftarget"
    assert os.getxattr(os.path.join(dest, b"\xff\xfename"), "user.\u00e9") == b"\xff\x00"


# --- compression ----------------------------------------------------------------------------


@pytest.mark.parametrize("head,kind", [
    (b"\x1f\x8b\x08\x00", Compression.GZIP),
    (b"BZh91AY", Compression.BZIP2),
    (b"\xfd7zXZ\x00\x00", Compression.XZ),
    (b"\x28\xb5\x2f\xfd\x00", Compression.ZSTD),
    (b"ustar", Compression.NONE),
    (b"", Compression.NONE),
    (b"\x1f", Compression.NONE),
    (b"\xfd7zX", Compression.NONE),
])
def test_detect(head: bytes, kind: Compression) -> None:
    assert detect(head) is kind


@pytest.fixture
def plain_tar(tmp_path: Path) -> Path:
    path = tmp_path / "layer.tar"
    noise = random.Random(1234).randbytes(300_000)  # fixed: the corruption cases below must hit the same codec errors
    path.write_bytes(layer_tar_bytes([file("a", noise), file("b", b"b" * 100_000), directory("c")]))
    return path


@pytest.mark.parametrize("algo,kind,threaded", [
    ("gzip", Compression.GZIP, True),
    ("gzip", Compression.GZIP, False),
    ("bzip2", Compression.BZIP2, True),
    ("xz", Compression.XZ, True),
    ("zstd", Compression.ZSTD, True),
    (None, Compression.NONE, True),
])
def test_open_decompressed(plain_tar: Path, algo: str | None, kind: Compression, threaded: bool) -> None:
    path = images.compress_file(plain_tar, algo) if algo else plain_tar  # type: ignore[arg-type]
    with open(path, "rb") as f:
        got_kind, stream = open_decompressed(f, threaded=threaded)
        chunks = []
        while chunk := stream.read(70_000):
            chunks.append(chunk)
    assert got_kind is kind
    assert b"".join(chunks) == plain_tar.read_bytes()


@pytest.mark.parametrize("algo", ["gzip", "bzip2", "xz", "zstd", None])
def test_apply_compressed_layer(tmp_path: Path, plain_tar: Path, algo: str | None) -> None:
    path = images.compress_file(plain_tar, algo) if algo else plain_tar  # type: ignore[arg-type]
    dest = tmp_path / "dest"
    dest.mkdir()
    with open(path, "rb") as f:
        _, stream = open_decompressed(f)
        applied = apply_layer(stream, dest, Whiteouts.OVERLAY, tmp_path / "split")
    assert applied.diff_id == Digest.of(plain_tar.read_bytes())
    assert export_bytes(dest, tmp_path / "split") == plain_tar.read_bytes()


def test_multi_frame_zstd(tmp_path: Path) -> None:
    import zstandard

    data = layer_tar_bytes([file("a", b"a" * 5000), file("b", b"b" * 5000)])
    frames = zstandard.ZstdCompressor().compress(data[:4096]) + zstandard.ZstdCompressor().compress(data[4096:])
    kind, stream = open_decompressed(io.BytesIO(frames))
    assert kind is Compression.ZSTD and stream.read() == data


@pytest.mark.parametrize("data", [b"", b"x", b"\x1f", b"ab\x00cd"])
def test_short_uncompressed_streams_are_replayed(data: bytes) -> None:
    kind, stream = open_decompressed(io.BytesIO(data))
    assert kind is Compression.NONE and stream.read() == data


def _read_all(blob: bytes, threaded: bool = True) -> bytes:
    _, stream = open_decompressed(io.BytesIO(blob), threaded=threaded)
    out = []
    with stream:
        while chunk := stream.read(1 << 16):
            out.append(chunk)
    return b"".join(out)


def _corruptions(algo: str, blob: bytes) -> dict[str, bytes]:
    # "truncated" cuts the stream in half: every codec must report the missing end (zstd
    # frames say how they end just as gzip, xz and bzip2 streams do)
    return {
        "flipped": blob[:60] + bytes(b ^ 0xFF for b in blob[60:200]) + blob[200:],
        "truncated": blob[: len(blob) // 2],
        "bad-trailer": blob[:-4] + bytes(b ^ 0xFF for b in blob[-4:]),
    }


@pytest.mark.parametrize("algo", ["gzip", "zstd", "xz", "bzip2"])
@pytest.mark.parametrize("how", ["flipped", "truncated", "bad-trailer"])
def test_corrupt_compressed_streams_are_invalid(plain_tar: Path, algo: str, how: str) -> None:
    blob = images.compress_file(plain_tar, algo).read_bytes()  # type: ignore[arg-type]
    bad = _corruptions(algo, blob)[how]
    for threaded in (True, False) if algo == "gzip" else (True,):
        with pytest.raises(InvalidArchiveError):
            _read_all(bad, threaded)


@pytest.mark.parametrize("threaded", [True, False])
def test_gzip_with_invalid_deflate_data_is_invalid(threaded: bool) -> None:
    """A valid gzip header followed by deflate data that is not deflate (ISA-L raises its own IsalError)."""
    bad = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + b"\xff" * 200
    with pytest.raises(InvalidArchiveError):
        _read_all(bad, threaded)


@pytest.mark.parametrize("algo", ["gzip", "zstd"])
def test_corrupt_compressed_layer_fails_apply(tmp_path: Path, plain_tar: Path, algo: str) -> None:
    blob = images.compress_file(plain_tar, algo).read_bytes()  # type: ignore[arg-type]
    bad = blob[:60] + bytes(b ^ 0xFF for b in blob[60:200]) + blob[200:]
    dest = tmp_path / "dest"
    dest.mkdir()
    _, stream = open_decompressed(io.BytesIO(bad))
    with pytest.raises(InvalidArchiveError):
        apply_layer(stream, dest, Whiteouts.OVERLAY, tmp_path / "split")


def test_compression_module_exports() -> None:
    assert {c.value for c in compression.Compression} == {"none", "gzip", "bzip2", "xz", "zstd"}
