#!/usr/bin/env python3
"""Time dockyard against Docker 20.10 on the same inputs, in one run.

    python3 bench/run.py [--runs N] [--only NAME ...] [--quick] [--workdir DIR]

Starts a private dockerd (tests/helpers/dockerd.py) whose data root is on the
same ext4 disk as dockyard's fresh --root dirs, builds (or reuses cached)
inputs, and for every operation runs a warm-up and then N timed runs of each
tool, paired A B A B so drift cancels out. Each run is undone (rmi / a fresh
root, delete the output) and followed by `sync` so every run starts clean.
Prints a table of medians and the ratio dockyard/docker (lower is better) and
writes it to bench/results/latest.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import workloads  # noqa: E402
from tests.helpers.dockerd import DOCKER, Dockerd, mounts_under, skip_reason  # noqa: E402

OPERATIONS = ("import", "load", "reload", "save", "images", "rmi", "images1000")
RESULTS = REPO / "bench" / "results" / "latest.json"
ML_REF = "bench/multilayer:latest"
DEBIAN_BASE_REF = "bench/debian:base"
IMAGES_1000_LIMIT = 1.0
REFERENCE = "tar"  # GNU tar -x of the same tars: what file creation alone costs right now


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def dockyard_binary() -> str:
    """The console script itself, not a pyenv shim (a shim adds ~30 ms per call)."""
    here = Path(sys.executable).parent / "dockyard"
    if here.exists():
        return str(here)
    found = shutil.which("dockyard")
    if not found:
        sys.exit("dockyard is not installed (pip install -e .)")
    return found


class CommandFailed(Exception):
    def __init__(self, argv: list[str], r: subprocess.CompletedProcess[bytes]) -> None:
        self.argv, self.returncode = argv, r.returncode
        self.stderr = r.stderr.decode(errors="replace").strip()
        self.stdout = r.stdout.decode(errors="replace").strip()
        super().__init__(f"`{' '.join(argv)}` exited {r.returncode}: {self.stderr or self.stdout}")


def run(argv: list[str], env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess[bytes]:
    r = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    if r.returncode != 0:
        raise CommandFailed(argv, r)
    return r


def timed(argv: list[str], env: dict[str, str], daemon_cpu: Callable[[], float] | None = None
          ) -> tuple[float, float, subprocess.CompletedProcess[bytes]]:
    """(wall s, CPU s of the command and of the daemon serving it, result)."""
    c0 = os.times()
    d0 = daemon_cpu() if daemon_cpu else 0.0
    t0 = time.perf_counter()
    r = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=900)
    dt = time.perf_counter() - t0
    c1 = os.times()
    d1 = daemon_cpu() if daemon_cpu else 0.0
    cpu = (c1.children_user - c0.children_user) + (c1.children_system - c0.children_system) + (d1 - d0)
    if r.returncode != 0:
        raise CommandFailed(argv, r)
    return dt, cpu, r


_TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """utime + stime of `pid` and of its reaped children (dockerd's docker-untar etc.), in s."""
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(x) for x in f[11:15]) / _TICK


