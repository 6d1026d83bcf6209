"""Benchmark inputs, built once and cached under a work dir keyed by their recipe.

Every input is a plain file in the cache dir whose name carries a hash of what
made it (the recipe and the hashes of the inputs it was made from), so a
changed recipe makes a new file and an unchanged one is reused across runs:

- ``debian-<key>.tar``: ``debootstrap --variant=minbase bookworm`` from the
  mirror apt uses, apt's downloaded .debs and package lists removed (the
  "debian" workload of PERFORMANCE.md); a copy of host dirs if debootstrap
  cannot run.
- ``context-<key>/``: the build context of the multilayer image (20,000 small
  files; 200 MiB of random, text and sparse files) and its Dockerfile.
- ``multilayer-<key>.tar``: that image built by Docker's legacy builder and
  ``docker save``d (built by run.py, which owns the daemon).
- ``images<N>-<key>.tar``: a docker-archive of N distinct small images (one
  distinct one-file layer and config each), written directly in Python.
- ``tiny-<key>.tar``: the deterministic busybox rootfs of tests/helpers.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

RECIPE_VERSION = "1"  # bump to invalidate every cached input
DEFAULT_MIRROR = "http://deb.debian.org/debian"
FIXED_MTIME = 1700000000


def _key(*parts: object) -> str:
    h = hashlib.sha256(RECIPE_VERSION.encode())
    for p in parts:
        h.update(b"\0" + str(p).encode())
    return h.hexdigest()[:16]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _cached(path: Path, make: Callable[[Path], object]) -> Path:
    """Return `path`, making it first via a temp name + rename if it is missing."""
    if path.exists():
        return path
    tmp = path.with_name(f".partial-{path.name}")
    if tmp.is_dir():
        shutil.rmtree(tmp)
    else:
        tmp.unlink(missing_ok=True)
    make(tmp)
    os.replace(tmp, path)
    return path


# --- debian ---------------------------------------------------------------------


def apt_mirror() -> str:
    """The Debian archive URI apt uses for bookworm (deb822 .sources or one-line .list)."""
    files = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for f in files:
        try:
            text = f.read_text()
        except OSError:
            continue
        if f.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields = {}
                for line in stanza.splitlines():
                    if ":" in line and not line.lstrip().startswith("#"):
                        k, v = line.split(":", 1)
                        fields[k.strip().lower()] = v.strip()
                suites = fields.get("suites", "").split()
                if "bookworm" in suites and "deb" in fields.get("types", "deb").split():
                    for uri in fields.get("uris", "").split():
                        if "security" not in uri:
                            return uri
        else:
            for line in text.splitlines():
                words = [w for w in line.split() if not w.startswith("[")]
                if len(words) >= 3 and words[0] == "deb" and words[2] == "bookworm":
                    return words[1]
    return DEFAULT_MIRROR


@dataclass
class Debian:
    tar: Path
    source: str  # how the rootfs was made, for the report


def debian_rootfs_tar(cache: Path, log: Callable[[str], None]) -> Debian:
    mirror = apt_mirror()
    deb = cache / f"debian-{_key('debootstrap', 'minbase', 'bookworm', mirror)}.tar"
    note = cache / (deb.name + ".source")
    if deb.exists() and note.exists():
        return Debian(deb, note.read_text().strip())
    fallback = cache / f"debian-{_key('host-copy')}.tar"
    if fallback.exists() and (cache / (fallback.name + ".source")).exists() and not shutil.which("debootstrap"):
        return Debian(fallback, (cache / (fallback.name + ".source")).read_text().strip())

    if shutil.which("debootstrap"):
        log(f"building debian rootfs: debootstrap --variant=minbase bookworm {mirror} (once, ~30 s)")
        work = Path(tempfile.mkdtemp(prefix="debootstrap-", dir=cache))
        try:
            rootfs = work / "rootfs"
            r = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(rootfs), mirror],
                               capture_output=True, text=True)
            if r.returncode == 0:
                # What debuerreotype / the official image drop: downloaded .debs and apt lists.
                for d in ("var/cache/apt/archives", "var/lib/apt/lists"):
                    for p in (rootfs / d).glob("*"):
                        if p.is_file() and p.name != "lock":
                            p.unlink()
                _cached(deb, lambda out: _tar_dir(rootfs, out))
                src = f"debootstrap --variant=minbase bookworm {mirror}"
                note.write_text(src + "\n")
                return Debian(deb, src)
            log("debootstrap failed; falling back to a copy of host dirs:\n"
                + "\n".join((r.stderr or r.stdout).strip().splitlines()[-5:]))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    else:
        log("debootstrap not installed; falling back to a copy of host dirs")

    src = "FALLBACK (debootstrap could not run): copy of host /etc /bin /sbin /lib* /usr/{bin,sbin,lib/x86_64-linux-gnu}"

    def make(out: Path) -> None:
        paths = [p for p in ("etc", "bin", "sbin", "lib", "lib64", "usr/bin", "usr/sbin",
                             "usr/lib/x86_64-linux-gnu", "usr/share/zoneinfo")
                 if os.path.lexists("/" + p)]
        subprocess.run(["tar", "--numeric-owner", "--sort=name", "--ignore-failed-read",
                        "--warning=no-file-changed", "-C", "/", "-cf", str(out), *paths],
                       check=False, capture_output=True)

    _cached(fallback, make)
    (cache / (fallback.name + ".source")).write_text(src + "\n")
    return Debian(fallback, src)


def _tar_dir(src: Path, out: Path) -> None:
    subprocess.run(["tar", "--numeric-owner", "--sort=name", "-C", str(src), "-cf", str(out), "."],
                   check=True, capture_output=True)


def tar_stats(path: Path) -> tuple[int, int]:
    """(size in bytes, number of entries) of an uncompressed tar."""
    r = subprocess.run(["tar", "-tf", str(path)], capture_output=True, check=True)
    return path.stat().st_size, r.stdout.count(b"\n")


# --- multilayer -----------------------------------------------------------------


@dataclass(frozen=True)
class MultilayerSpec:
    small_files: int = 20_000      # layer of small files, ~3.15 KB average (63 MB)
    small_avg: int = 3150
    random_mib: int = 96           # layer of large files: random + text + sparse = 200 MiB
    text_mib: int = 64
    sparse_mib: int = 40
    deleted: int = 150             # + /etc/motd = 151 whiteouts

    @property
    def dirs(self) -> int:
        return max(20, self.small_files // 100)


FULL = MultilayerSpec()
QUICK = MultilayerSpec(small_files=2_000, random_mib=8, text_mib=8, sparse_mib=8, deleted=30)

DOCKERFILE = """\
FROM {base}
ENV BENCH=multilayer
LABEL org.dockyard.bench=multilayer
# L2: {small_files} small files
COPY small/ /data/small/
# L3: large files: random, text, sparse
COPY large/ /data/large/
# L4: a copy of /usr/lib/x86_64-linux-gnu
RUN cp -a /usr/lib/x86_64-linux-gnu /opt/libcopy
# L5: deletions -> whiteouts
RUN rm -f /etc/motd {deletions}
# L6: a directory replaced -> opaque whiteout
RUN rm -rf /data/small/d000 && mkdir /data/small/d000 && echo replaced > /data/small/d000/new.txt
# L7: edits of lower files (copy-up), a symlink and a hard link
RUN echo bench >> /etc/issue && echo bench >> /data/small/d001/f000001.txt \\
 && ln -s /data/large /data/large-link && ln /data/small/d002/f000002.txt /data/small/hard.txt
