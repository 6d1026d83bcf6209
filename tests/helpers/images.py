"""Deterministic tar / rootfs / compression helpers for tests.

Everything here is pure Python (plus the `zstd`, `xz`, `bzip2` command line
tools for the non-gzip variants) and never needs a Docker daemon.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Literal

__all__ = [
    "BUSYBOX",
    "BUSYBOX_APPLETS",
    "DEFAULT_MTIME",
    "Entry",
    "file",
    "directory",
    "busybox_rootfs_entries",
    "symlink",
    "hardlink",
    "chardev",
    "blockdev",
    "fifo",
    "whiteout",
    "opaque_whiteout",
    "layer_tar",
    "layer_tar_bytes",
    "busybox_rootfs_tar",
    "gzip_file",
    "zstd_file",
    "xz_file",
    "bzip2_file",
    "compress_file",
    "tar_names",
    "docker_archive_layers",
]

BUSYBOX = Path("/bin/busybox")
DEFAULT_MTIME = 1700000000
BUSYBOX_APPLETS = (
    "sh", "ls", "cat", "echo", "true", "false", "id", "env",
    "sleep", "touch", "rm", "mkdir", "test",
)
# Extra applets the multilayer Dockerfile needs (ln, chmod, cp, ...).
_EXTRA_APPLETS = ("ln", "chmod", "cp", "mv", "chown", "mknod", "mkfifo", "stat", "grep")

EntryType = Literal["file", "dir", "symlink", "hardlink", "chardev", "blockdev", "fifo"]

_TAR_TYPES: dict[str, bytes] = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "chardev": tarfile.CHRTYPE,
    "blockdev": tarfile.BLKTYPE,
    "fifo": tarfile.FIFOTYPE,
}


@dataclass(frozen=True)
class Entry:
    """One tar member. `name` is written verbatim (no normalisation), so
    `../escape`, `/abs/path` and `a/../../b` are all possible."""

    name: str
    type: EntryType = "file"
    content: bytes = b""
    mode: int | None = None  # default: 0o644 files, 0o755 dirs, 0o777 symlinks
    uid: int = 0
    gid: int = 0
    uname: str = ""
    gname: str = ""
    linkname: str = ""  # symlink / hardlink target
    devmajor: int = 0
    devminor: int = 0
    mtime: int | None = None  # default: the layer_tar mtime
    xattrs: dict[str, bytes | str] = field(default_factory=dict)  # e.g. {"user.k": b"v"}
    pax: dict[str, str] = field(default_factory=dict)  # raw extra PAX records

    def tarinfo(self, default_mtime: int) -> tarfile.TarInfo:
        ti = tarfile.TarInfo()
        ti.name = self.name  # set directly: TarInfo does not sanitise it
        ti.type = _TAR_TYPES[self.type]
        if self.mode is not None:
            ti.mode = self.mode
        else:
            ti.mode = {"dir": 0o755, "symlink": 0o777}.get(self.type, 0o644)
        ti.uid, ti.gid, ti.uname, ti.gname = self.uid, self.gid, self.uname, self.gname
        ti.mtime = default_mtime if self.mtime is None else self.mtime
        ti.linkname = self.linkname
        ti.devmajor, ti.devminor = self.devmajor, self.devminor
        ti.size = len(self.content) if self.type == "file" else 0
        pax: dict[str, str] = {}
        for k, v in sorted(self.xattrs.items()):
            # tarfile encodes PAX values as UTF-8 unless the hdrcharset is
            # binary; surrogateescape keeps arbitrary bytes round-trippable.
            pax["SCHILY.xattr." + k] = (
                v.decode("utf-8", "surrogateescape") if isinstance(v, bytes) else v
            )
        pax.update(self.pax)
        ti.pax_headers = pax
        return ti


# --- Entry constructors (short names read well in test tables) -------------

def file(name: str, content: bytes | str = b"", mode: int = 0o644, *, uid: int = 0,
         gid: int = 0, xattrs: dict[str, bytes | str] | None = None,
         mtime: int | None = None) -> Entry:
    data = content.encode() if isinstance(content, str) else content
    return Entry(name, "file", data, mode, uid, gid, mtime=mtime, xattrs=dict(xattrs or {}))


def directory(name: str, mode: int = 0o755, *, uid: int = 0, gid: int = 0,
        xattrs: dict[str, bytes | str] | None = None, mtime: int | None = None) -> Entry:
    return Entry(name, "dir", b"", mode, uid, gid, mtime=mtime, xattrs=dict(xattrs or {}))


def symlink(name: str, target: str, *, uid: int = 0, gid: int = 0) -> Entry:
    return Entry(name, "symlink", linkname=target, uid=uid, gid=gid)


def hardlink(name: str, target: str) -> Entry:
    """`target` is the tar member name of the link target (e.g. `bin/busybox`)."""
    return Entry(name, "hardlink", linkname=target)


def chardev(name: str, major: int, minor: int, mode: int = 0o666) -> Entry:
    return Entry(name, "chardev", mode=mode, devmajor=major, devminor=minor)


def blockdev(name: str, major: int, minor: int, mode: int = 0o660) -> Entry:
    return Entry(name, "blockdev", mode=mode, devmajor=major, devminor=minor)


def fifo(name: str, mode: int = 0o644) -> Entry:
    return Entry(name, "fifo", mode=mode)


def whiteout(path: str) -> Entry:
    """OCI whiteout deleting `path` (e.g. `etc/motd` -> `etc/.wh.motd`)."""
    parent, _, base = path.rstrip("/").rpartition("/")
    return Entry(f"{parent}/.wh.{base}" if parent else f".wh.{base}", "file", mode=0o644)


def opaque_whiteout(dirpath: str) -> Entry:
    """Opaque marker hiding everything below `dirpath` in lower layers."""
    d = dirpath.strip("/")
    return Entry(f"{d}/.wh..wh..opq" if d else ".wh..wh..opq", "file", mode=0o644)


# --- tar writers -------------------------------------------------------------

def layer_tar_bytes(entries: Iterable[Entry], *, mtime: int = DEFAULT_MTIME,
                    format: int = tarfile.PAX_FORMAT) -> bytes:  # noqa: A002
    """Tar bytes with members in the given order (order matters for attacks)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=format) as tf:
        for e in entries:
            ti = e.tarinfo(mtime)
            tf.addfile(ti, io.BytesIO(e.content) if e.type == "file" else None)
    return buf.getvalue()