def remove_tree(path: Path) -> None:
    """rm -rf, unmounting anything left mounted below first (and saying so)."""
    if not path.exists():
        return
    for mp in mounts_under(path):
        log(f"warning: mount left under {path}: {mp} (unmounting)")
        if subprocess.run(["umount", mp], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", mp], capture_output=True)
    shutil.rmtree(path, ignore_errors=True)


_CONTAINERD_NS = re.compile(r"^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$")


def private_dockerd(base_dir: Path) -> Dockerd:
    """A Dockerd whose temp dir name is a valid containerd namespace.

    tests/helpers/dockerd.py uses the mkdtemp name (dyk-XXXXXXXX, X may be "_")
    as the containerd namespace; a name like "dyk-x5lxih5_" makes `docker rmi`
    fail with "namespace validation: identifier ... must match". Draw again.
    """
    for _ in range(50):
        d = Dockerd(base_dir=base_dir)
        if _CONTAINERD_NS.match(d.tmp.name):
            return d
        d.tmp.rmdir()
    raise RuntimeError("no valid containerd namespace name drawn")


# --- the two tools ------------------------------------------------------------------


class DockerTool:
    name = "docker"

    def __init__(self, d: Dockerd) -> None:
        self.d = d

    def argv(self, *args: str | os.PathLike[str]) -> list[str]:
        return [DOCKER, "-H", self.d.host, *map(str, args)]

    @property
    def env(self) -> dict[str, str]:
        return self.d.env

    def cpu(self) -> float:
        """CPU s used so far by dockerd (with its reaped children) and its containerd."""
        assert self.d.proc is not None
        total = process_cpu(self.d.proc.pid)
        if self.d.containerd_pid:
            total += process_cpu(self.d.containerd_pid)
        return total

    def run(self, *args: str | os.PathLike[str]) -> subprocess.CompletedProcess[bytes]:
        return run(self.argv(*args), self.env)

    def clear(self) -> None:
        """Remove every image (and so every layer)."""
        # Tags first (that also drops a build's untagged parents), then whatever is left,
        # children before parents: repeat until nothing is left.
        tags = [t for t in self.run("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.decode().split()
                if "<none>" not in t]
        if tags:
            self.run("rmi", "-f", *tags)
        for _ in range(20):
            ids = sorted(set(self.run("images", "-aq").stdout.decode().split()))
            if not ids:
                return
            subprocess.run(self.argv("rmi", "-f", *ids), env=self.env, capture_output=True)
        raise RuntimeError(f"docker still has images after rmi -f: {ids}")

    def has(self, ref: str) -> bool:
        return subprocess.run(self.argv("image", "inspect", ref), env=self.env,
                              capture_output=True).returncode == 0


class DockyardTool:
    name = "dockyard"

    def __init__(self, binary: str, roots: Path) -> None:
        self.binary = binary
        self.roots = roots
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
        self.root = roots / "default"
        self._n = 0

    def fresh_root(self, label: str) -> Path:
        """A new, never-used root dir name (ext4 is slow to create files where many were just deleted)."""
        self._n += 1
        self.root = self.roots / f"{label}-{self._n:03d}"
        return self.root

    def argv(self, *args: str | os.PathLike[str], root: Path | None = None) -> list[str]:
        return [self.binary, "--root", str(root or self.root), *map(str, args)]

    def run(self, *args: str | os.PathLike[str], root: Path | None = None) -> subprocess.CompletedProcess[bytes]:
        return run(self.argv(*args, root=root), self.env)


# --- measuring ---------------------------------------------------------------------


def noop(_it: int) -> None:
    pass


@dataclass
class Side:
    """One tool's half of an operation: prepare (untimed), the timed argv, undo (untimed)."""

    tool: str
    argv: Callable[[int], list[str]]
    env: dict[str, str]
    prepare: Callable[[int], None] = noop
    undo: Callable[[int], None] = noop
    check: Callable[[int, subprocess.CompletedProcess[bytes]], None] | None = None
    daemon_cpu: Callable[[], float] | None = None


@dataclass
class Result:
    operation: str
    times: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)  # user+sys of client (+ daemon)
    errors: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def median(self, tool: str) -> float | None:
        t = self.times.get(tool)
        return statistics.median(t) if t else None

    def ratio(self) -> float | None:
        a, b = self.median("dockyard"), self.median("docker")
        return a / b if a is not None and b else None

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"operation": self.operation}
        for tool in ("dockyard", "docker", *(t for t in self.times if t not in ("dockyard", "docker"))):
            t = self.times.get(tool)
            c = self.cpu.get(tool) or [0.0]
            out[tool] = ({"median_s": round(statistics.median(t), 4), "runs_s": [round(x, 4) for x in t],
                          "cpu_median_s": round(statistics.median(c), 3)}
                         if t else None)
        r = self.ratio()
        out["ratio"] = round(r, 3) if r is not None else None
        if self.errors:
            out["errors"] = self.errors
        if self.notes:
            out["notes"] = self.notes
        return out