# L8: small new files with owners and modes
RUN mkdir -p /var/bench && for i in $(seq 1 50); do echo $i > /var/bench/f$i; done \\
 && chmod 600 /var/bench/f1 && chown 1000:1000 /var/bench/f2
# L9: a setuid file
RUN printf '#!/bin/sh\\necho hello\\n' > /usr/local/bin/hello && chmod 4755 /usr/local/bin/hello
# L10: another directory replaced
RUN rm -rf /opt/libcopy/gconv && mkdir /opt/libcopy/gconv && touch /opt/libcopy/gconv/.keep
CMD ["/bin/bash"]
"""


def _small_name(i: int, spec: MultilayerSpec) -> str:
    return f"d{i % spec.dirs:03d}/f{i:06d}.txt"


def multilayer_dockerfile(spec: MultilayerSpec, base: str) -> str:
    # Delete `deleted` files spread over dirs d010.. (every file whose index ends in 3).
    names = [f"/data/small/{_small_name(i, spec)}" for i in range(spec.small_files)
             if i % 10 == 3 and (i % spec.dirs) >= 10][: spec.deleted]
    return DOCKERFILE.format(base=base, small_files=spec.small_files, deletions=" ".join(names))


def _words(rng: random.Random, n: int) -> list[bytes]:
    alphabet = "abcdefghijklmnopqrstuvwxyz"
    return [("".join(rng.choice(alphabet) for _ in range(rng.randint(2, 10)))).encode() for _ in range(n)]


def _text(rng: random.Random, words: list[bytes], size: int) -> bytes:
    """~`size` bytes of line-oriented text (compresses roughly like prose/logs)."""
    out = io.BytesIO()
    line_no = 0
    while out.tell() < size:
        line_no += 1
        out.write(b"%06d " % line_no + b" ".join(rng.choices(words, k=rng.randint(4, 14))) + b"\n")
    return out.getvalue()[:size]


def multilayer_context_path(cache: Path, spec: MultilayerSpec, base: str) -> Path:
    return cache / f"context-{_key('context', spec, base)}"


def multilayer_context(cache: Path, spec: MultilayerSpec, base: str,
                       log: Callable[[str], None]) -> Path:
    ctx = multilayer_context_path(cache, spec, base)

    def make(out: Path) -> None:
        log(f"writing build context ({spec.small_files} small files, "
            f"{spec.random_mib + spec.text_mib + spec.sparse_mib} MiB large files)")
        rng = random.Random(42)
        words = _words(rng, 4000)
        small = out / "small"
        for d in range(spec.dirs):
            (small / f"d{d:03d}").mkdir(parents=True)
        pool = _text(rng, words, 4 << 20)
        for i in range(spec.small_files):
            size = rng.randint(0, 2 * spec.small_avg)
            off = rng.randint(0, len(pool) - size - 1)
            p = small / _small_name(i, spec)
            p.write_bytes(b"file %d\n" % i + pool[off:off + size])
        large = out / "large"
        large.mkdir()
        mib = 1 << 20
        for n, chunk in enumerate(_split(spec.random_mib, 32)):
            (large / f"random-{n}.bin").write_bytes(rng.randbytes(chunk * mib))
        for n, chunk in enumerate(_split(spec.text_mib, 32)):
            (large / f"text-{n}.log").write_bytes(_text(rng, words, chunk * mib))
        for n, chunk in enumerate(_split(spec.sparse_mib, 20)):
            with open(large / f"sparse-{n}.img", "wb") as f:
                f.truncate(chunk * mib)
                for k in range(0, chunk * mib, 4 * mib):  # 64 KiB of data every 4 MiB
                    f.seek(k)
                    f.write(rng.randbytes(64 << 10))
        (out / "Dockerfile").write_text(multilayer_dockerfile(spec, base))
        for root, dirs, files in os.walk(out):
            for name in dirs + files:
                os.utime(os.path.join(root, name), (FIXED_MTIME, FIXED_MTIME))

    return _cached(ctx, make)


def _split(total: int, piece: int) -> list[int]:
    out = []
    while total > 0:
        out.append(min(piece, total))
        total -= piece
    return out


def multilayer_tar_path(cache: Path, spec: MultilayerSpec, debian_sha: str) -> Path:
    return cache / f"multilayer-{_key('multilayer', spec, debian_sha, multilayer_dockerfile(spec, 'BASE'))}.tar"


# --- many small images ------------------------------------------------------------


def _layer_tar(i: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        d = tarfile.TarInfo("bench")
        d.type, d.mode, d.mtime = tarfile.DIRTYPE, 0o755, FIXED_MTIME
        tf.addfile(d)
        data = b"image %d\n" % i
        f = tarfile.TarInfo(f"bench/id-{i}")
        f.size, f.mode, f.mtime = len(data), 0o644, FIXED_MTIME
        tf.addfile(f, io.BytesIO(data))
    return buf.getvalue()


def small_image_ref(prefix: str, i: int) -> str:
    return f"bench/{prefix}-{i % 25:02d}:t{i:05d}"


def many_images_archive(cache: Path, n: int, prefix: str) -> Path:
    """A docker-archive (docker save layout) of `n` distinct one-layer images."""
    path = cache / f"images{n}-{_key('many', n, prefix)}.tar"

    def make(out: Path) -> None:
        manifest, repos = [], {}
        with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tf:
            def add(name: str, data: bytes) -> None:
                ti = tarfile.TarInfo(name)
                ti.size, ti.mode, ti.mtime = len(data), 0o644, FIXED_MTIME
                tf.addfile(ti, io.BytesIO(data))

            def add_dir(name: str) -> None:
                ti = tarfile.TarInfo(name)
                ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, FIXED_MTIME
                tf.addfile(ti)

            for i in range(n):
                layer = _layer_tar(i)
                diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
                created = f"2024-01-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z"
                config = json.dumps({
                    "architecture": "amd64", "os": "linux", "created": created,
                    "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                               "Cmd": ["/bin/sh"], "Labels": {"bench.index": str(i)}},
                    "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                    "history": [{"created": created, "created_by": f"bench synthetic image {i}"}],
                }, separators=(",", ":")).encode()
                config_hex = hashlib.sha256(config).hexdigest()
                v1id = hashlib.sha256(diff_id.encode() + b"\n").hexdigest()
                add_dir(f"{v1id}/")
                add(f"{v1id}/VERSION", b"1.0")
                add(f"{v1id}/json", json.dumps({
                    "id": v1id, "created": created, "os": "linux",
                    "container_config": {"Cmd": None}, "config": {"Cmd": ["/bin/sh"]},
                }, separators=(",", ":")).encode())
                add(f"{v1id}/layer.tar", layer)
                add(f"{config_hex}.json", config)
                ref = small_image_ref(prefix, i)
                manifest.append({"Config": f"{config_hex}.json", "RepoTags": [ref],
                                 "Layers": [f"{v1id}/layer.tar"]})
                repo, tag = ref.rsplit(":", 1)
                repos.setdefault(repo, {})[tag] = v1id
            add("manifest.json", json.dumps(manifest, separators=(",", ":")).encode())
            add("repositories", json.dumps(repos, separators=(",", ":")).encode())

    return _cached(path, make)


def tiny_rootfs_tar(cache: Path) -> Path:
    from tests.helpers import images  # repo root is on sys.path (run.py puts it there)

    path = cache / f"tiny-{_key('busybox', file_sha256(images.BUSYBOX))}.tar"
    return _cached(path, lambda out: images.busybox_rootfs_tar(out))


def run_and_report(bench: Any, results: Path, repo: Path) -> int:
    """Run a bench, always clean up, then write its JSON and print its table.

    SIGTERM becomes KeyboardInterrupt so the cleanup (servers, dockerd, mounts,
    temp dirs) runs; an error keeps what was measured before it.
    """
    import signal
    import sys
    import time
    import traceback

    def terminate(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    bench.meta["loadavg_start"] = os.getloadavg()
    t0 = time.perf_counter()
    try:
        bench.go()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr, flush=True)
    except Exception:  # noqa: BLE001 - report what was measured so far
        traceback.print_exc()
    finally:
        bench.cleanup()
    bench.meta["wall_s"] = round(time.perf_counter() - t0, 1)
    bench.meta["loadavg_end"] = os.getloadavg()
    bench.write_json()
    print()
    print(bench.report())
    print(f"\n(wall {bench.meta['wall_s']} s; JSON: {results.relative_to(repo)})", flush=True)
    return 1 if any(r.errors for r in bench.results) or not bench.results else 0