def layer_tar(path: str | Path, entries: Iterable[Entry], *, mtime: int = DEFAULT_MTIME,
              format: int = tarfile.PAX_FORMAT) -> Path:  # noqa: A002
    """Write an uncompressed tar of `entries` (kept in the given order)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(layer_tar_bytes(entries, mtime=mtime, format=format))
    return p


_PASSWD = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
_GROUP = b"root:x:0:\nnobody:x:65534:\n"


def busybox_rootfs_entries(extra: dict[str, bytes] | None = None,
                           applets: Iterable[str] = BUSYBOX_APPLETS + _EXTRA_APPLETS
                           ) -> list[Entry]:
    """Entries of the minimal busybox rootfs, sorted by name."""
    entries: dict[str, Entry] = {}
    for d, mode in [("bin", 0o755), ("etc", 0o755), ("tmp", 0o1777), ("root", 0o700),
                    ("usr", 0o755), ("usr/bin", 0o755), ("var", 0o755)]:
        entries[d] = directory(d, mode)
    entries["bin/busybox"] = file("bin/busybox", BUSYBOX.read_bytes(), 0o755)
    for a in applets:
        entries[f"bin/{a}"] = symlink(f"bin/{a}", "busybox")
    entries["etc/passwd"] = file("etc/passwd", _PASSWD)
    entries["etc/group"] = file("etc/group", _GROUP)
    for name, data in (extra or {}).items():
        name = name.lstrip("/")
        # Create missing parent dirs so extractors never have to invent them.
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            entries.setdefault("/".join(parts[:i]), directory("/".join(parts[:i])))
        entries[name] = file(name, data, 0o755 if data.startswith(b"#!") else 0o644)
    return [entries[k] for k in sorted(entries)]


def busybox_rootfs_tar(path: str | Path, *, extra: dict[str, bytes] | None = None,
                       mtime: int = DEFAULT_MTIME) -> Path:
    """Write a small deterministic busybox rootfs tar (uncompressed).

    Dirs bin, etc, tmp (1777), root, usr/bin, var; /bin/busybox plus applet
    symlinks; etc/passwd + etc/group (root, nobody); `extra` files (path ->
    bytes; `#!` content gets mode 755). Same bytes on every call.
    """
    if not BUSYBOX.exists():
        raise FileNotFoundError(f"{BUSYBOX} missing (apt-get install busybox-static)")
    return layer_tar(path, busybox_rootfs_entries(extra), mtime=mtime)


# --- compression -------------------------------------------------------------

_SUFFIX = {"gzip": ".gz", "zstd": ".zst", "xz": ".xz", "bzip2": ".bz2"}
Algo = Literal["gzip", "zstd", "xz", "bzip2"]


def gzip_file(src: str | Path, dst: str | Path | None = None, *, level: int = 6) -> Path:
    """Deterministic gzip (mtime 0, no file name in header); keeps `src`."""
    src = Path(src)
    out = Path(dst) if dst is not None else src.with_name(src.name + ".gz")
    with open(src, "rb") as fi, open(out, "wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=level,
                          mtime=0) as fo:
        shutil.copyfileobj(fi, fo, 1 << 20)
    return out


def _cli_compress(tool: str, args: list[str], src: Path, out: Path) -> Path:
    exe = shutil.which(tool)
    if exe is None:
        raise FileNotFoundError(f"{tool} not installed")
    with open(src, "rb") as fi, open(out, "wb") as fo:
        subprocess.run([exe, *args, "-c"], stdin=fi, stdout=fo, check=True)
    return out


def zstd_file(src: str | Path, dst: str | Path | None = None, *, level: int = 3) -> Path:
    src = Path(src)
    out = Path(dst) if dst is not None else src.with_name(src.name + ".zst")
    return _cli_compress("zstd", ["-q", f"-{level}", "--no-progress"], src, out)


def xz_file(src: str | Path, dst: str | Path | None = None, *, level: int = 6) -> Path:
    src = Path(src)
    out = Path(dst) if dst is not None else src.with_name(src.name + ".xz")
    return _cli_compress("xz", [f"-{level}", "-T1"], src, out)


def bzip2_file(src: str | Path, dst: str | Path | None = None, *, level: int = 9) -> Path:
    src = Path(src)
    out = Path(dst) if dst is not None else src.with_name(src.name + ".bz2")
    return _cli_compress("bzip2", [f"-{level}"], src, out)


def compress_file(src: str | Path, algo: Algo, dst: str | Path | None = None) -> Path:
    """Compress `src` with gzip/zstd/xz/bzip2 into `dst` (default: src + suffix)."""
    fn = {"gzip": gzip_file, "zstd": zstd_file, "xz": xz_file, "bzip2": bzip2_file}[algo]
    return fn(src, dst)


# --- inspection --------------------------------------------------------------

def tar_names(src: str | Path | bytes) -> list[str]:
    """Member names of a tar (plain, gzip, xz, bzip2 or zstd), in order."""
    data = src if isinstance(src, bytes) else Path(src).read_bytes()
    if data[:4] == b"\x28\xb5\x2f\xfd":  # zstd frame; tarfile cannot read it in 3.11
        import zstandard

        data = zstandard.ZstdDecompressor().decompressobj().decompress(data)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tf:
        return tf.getnames()


def docker_archive_layers(archive: str | Path) -> dict[str, list[tarfile.TarInfo]]:
    """Layers of the first image in a `docker save` archive, in manifest order:
    layer path -> members."""
    out: dict[str, list[tarfile.TarInfo]] = {}
    with tarfile.open(archive) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))  # type: ignore[arg-type]
        for layer in manifest[0]["Layers"]:
            data = tf.extractfile(layer).read()  # type: ignore[union-attr]
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as lt:
                out[layer] = lt.getmembers()
    return out