def measure(result: Result, sides: list[Side], runs: int, warmup: int) -> Result:
    """warm-up, then `runs` timed runs; sides interleaved A B A B."""
    failed: set[str] = set()
    for it in range(warmup + runs):
        for s in sides:
            if s.tool in failed:
                continue
            try:
                s.prepare(it)
                os.sync()
                argv = s.argv(it)
                dt, cpu, r = timed(argv, s.env, s.daemon_cpu)
                if s.check:
                    s.check(it, r)
                s.undo(it)
                os.sync()
            except (CommandFailed, RuntimeError) as exc:
                failed.add(s.tool)
                result.errors[s.tool] = str(exc)
                log(f"  {result.operation}: {s.tool} FAILED: {exc}")
                try:
                    s.undo(it)
                except Exception:  # noqa: BLE001 - best effort after a failure
                    pass
                continue
            kind = "warm-up" if it < warmup else f"run {it - warmup + 1}"
            log(f"  {result.operation}: {s.tool:8} {kind:8} {dt:8.3f} s")
            if it >= warmup:
                result.times.setdefault(s.tool, []).append(dt)
                result.cpu.setdefault(s.tool, []).append(cpu)
    return result


# --- the benchmark -------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.spec = workloads.QUICK if args.quick else workloads.FULL
        self.cache = Path(args.workdir)
        self.cache.mkdir(parents=True, exist_ok=True)
        self.run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=self.cache))
        # Where both stores, outputs and scratch live: the run dir on the work dir's disk,
        # or (--loop-ext4) a fresh journaled ext4 in a loop file on that disk.
        self.scratch = self.run_dir
        self.loop_mnt: Path | None = None
        if args.loop_ext4:
            try:
                self.scratch = self.loop_mnt = self._mount_loop_ext4()
            except BaseException:
                remove_tree(self.run_dir)
                raise
        self.out = self.scratch / "out"
        self.out.mkdir()
        self.dockyard = DockyardTool(dockyard_binary(), self.scratch / "roots")
        self.results: list[Result] = []
        self.meta: dict[str, object] = {}
        self.ml_tar: Path | None = None

    # inputs that need no daemon
    def inputs(self) -> None:
        deb = workloads.debian_rootfs_tar(self.cache, log)
        self.debian = deb.tar
        size, entries = workloads.tar_stats(deb.tar)
        self.meta["debian"] = {"source": deb.source, "tar": str(deb.tar), "bytes": size, "entries": entries}
        log(f"debian rootfs: {deb.source}: {size / 1e6:.0f} MB, {entries} entries")
        if deb.source.startswith("FALLBACK"):
            print(f"NOTE: {deb.source}", flush=True)
        self.tiny = workloads.tiny_rootfs_tar(self.cache)
        self.fifty = workloads.many_images_archive(self.cache, 50, "fifty")
        self.many = workloads.many_images_archive(self.cache, self.args.many, "many")

    def multilayer(self, docker: DockerTool) -> Path:
        debian_sha = workloads.file_sha256(self.debian)
        path = workloads.multilayer_tar_path(self.cache, self.spec, debian_sha)
        if not path.exists():
            log("building the multilayer image with docker (legacy builder, once)")
            docker.clear()
            docker.run("import", self.debian, DEBIAN_BASE_REF)
            ctx = workloads.multilayer_context(self.cache, self.spec, DEBIAN_BASE_REF, log)
            t0 = time.perf_counter()
            r = subprocess.run([DOCKER, "-H", docker.d.host, "build", "-q", "--network", "none",
                                "--force-rm", "-t", ML_REF, str(ctx)],
                               env=docker.env | {"DOCKER_BUILDKIT": "0"}, capture_output=True)
            if r.returncode != 0:
                raise CommandFailed(["docker", "build", str(ctx)], r)
            log(f"built in {time.perf_counter() - t0:.1f} s; docker save")
            tmp = path.with_name(".partial-" + path.name)
            docker.run("save", "-o", tmp, ML_REF)
            os.replace(tmp, path)
            docker.clear()
            shutil.rmtree(ctx, ignore_errors=True)  # 270 MB; the saved tar is what we keep
        for stale in self.cache.glob("context-*"):  # only needed while building; 270 MB
            shutil.rmtree(stale, ignore_errors=True)
        size, entries = workloads.tar_stats(path)
        layers = self._layer_count(path)
        self.meta["multilayer"] = {"tar": str(path), "bytes": size, "archive_entries": entries,
                                   "layers": layers, "spec": self.spec.__dict__}
        log(f"multilayer image archive: {size / 1e6:.0f} MB, {layers} layers")
        return path

    @staticmethod
    def _layer_count(path: Path) -> int:
        import tarfile
        with tarfile.open(path) as tf:
            m = tf.extractfile("manifest.json")
            assert m is not None
            return len(json.load(m)[0]["Layers"])

    def wanted(self, op: str) -> bool:
        return not self.args.only or op in self.args.only

    def go(self) -> int:
        self.inputs()
        runs, warmup = self.args.runs, self.args.warmup
        with private_dockerd(self.scratch) as d:
            docker = DockerTool(d)
            dy = self.dockyard
            self.meta["docker"] = docker.run("version", "--format",
                                             "client {{.Client.Version}}, server {{.Server.Version}}"
                                             ).stdout.decode().strip()
            self.meta["docker_storage_driver"] = docker.run("info", "--format", "{{.Driver}}").stdout.decode().strip()
            self.meta["dockerd_data_root"] = str(d.data_root)
            self.meta["dockyard"] = dy.run("--version").stdout.decode().strip()
            self.meta["dockyard_binary"] = dy.binary
            self.meta["dockyard_roots"] = str(dy.roots)
            self.meta["unpigz_on_dockerd_path"] = bool(shutil.which("unpigz", path="/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"))
            if any(self.wanted(op) for op in ("load", "reload", "save")):
                self.ml_tar = self.multilayer(docker)

            for op in OPERATIONS:
                if not self.wanted(op):
                    continue
                log(f"== {op}")
                try:
                    res = getattr(self, "op_" + op)(docker, dy, runs, warmup)
                except Exception as exc:  # noqa: BLE001 - a setup step failed; go on with the rest
                    res = Result(op, errors={"setup": f"{type(exc).__name__}: {exc}"})
                    log(f"  {op}: setup FAILED: {exc}")
                self.results.append(res)
                # leave nothing behind for the next operation
                try:
                    docker.clear()
                except Exception as exc:  # noqa: BLE001
                    log(f"warning: docker clear failed: {exc}")
                for d in (dy.roots, self.scratch / "reference", self.scratch / "layers"):
                    remove_tree(d)
                for p in self.out.iterdir():
                    p.unlink()
                os.sync()
        return 0

    # --- operations -------------------------------------------------------------
    # Each returns a Result; A = dockyard, B = docker, alternating.

    def op_import(self, docker: DockerTool, dy: DockyardTool, runs: int, warmup: int) -> Result:
        docker.clear()
        ref = "bench/debian:import"

        def dy_prepare(it: int) -> None:
            dy.fresh_root("import")

        res = measure(Result(f"import debian ({self.meta['debian']['bytes'] / 1e6:.0f} MB)"), [
            Side("dockyard", lambda it: dy.argv("import", self.debian, ref), dy.env,
                 prepare=dy_prepare, undo=lambda it: remove_tree(dy.root)),
            Side("docker", lambda it: docker.argv("import", self.debian, ref), docker.env, daemon_cpu=docker.cpu,
                 undo=lambda it: docker.run("rmi", ref)),
            *self.reference("import", [self.debian]),
        ], runs, warmup)
        return res

    def reference(self, label: str, tars: list[Path]) -> list[Side]:
        """GNU tar -x of the same layer tars into a fresh dir each (the file-creation floor),
        timed in the same A B C rotation with the same undo, unless --no-reference."""
        if self.args.no_reference:
            return []
        base = self.scratch / "reference"
        dest: list[Path] = []

        def prepare(it: int) -> None:
            dest.append(base / f"{label}-{it:03d}")
            dest[-1].mkdir(parents=True)

        script = ('set -e; d=$1; shift; n=0; for l in "$@"; do n=$((n+1)); '
                  'mkdir "$d/$n"; tar --numeric-owner -C "$d/$n" -xf "$l"; done')
        return [Side(REFERENCE, lambda it: ["sh", "-c", script, "sh", str(dest[-1]), *map(str, tars)],
                     os.environ.copy(), prepare=prepare, undo=lambda it: remove_tree(dest[-1]))]

    def op_load(self, docker: DockerTool, dy: DockyardTool, runs: int, warmup: int) -> Result:
        assert self.ml_tar is not None
        docker.clear()
        ml = self.meta["multilayer"]

        def check_dockyard(it: int, r: subprocess.CompletedProcess[bytes]) -> None:
            out = dy.run("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.decode().split()
            if ML_REF not in out:
                raise CommandFailed(dy.argv("images"), subprocess.CompletedProcess(
                    [], 1, b"", f"{ML_REF} not listed after load; images: {out}".encode()))

        return measure(Result(f"load multilayer cold ({ml['layers']} layers, {ml['bytes'] / 1e6:.0f} MB)"), [
            Side("dockyard", lambda it: dy.argv("load", "-i", self.ml_tar), dy.env,
                 prepare=lambda it: dy.fresh_root("load") and None, check=check_dockyard,
                 undo=lambda it: remove_tree(dy.root)),
            Side("docker", lambda it: docker.argv("load", "-i", self.ml_tar), docker.env, daemon_cpu=docker.cpu,
                 undo=lambda it: docker.clear()),
            *self.reference("load", self._layer_tars()),
        ], runs, warmup)

    def op_reload(self, docker: DockerTool, dy: DockyardTool, runs: int, warmup: int) -> Result:
        """load right after ``rmi`` of the same image, in one store on the work dir's own disk: the layers'
        files are created where just as many were deleted (on ext4 without a journal, slow to allocate)."""
        assert self.ml_tar is not None
        docker.clear()
        root = dy.fresh_root("reload")
        ml = self.meta["multilayer"]

        def dy_prepare(it: int) -> None:
            if ML_REF not in dy.run("images", "--format", "{{.Repository}}:{{.Tag}}", root=root).stdout.decode().split():
                dy.run("load", "-i", self.ml_tar, root=root)
            dy.run("rmi", ML_REF, root=root)

        def docker_prepare(it: int) -> None:
            if not docker.has(ML_REF):
                docker.run("load", "-i", self.ml_tar)
            docker.run("rmi", ML_REF)

        return measure(Result(f"load multilayer right after rmi of it ({ml['layers']} layers, same disk)"), [
            Side("dockyard", lambda it: dy.argv("load", "-i", self.ml_tar, root=root), dy.env, prepare=dy_prepare),
            Side("docker", lambda it: docker.argv("load", "-i", self.ml_tar), docker.env, daemon_cpu=docker.cpu,
                 prepare=docker_prepare),
        ], runs, warmup)

    def _layer_tars(self) -> list[Path]:
        """The multilayer image's layer tars, unpacked once from the archive (for the reference)."""
        if self.args.no_reference:
            return []
        import tarfile
        assert self.ml_tar is not None
        out = self.scratch / "layers"
        with tarfile.open(self.ml_tar) as tf:
            m = tf.extractfile("manifest.json")
            assert m is not None
            layers = json.load(m)[0]["Layers"]
            tf.extractall(out, members=[tf.getmember(name) for name in layers], filter="data")
        return [out / name for name in layers]

    def op_save(self, docker: DockerTool, dy: DockyardTool, runs: int, warmup: int) -> Result:
        assert self.ml_tar is not None
        docker.clear()
        docker.run("load", "-i", self.ml_tar)
        dy.fresh_root("save")
        dy.run("load", "-i", self.ml_tar)
        sizes: dict[str, int] = {}

        def out(tool: str, it: int) -> Path:
            return self.out / f"{tool}-{it}.tar"

        def undo(tool: str) -> Callable[[int], None]:
            def f(it: int) -> None:
                sizes[tool] = out(tool, it).stat().st_size
                out(tool, it).unlink()
            return f

        res = measure(Result("save multilayer"), [
            Side("dockyard", lambda it: dy.argv("save", "-o", out("dockyard", it), ML_REF), dy.env,
                 undo=undo("dockyard")),
            Side("docker", lambda it: docker.argv("save", "-o", out("docker", it), ML_REF), docker.env, daemon_cpu=docker.cpu,
                 undo=undo("docker")),
        ], runs, warmup)
        if sizes:
            res.notes.append("output bytes: " + ", ".join(f"{k} {v}" for k, v in sorted(sizes.items())))
        return res

    def _fifty(self, docker: DockerTool, dy: DockyardTool) -> None:
        docker.clear()
        docker.run("load", "-i", self.fifty)
        dy.fresh_root("fifty")
        dy.run("load", "-i", self.fifty)

    def op_images(self, docker: DockerTool, dy: DockyardTool, runs: int, warmup: int) -> Result:
        self._fifty(docker, dy)
        counts: dict[str, int] = {}

        def count(tool: str) -> Callable[[int, subprocess.CompletedProcess[bytes]], None]:
            def f(it: int, r: subprocess.CompletedProcess[bytes]) -> None:
                counts[tool] = len(r.stdout.decode().splitlines()) - 1
            return f

        res = measure(Result("images (50 images)"), [
            Side("dockyard", lambda it: dy.argv("images"), dy.env, check=count("dockyard")),
            Side("docker", lambda it: docker.argv("images"), docker.env, daemon_cpu=docker.cpu, check=count("docker")),
        ], runs + 2, warmup)  # cheap: a couple of extra runs
        res.notes.append("rows listed: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        if any(v != 50 for v in counts.values()):
            res.notes.append("WARNING: expected 50 rows")
        return res

    def op_rmi(self, docker: DockerTool, dy: DockyardTool, runs: int, warmup: int) -> Result:
        self._fifty(docker, dy)
        ref = "bench/rmi-target:latest"

        def gone(tool: DockerTool | DockyardTool) -> Callable[[int], None]:
            def f(it: int) -> None:
                left = tool.run("images", "-q", ref).stdout.strip()
                if left:
                    raise RuntimeError(f"{tool.name}: {ref} still present after rmi")
            return f

        return measure(Result("rmi small image (50 others present)"), [
            Side("dockyard", lambda it: dy.argv("rmi", ref), dy.env,
                 prepare=lambda it: dy.run("import", self.tiny, ref) and None, undo=gone(dy)),
            Side("docker", lambda it: docker.argv("rmi", ref), docker.env, daemon_cpu=docker.cpu,
                 prepare=lambda it: docker.run("import", self.tiny, ref) and None, undo=gone(docker)),
        ], runs + 2, warmup)

    def op_images1000(self, docker: DockerTool, dy: DockyardTool, runs: int, warmup: int) -> Result:
        n = self.args.many
        res = Result(f"images ({n} images)")
        dy.fresh_root("many")
        t0 = time.perf_counter()
        try:
            dy.run("load", "-q", "-i", self.many)
        except CommandFailed as exc:
            res.errors["dockyard"] = f"creating {n} images: {exc}"
            log(f"  images1000: dockyard load FAILED: {exc}")
            return res
        res.notes.append(f"dockyard: {n} distinct images created by one `load` in "
                         f"{time.perf_counter() - t0:.2f} s")
        sides = [Side("dockyard", lambda it: dy.argv("images"), dy.env,
                      check=lambda it, r: self._rows(res, "dockyard", r, n))]
        if self.args.docker_1000:
            docker.clear()
            t0 = time.perf_counter()
            docker.run("load", "-q", "-i", self.many)
            res.notes.append(f"docker: load of the same archive took {time.perf_counter() - t0:.2f} s")
            sides.append(Side("docker", lambda it: docker.argv("images"), docker.env, daemon_cpu=docker.cpu,
                              check=lambda it, r: self._rows(res, "docker", r, n)))
        measure(res, sides, max(runs, 5), warmup)
        med = res.median("dockyard")
        if med is not None:
            verdict = "PASS" if med < IMAGES_1000_LIMIT else "FAIL"
            res.notes.append(f"limit {IMAGES_1000_LIMIT:.0f} s: {verdict} (median {med:.3f} s, "
                             f"max {max(res.times['dockyard']):.3f} s)")
        return res

    @staticmethod
    def _rows(res: Result, tool: str, r: subprocess.CompletedProcess[bytes], n: int) -> None:
        rows = len(r.stdout.decode().splitlines()) - 1
        if rows != n:
            note = f"WARNING: {tool} listed {rows} rows, expected {n}"
            if note not in res.notes:
                res.notes.append(note)

    # --- report -------------------------------------------------------------------

    def report(self) -> str:
        def s(v: float | None) -> str:
            return f"{v:.3f}" if v is not None else "-"

        rows = [("operation", "dockyard s", "docker s", "dockyard/docker")]
        for r in self.results:
            dy = s(r.median("dockyard")) if "dockyard" not in r.errors else "FAILED"
            dk = s(r.median("docker")) if "docker" not in r.errors else "FAILED"
            if "setup" in r.errors:
                dy = dk = "FAILED"
            ratio = r.ratio()
            rows.append((r.operation, dy, dk, f"{ratio:.2f}" if ratio is not None else "-"))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = []
        for n, row in enumerate(rows):
            lines.append("| " + " | ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i])
                                           for i, c in enumerate(row)) + " |")
            if n == 0:
                lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        extra = []
        for r in self.results:
            if r.median(REFERENCE) is not None:
                extra.append(f"- {r.operation}: reference, GNU tar -x of the same tar(s) into a fresh dir, "
                             f"same undo: median {r.median(REFERENCE):.3f} s")
            if r.cpu:
                extra.append(f"- {r.operation}: CPU s (user+sys, client + daemon) median: " + ", ".join(
                    f"{t} {statistics.median(c):.2f}" for t, c in sorted(r.cpu.items())))
            for note in r.notes:
                extra.append(f"- {r.operation}: {note}")
            for tool, err in r.errors.items():
                extra.append(f"- {r.operation}: {tool} ERROR: {err}")
        head = (f"medians of {self.args.runs} runs after {self.args.warmup} warm-up, tools interleaved "
                f"A B A B (images, rmi: +2 runs; images1000: >=5 runs); scratch: {self.meta.get('scratch')}; "
                f"ratio = dockyard/docker, lower is better")
        return "\n".join([head, *lines, *(["", *extra] if extra else [])])

    results_path = RESULTS  # a subclass measuring other operations writes its own file

    def write_json(self) -> None:
        self.results_path.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "host": {"machine": platform.machine(), "cpus": os.cpu_count(), "kernel": platform.release()},
            "runs": self.args.runs, "warmup": self.args.warmup, "quick": self.args.quick,
            "meta": self.meta,
            "results": [r.as_json() for r in self.results],
        }
        self.results_path.write_text(json.dumps(doc, indent=2) + "\n")

    def _mount_loop_ext4(self) -> Path:
        img, mnt = self.run_dir / "scratch.ext4", self.run_dir / "mnt"
        mnt.mkdir()
        with open(img, "wb") as f:
            f.truncate(self.args.loop_size_gb << 30)
        run(["mkfs.ext4", "-q", "-F", "-L", "dyk-bench", str(img)], os.environ.copy())
        run(["mount", "-o", "loop", str(img), str(mnt)], os.environ.copy())
        log(f"scratch: fresh journaled ext4 in {img} (loop), mounted on {mnt}")
        return mnt

    def cleanup(self) -> None:
        remove_tree(self.dockyard.roots)
        if self.loop_mnt is not None:
            for d in self.loop_mnt.iterdir():
                if d.name != "lost+found":
                    remove_tree(d)
            r = subprocess.run(["umount", str(self.loop_mnt)], capture_output=True, text=True)
            if r.returncode != 0:
                log(f"warning: umount {self.loop_mnt}: {r.stderr.strip()} (lazy unmount)")
                subprocess.run(["umount", "-l", str(self.loop_mnt)], capture_output=True)
        left = mounts_under(self.run_dir)
        if left:
            log(f"warning: mounts left under {self.run_dir}: {left}")
        remove_tree(self.run_dir)


def run_on_disk(bench: Bench, args: argparse.Namespace, results: Path) -> int:
    """Refuse a work dir on tmpfs, record what the scratch space is, then run and report ``bench``."""
    fstype = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "-T", str(Path(args.workdir).parent)],
                            capture_output=True, text=True, check=False).stdout.strip()
    if fstype == "tmpfs":
        sys.exit(f"{args.workdir} is on tmpfs; pick a dir on a real disk (--workdir)")
    bench.meta["workdir_fstype"] = fstype
    bench.meta["scratch"] = ("fresh journaled ext4 on a loop file in the work dir" if args.loop_ext4
                             else "the work dir's filesystem")
    bench.meta["scratch_journal"] = (True if args.loop_ext4 else has_journal(args.workdir))
    return workloads.run_and_report(bench, results, REPO)


def has_journal(path: str) -> bool | None:
    """Whether the ext4 holding `path` has a journal (jbd2 lists journaled devices)."""
    src = subprocess.run(["findmnt", "-n", "-o", "SOURCE", "-T", path], capture_output=True, text=True).stdout.strip()
    if not src.startswith("/dev/"):
        return None
    dev = os.path.basename(os.path.realpath(src))
    jbd2 = Path("/proc/fs/jbd2")
    return any(e.name.startswith(dev + "-") for e in jbd2.iterdir()) if jbd2.is_dir() else None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=None, help="timed runs per tool (default 3, --quick 1)")
    p.add_argument("--warmup", type=int, default=1, help="untimed warm-up runs per tool (default 1)")
    p.add_argument("--only", nargs="+", choices=OPERATIONS, metavar="NAME",
                   help=f"operations to run: {', '.join(OPERATIONS)}")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: smaller multilayer image, 1 run, 300 images for images1000")
    p.add_argument("--many", type=int, default=None, help="images for the images1000 check (default 1000)")
    p.add_argument("--no-reference", action="store_true",
                   help="skip the GNU tar -x reference runs of import and load")
    p.add_argument("--loop-ext4", action="store_true",
                   help="put both stores on a fresh journaled ext4 (loop file in --workdir) instead of "
                        "the work dir's own filesystem; see README (journal-less ext4 here)")
    p.add_argument("--loop-size-gb", type=int, default=16, help=argparse.SUPPRESS)
    p.add_argument("--docker-1000", action="store_true",
                   help="also load the many-images archive into docker and time its `images`")
    p.add_argument("--workdir", default=os.environ.get("DOCKYARD_BENCH_DIR", "/var/tmp/dockyard-bench"),
                   help="cache of inputs and scratch space; must be on a real disk (default /var/tmp/dockyard-bench)")
    args = p.parse_args(argv)
    if args.runs is None:
        args.runs = 1 if args.quick else 3
    if args.many is None:
        args.many = 300 if args.quick else 1000
    reason = skip_reason()
    if reason:
        sys.exit(f"cannot start a private dockerd: {reason}")
    return run_on_disk(Bench(args), args, RESULTS)

if __name__ == "__main__":
    sys.exit(main())
