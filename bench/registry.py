#!/usr/bin/env python3
"""dockyard's registry server against CNCF Distribution 2.8, same machine, same data, one run.

    python3 bench/registry.py [--quick] [--workers N] [--runs N] [--only blob head push]

Measures, for `dockyard registry serve --workers N` and Debian's
`docker-registry serve CONFIG` (Distribution 2.8, filesystem storage), both on
the same disk, interleaved A B A B:

- blob:  large-blob GET throughput: one random blob (256 MiB; --quick 64 MiB)
         pushed to both, then 8 client processes (http.client, keep-alive)
         each GET it `--rounds` times; MB/s = all bytes / wall time.
- head:  manifest HEAD requests per second: several client processes, one
         keep-alive connection each, HEAD by tag as fast as they can for a
         fixed time (raw sockets: the client must cost less than the server).
- push:  `docker push` of bench/workloads.py's 10-layer multilayer image
         (from the private dockerd of tests/helpers/dockerd.py), wall time;
         a fresh registry (new storage dir, new process) for every push.

Prints a table with both figures and the ratio dockyard/Distribution (higher is
better for throughput, lower is better for push time) and writes
bench/results/registry.json. Everything it starts (servers, dockerd) and
every temp dir is removed at the end; input images stay cached in --workdir.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import http.client
import json
import multiprocessing as mp
import os
import platform
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import workloads  # noqa: E402
from tests.helpers.dockerd import Dockerd, mounts_under, skip_reason  # noqa: E402

RESULTS = REPO / "bench" / "results" / "registry.json"
DISTRIBUTION = "/usr/bin/docker-registry"
TESTS = ("blob", "head", "push")
ML_REF = "bench/multilayer:latest"  # the tag inside the cached multilayer archive (bench/run.py)
DEBIAN_BASE_REF = "bench/debian:base"
MANIFEST_ACCEPT = ("application/vnd.docker.distribution.manifest.v2+json, "
                   "application/vnd.oci.image.manifest.v1+json")
MIB = 1 << 20
_TICK = os.sysconf("SC_CLK_TCK")
_PATH = "/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def dockyard_binary() -> str:
    """The console script next to this interpreter (not a pyenv shim)."""
    here = Path(sys.executable).parent / "dockyard"
    found = str(here) if here.exists() else shutil.which("dockyard")
    if not found:
        sys.exit("dockyard is not installed (pip install -e .)")
    return found


def proc_cpu(pid: int) -> float:
    """utime+stime of `pid` (all its threads) plus its reaped children, in seconds."""
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(x) for x in f[11:15]) / _TICK


def children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return kids


# --- the two servers ------------------------------------------------------------------


class Server:
    label = ""
    kind = ""

    def __init__(self, work: Path, log_path: Path) -> None:
        self.work = work
        self.storage = work / "storage"
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc

    @property
    def address(self) -> tuple[str, int]:
        u = urlsplit(self.url)
        assert u.hostname and u.port
        return u.hostname, u.port

    def cpu(self) -> float:
        """CPU seconds used so far by the server and its worker processes."""
        if self.proc is None:
            return 0.0
        return proc_cpu(self.proc.pid) + sum(proc_cpu(c) for c in children(self.proc.pid))

    def _wait_ping(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                break
            try:
                conn = http.client.HTTPConnection(*self.address, timeout=5)
                conn.request("GET", "/v2/")
                r = conn.getresponse()
                r.read()
                conn.close()
                if r.status == 200:
                    return
                last = f"GET /v2/ -> {r.status}"
            except OSError as exc:
                last = str(exc)
            time.sleep(0.05)
        raise RuntimeError(f"{self.label} did not come up ({last})\n{self.log_tail()}")

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                for c in children(self.proc.pid):
                    try:
                        os.kill(c, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Server:
        raise NotImplementedError


class DockyardServer(Server):
    label = "dockyard"
    kind = "dockyard"

    def __init__(self, work: Path, log_path: Path, workers: int, access_log: bool, config: dict[str, Any] | None = None) -> None:
        super().__init__(work, log_path)
        self.workers = workers
        self.access_log = access_log
        self.config = config or {}  # more configuration (bench/registry_s3.py: the S3 storage)

    def start(self) -> Server:
        self.work.mkdir(parents=True, exist_ok=True)
        argv = [dockyard_binary(), "--root", str(self.work / "dockyard-root"), "registry", "serve",
                "--root", str(self.storage), "--addr", "127.0.0.1:0", "--workers", str(self.workers)]
        if not self.access_log or self.config:
            cfg = self.work / "dockyard.yml"
            cfg.write_text(json.dumps({**self.config, "access_log": self.access_log}))  # JSON is YAML
            argv[5:5] = ["--config", str(cfg)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=logf, stdin=subprocess.DEVNULL,
                                         env=env, start_new_session=True)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline().decode() if ready else ""
        if "listening on" not in line:
            self.stop()
            raise RuntimeError(f"dockyard registry did not start: {line!r}\n{self.log_tail()}")
        self.url = line.split()[-1]
        self._wait_ping()
        return self


class DistributionServer(Server):
    label = "Distribution"
    kind = "distribution"

    def __init__(self, work: Path, log_path: Path, access_log: bool) -> None:
        super().__init__(work, log_path)
        self.access_log = access_log

    def start(self) -> Server:
        self.work.mkdir(parents=True, exist_ok=True)
        for attempt in range(5):
            with socket.socket() as s:  # a free port; Distribution cannot report the one it picked
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            cfg = self.work / "config.yml"
            cfg.write_text(json.dumps({  # JSON is YAML
                "version": 0.1,
                # info logs a line per request besides the access log; warn when both are off
                "log": {"level": "info" if self.access_log else "warn",
                        "accesslog": {"disabled": not self.access_log}},
                "storage": {"filesystem": {"rootdirectory": str(self.storage)},
                            "delete": {"enabled": True},
                            "cache": {"blobdescriptor": "inmemory"}},
                "http": {"addr": f"127.0.0.1:{port}"},
            }, indent=1))
            with open(self.log_path, "ab") as logf:
                self.proc = subprocess.Popen([DISTRIBUTION, "serve", str(cfg)], stdout=logf, stderr=logf,
                                             stdin=subprocess.DEVNULL, start_new_session=True)
            self.url = f"http://127.0.0.1:{port}"
            try:
                self._wait_ping()
                return self
            except RuntimeError:
                self.stop()
                if attempt == 4 or "address already in use" not in self.log_tail():
                    raise
        raise AssertionError("unreachable")


# --- registry HTTP, the plain way both servers accept --------------------------------


def _conn(server: Server) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(*server.address, timeout=300, blocksize=MIB)


def _location(server: Server, r: http.client.HTTPResponse) -> str:
    loc = r.getheader("Location") or ""
    u = urlsplit(loc)
    return u.path + (f"?{u.query}" if u.query else "")


def push_blob(server: Server, name: str, body: bytes | Path, digest: str) -> None:
    """POST a session, then one monolithic PUT with ?digest= (both servers support this)."""
    conn = _conn(server)
    try:
        conn.request("POST", f"/v2/{name}/blobs/uploads/", headers={"Content-Length": "0"})
        r = conn.getresponse()
        r.read()
        if r.status != 202:
            raise RuntimeError(f"{server.label}: POST upload -> {r.status}")
        loc = _location(server, r)
        sep = "&" if "?" in loc else "?"
        size = body.stat().st_size if isinstance(body, Path) else len(body)
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        if isinstance(body, Path):
            with open(body, "rb") as f:
                conn.request("PUT", f"{loc}{sep}digest={digest}", body=f, headers=headers)
                r = conn.getresponse()
        else:
            conn.request("PUT", f"{loc}{sep}digest={digest}", body=body, headers=headers)
            r = conn.getresponse()
        data = r.read()
        if r.status != 201:
            raise RuntimeError(f"{server.label}: PUT upload -> {r.status} {data[:300]!r}")
    finally:
        conn.close()


def push_small_image(server: Server, name: str, tag: str) -> tuple[str, int]:
    """A config + one small layer + an OCI manifest; returns (manifest digest, manifest size)."""
    layer = hashlib.sha256(b"dockyard bench layer").digest() * 512  # 16 KiB
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
                         "config": {"Cmd": ["/bin/sh"]}}).encode()
    blobs = []
    for data in (config, layer):
        d = "sha256:" + hashlib.sha256(data).hexdigest()
        push_blob(server, name, data, d)
        blobs.append({"digest": d, "size": len(data)})
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **blobs[0]},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **blobs[1]}],
    }).encode()
    conn = _conn(server)
    try:
        conn.request("PUT", f"/v2/{name}/manifests/{tag}", body=manifest,
                     headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        r = conn.getresponse()
        data = r.read()
        if r.status != 201:
            raise RuntimeError(f"{server.label}: PUT manifest -> {r.status} {data[:300]!r}")
    finally:
        conn.close()
    return "sha256:" + hashlib.sha256(manifest).hexdigest(), len(manifest)


def fetch_sha256(server: Server, path: str) -> tuple[str, int]:
    conn = _conn(server)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        if r.status != 200:
            raise RuntimeError(f"{server.label}: GET {path} -> {r.status}")
        h, n = hashlib.sha256(), 0
        while chunk := r.read(MIB):
            h.update(chunk)
            n += len(chunk)
        return "sha256:" + h.hexdigest(), n
    finally:
        conn.close()


def random_file(path: Path, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(left, 4 * MIB))
            f.write(chunk)
            h.update(chunk)
            left -= len(chunk)
    return "sha256:" + h.hexdigest()


# --- load generators (separate processes) ----------------------------------------------


def _blob_client(address: tuple[str, int], path: str, size: int, rounds: int,
                 barrier: Any, out: Any) -> None:
    try:
        conn = http.client.HTTPConnection(*address, timeout=300)
        buf = memoryview(bytearray(MIB))
        conn.connect()
        barrier.wait()
        t0 = time.perf_counter()
        total = 0
        for _ in range(rounds):
            conn.request("GET", path)
            r = conn.getresponse()
            if r.status != 200:
                raise RuntimeError(f"GET blob -> {r.status}")
            n = 0
            while k := r.readinto(buf):
                n += k
            if n != size:
                raise RuntimeError(f"GET blob: {n} bytes, want {size}")
            total += n
        out.put(("ok", t0, time.perf_counter(), total, 0))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        try:
            barrier.abort()
        except Exception:  # noqa: BLE001
            pass
        out.put(("error", 0.0, 0.0, 0, f"{type(exc).__name__}: {exc}"))


def _head_client(address: tuple[str, int], path: str, digest: str, seconds: float,
                 barrier: Any, out: Any) -> None:
    try:
        host = f"{address[0]}:{address[1]}"
        request = (f"HEAD {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: dockyard-bench\r\n"
                   f"Accept: {MANIFEST_ACCEPT}\r\n\r\n").encode()

        def connect() -> socket.socket:
            s = socket.create_connection(address, timeout=30)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return s

        def one(s: socket.socket) -> bytes | None:
            s.sendall(request)
            data = b""
            while not data.endswith(b"\r\n\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    return None  # the server closed the connection
                data += chunk
            return data

        s = connect()
        first = one(s)  # check once, in full, that this is the right answer
        if first is None or not first.startswith(b"HTTP/1.1 200") or digest.encode() not in first:
            raise RuntimeError(f"HEAD manifest: unexpected answer {first!r}")
        barrier.wait()
        t0 = time.perf_counter()
        deadline = t0 + seconds
        n = reconnects = 0
        while True:
            reply = one(s)
            if reply is None:
                s.close()
                s = connect()
                reconnects += 1
                continue
            if not reply.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"HEAD manifest: {reply[:200]!r}")
            n += 1
            if time.perf_counter() >= deadline:
                break
        t1 = time.perf_counter()
        s.close()
        out.put(("ok", t0, t1, n, reconnects))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        try:
            barrier.abort()
        except Exception:  # noqa: BLE001
            pass
        out.put(("error", 0.0, 0.0, 0, f"{type(exc).__name__}: {exc}"))


def run_clients(target: Callable[..., None], nclients: int, args: tuple[Any, ...]) -> tuple[float, int, int]:
    """Starts `nclients` processes, releases them together; (wall s, sum of counts, sum of extras)."""
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(nclients)
    out = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, barrier, out), daemon=True) for _ in range(nclients)]
    for p in procs:
        p.start()
    results = []
    try:
        for _ in procs:
            results.append(out.get(timeout=900))
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
                p.join()
    errors = [r[4] for r in results if r[0] == "error"]
    if errors:
        raise RuntimeError("client failed: " + "; ".join(sorted(set(errors))))
    t0 = min(r[1] for r in results)
    t1 = max(r[2] for r in results)
    return t1 - t0, sum(r[3] for r in results), sum(r[4] for r in results)


# --- results ------------------------------------------------------------------------------


@dataclass
class Measure:
    key: str
    title: str
    unit: str
    higher_is_better: bool
    values: dict[str, list[float]] = field(default_factory=dict)
    server_cpu: dict[str, list[float]] = field(default_factory=dict)  # server CPU s per run
    extra: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def median(self, kind: str) -> float | None:
        v = self.values.get(kind)
        return statistics.median(v) if v else None

    def ratio(self) -> float | None:
        a, b = self.median("dockyard"), self.median("distribution")
        return a / b if a is not None and b else None

    def paired_ratio(self) -> float | None:
        """Median of dockyard/Distribution within each iteration (the two ran back to back):
        steadier than the ratio of medians when other load on the machine drifts."""
        pairs = [a / b for a, b in zip(self.values.get("dockyard", []), self.values.get("distribution", [])) if b]
        return statistics.median(pairs) if pairs else None

    def add(self, kind: str, value: float, cpu: float) -> None:
        self.values.setdefault(kind, []).append(value)
        self.server_cpu.setdefault(kind, []).append(cpu)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"measure": self.key, "title": self.title, "unit": self.unit,
                               "higher_is_better": self.higher_is_better}
        for kind in ("dockyard", "distribution"):
            v = self.values.get(kind)
            out[kind] = ({"median": round(statistics.median(v), 3), "runs": [round(x, 3) for x in v],
                          "server_cpu_s": [round(x, 2) for x in self.server_cpu.get(kind, [])]}
                         if v else None)
        r, pr = self.ratio(), self.paired_ratio()
        out["ratio"] = round(r, 3) if r is not None else None
        out["paired_ratio"] = round(pr, 3) if pr is not None else None
        if self.extra:
            out["extra"] = self.extra
        if self.errors:
            out["errors"] = self.errors
        return out


# --- the benchmark ---------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.cache = Path(args.workdir)
        self.cache.mkdir(parents=True, exist_ok=True)
        self.run_dir = Path(tempfile.mkdtemp(prefix="registry-", dir=self.cache))
        self.logs = self.run_dir / "logs"
        self.logs.mkdir()
        self.servers: list[Server] = []
        self.results: list[Measure] = []
        self.meta: dict[str, Any] = {}
        self._n = 0

    def new_server(self, kind: str) -> Server:
        self._n += 1
        work = self.run_dir / f"{kind}-{self._n:02d}"
        log_path = self.logs / f"{kind}-{self._n:02d}.log"
        server: Server
        if kind == "dockyard":
            server = DockyardServer(work, log_path, self.args.workers, not self.args.no_access_log)
        else:
            server = DistributionServer(work, log_path, not self.args.no_access_log)
        self.servers.append(server)
        return server.start()

    def drop_server(self, server: Server) -> None:
        server.stop()
        shutil.rmtree(server.work, ignore_errors=True)

    def order(self, it: int) -> list[str]:
        """A B, then B A, ...: neither server always goes first."""
        return ["dockyard", "distribution"] if it % 2 == 0 else ["distribution", "dockyard"]

    def go(self) -> None:
        a = self.args
        self.meta["dockyard"] = subprocess.run([dockyard_binary(), "--version"], capture_output=True, text=True).stdout.strip()
        self.meta["distribution"] = subprocess.run([DISTRIBUTION, "--version"], capture_output=True, text=True).stdout.strip()
        if a.only is None or {"blob", "head"} & set(a.only):
            servers = {k: self.new_server(k) for k in ("dockyard", "distribution")}
            self.meta["urls"] = {k: s.url for k, s in servers.items()}
            try:
                if a.only is None or "blob" in a.only:
                    self.guarded("blob", lambda: self.blob(servers))
                if a.only is None or "head" in a.only:
                    self.guarded("head", lambda: self.head(servers))
            finally:
                for s in servers.values():
                    self.drop_server(s)
        if a.only is None or "push" in a.only:
            self.guarded("push", self.push)

    def guarded(self, name: str, fn: Callable[[], None]) -> None:
        log(f"== {name}")
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - a failed measurement must not hide the others
            traceback.print_exc()
            m = next((r for r in self.results if r.key == name), None)
            if m is None:
                m = Measure(name, name, "", True)
                self.results.append(m)
            m.errors["setup"] = f"{type(exc).__name__}: {exc}"

    # blob GET throughput
    def blob(self, servers: dict[str, Server]) -> None:
        a = self.args
        size = a.blob_mib * MIB
        m = Measure("blob", f"blob GET, {a.clients} clients x {a.rounds} x {a.blob_mib} MiB", "MB/s", True)
        self.results.append(m)
        path = self.run_dir / "blob.bin"
        log(f"writing a {a.blob_mib} MiB random blob")
        digest = random_file(path, size)
        for kind, server in servers.items():
            t0 = time.perf_counter()
            push_blob(server, "bench/blob", path, digest)
            log(f"  pushed to {kind} in {time.perf_counter() - t0:.2f} s")
            got, n = fetch_sha256(server, f"/v2/bench/blob/blobs/{digest}")
            if (got, n) != (digest, size):
                raise RuntimeError(f"{kind} returned {n} bytes with {got}, want {size} with {digest}")
        path.unlink()
        m.extra = {"blob_bytes": size, "clients": a.clients, "rounds_per_client": a.rounds,
                   "total_bytes_per_run": size * a.clients * a.rounds}
        for it in range(a.warmup + a.runs):
            for kind in self.order(it):
                server = servers[kind]
                cpu0 = server.cpu()
                wall, total, _ = run_clients(_blob_client, a.clients,
                                             (server.address, f"/v2/bench/blob/blobs/{digest}", size, a.rounds))
                cpu = server.cpu() - cpu0
                rate = total / wall / 1e6
                tag = "warm-up" if it < a.warmup else f"run {it - a.warmup + 1}"
                log(f"  blob {kind:12} {tag:8} {rate:9.1f} MB/s  ({total / 1e9:.2f} GB in {wall:.2f} s, server CPU {cpu:.1f} s)")
                if it >= a.warmup:
                    m.add(kind, rate, cpu)

    # manifest HEAD requests per second
    def head(self, servers: dict[str, Server]) -> None:
        a = self.args
        m = Measure("head", f"manifest HEAD by tag, {a.head_clients} clients x {a.head_seconds:g} s", "req/s", True)
        self.results.append(m)
        digests = {kind: push_small_image(s, "bench/small", "latest")[0] for kind, s in servers.items()}
        if len(set(digests.values())) != 1:
            raise RuntimeError(f"the two registries disagree on the manifest digest: {digests}")
        reconnects: dict[str, int] = {}
        for it in range(a.warmup + a.runs):
            for kind in self.order(it):
                server = servers[kind]
                cpu0 = server.cpu()
                seconds = a.head_seconds if it >= a.warmup else min(1.0, a.head_seconds)
                wall, n, rec = run_clients(_head_client, a.head_clients,
                                           (server.address, "/v2/bench/small/manifests/latest", digests[kind], seconds))
                cpu = server.cpu() - cpu0
                rate = n / wall
                tag = "warm-up" if it < a.warmup else f"run {it - a.warmup + 1}"
                log(f"  head {kind:12} {tag:8} {rate:9.0f} req/s ({n} in {wall:.2f} s, server CPU {cpu:.1f} s, {rec} reconnects)")
                if it >= a.warmup:
                    m.add(kind, rate, cpu)
                    reconnects[kind] = reconnects.get(kind, 0) + rec
        m.extra = {"clients": a.head_clients, "seconds": a.head_seconds, "connections_per_client": 1,
                   "reconnects": reconnects}

    # docker push of the ~10-layer image
    def push(self) -> None:
        a = self.args
        spec = workloads.QUICK if a.quick else workloads.FULL
        m = Measure("push", "docker push, multilayer image", "s", False)
        self.results.append(m)
        reason = skip_reason()
        if reason:
            m.errors["setup"] = f"skipped: cannot start a private dockerd: {reason}"
            log(f"  push skipped: {reason}")
            return
        d = private_dockerd(self.run_dir)
        with d:
            self.meta["docker"] = d.run("version", "--format",
                                        "client {{.Client.Version}}, server {{.Server.Version}}").stdout.strip()
            archive = self.multilayer(d, spec)
            d.run("load", "-i", str(archive))
            info = d.inspect(ML_REF)
            layers = len(info["RootFS"]["Layers"])
            m.title = f"docker push, multilayer image ({layers} layers, {info['Size'] / 1e6:.0f} MB)"
            m.extra = {"image": ML_REF, "archive": str(archive), "layers": layers, "image_bytes": info["Size"],
                       "spec": spec.__dict__}
            for it in range(a.push_warmup + a.push_runs):
                for kind in self.order(it):
                    server = self.new_server(kind)
                    ref = f"{server.host}/bench/multilayer:latest"
                    try:
                        d.run("tag", ML_REF, ref)
                        cpu0 = server.cpu()
                        t0 = time.perf_counter()
                        r = d.run("push", ref, timeout=1800)
                        dt = time.perf_counter() - t0
                        cpu = server.cpu() - cpu0
                        self.check_pushed(server, r.stdout, layers)
                    finally:
                        d.run("rmi", ref, check=False)
                        self.drop_server(server)
                    tag = "warm-up" if it < a.push_warmup else f"run {it - a.push_warmup + 1}"
                    log(f"  push {kind:12} {tag:8} {dt:8.2f} s  (server CPU {cpu:.1f} s)")
                    if it >= a.push_warmup:
                        m.add(kind, dt, cpu)

    @staticmethod
    def check_pushed(server: Server, output: str, layers: int) -> None:
        digest = next((w for w in output.split() if w.startswith("sha256:")), None)
        if digest is None:
            raise RuntimeError(f"docker push printed no digest:\n{output}")
        conn = _conn(server)
        try:
            conn.request("GET", f"/v2/bench/multilayer/manifests/{digest}", headers={"Accept": MANIFEST_ACCEPT})
            r = conn.getresponse()
            body = r.read()
        finally:
            conn.close()
        if r.status != 200 or len(json.loads(body)["layers"]) != layers:
            raise RuntimeError(f"{server.label}: pushed manifest {digest}: {r.status} {body[:300]!r}")

    def multilayer(self, d: Dockerd, spec: workloads.MultilayerSpec) -> Path:
        """bench/run.py's cached multilayer archive; built (and cached the same way) if missing."""
        deb = workloads.debian_rootfs_tar(self.cache, log)
        path = workloads.multilayer_tar_path(self.cache, spec, workloads.file_sha256(deb.tar))
        self.meta["debian_source"] = deb.source
        if path.exists():
            return path
        log("building the multilayer image with docker (legacy builder, once; cached for bench/run.py too)")
        d.run("import", str(deb.tar), DEBIAN_BASE_REF)
        ctx = workloads.multilayer_context(self.cache, spec, DEBIAN_BASE_REF, log)
        d.run("build", "-q", "--network", "none", "--force-rm", "-t", ML_REF, str(ctx),
              env={"DOCKER_BUILDKIT": "0"}, timeout=3600)
        tmp = path.with_name(".partial-" + path.name)
        d.run("save", "-o", str(tmp), ML_REF)
        os.replace(tmp, path)
        d.run("rmi", ML_REF, DEBIAN_BASE_REF, check=False)
        shutil.rmtree(ctx, ignore_errors=True)
        return path

    # reporting
    def report(self) -> str:
        def fmt(v: float | None, unit: str) -> str:
            if v is None:
                return "-"
            return f"{v:.2f}" if unit == "s" else f"{v:,.0f}"

        def ratio(v: float | None) -> str:
            return f"{v:.2f}" if v is not None else "-"

        lines = ["| measurement | unit | dockyard | Distribution 2.8 | dockyard/Distribution | paired | better |",
                 "|---|---|---:|---:|---:|---:|---|"]
        notes = []
        for m in self.results:
            lines.append(f"| {m.title} | {m.unit} | {fmt(m.median('dockyard'), m.unit)} | "
                         f"{fmt(m.median('distribution'), m.unit)} | {ratio(m.ratio())} | {ratio(m.paired_ratio())} | "
                         f"{'higher' if m.higher_is_better else 'lower'} |")
            for kind in ("dockyard", "distribution"):
                if m.values.get(kind):
                    runs = ", ".join(fmt(v, m.unit) for v in m.values[kind])
                    cpu = ", ".join(f"{c:.1f}" for c in m.server_cpu.get(kind, []))
                    notes.append(f"- {m.key} {kind}: runs {runs}; server CPU s {cpu}")
            for who, err in m.errors.items():
                notes.append(f"- {m.key} {who}: ERROR: {err}")
        a = self.args
        head = (f"dockyard --workers {a.workers}, Distribution {self.meta.get('distribution', '?').split()[-1]}; "
                f"medians of {a.runs} runs (push: {a.push_runs}) after warm-up, interleaved A B / B A; "
                f"{os.cpu_count()} CPUs, access logs {'off' if a.no_access_log else 'on'} for both; "
                f"dockyard/Distribution = ratio of the medians, paired = median of the per-iteration ratios")
        return "\n".join([head, "", *lines, "", *notes])

    def write_json(self) -> None:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        a = self.args
        doc = {
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "host": {"machine": platform.machine(), "cpus": os.cpu_count(), "kernel": platform.release()},
            "params": {"quick": a.quick, "workers": a.workers, "runs": a.runs, "warmup": a.warmup,
                       "push_runs": a.push_runs, "push_warmup": a.push_warmup, "clients": a.clients,
                       "rounds": a.rounds, "blob_mib": a.blob_mib, "head_clients": a.head_clients,
                       "head_seconds": a.head_seconds, "access_log": not a.no_access_log},
            "meta": self.meta,
            "results": [m.as_json() for m in self.results],
        }
        RESULTS.write_text(json.dumps(doc, indent=2) + "\n")

    def cleanup(self) -> None:
        for s in self.servers:
            try:
                s.stop()
            except Exception:  # noqa: BLE001 - keep cleaning
                traceback.print_exc()
        if self.args.keep_logs:
            shutil.copytree(self.logs, self.args.keep_logs, dirs_exist_ok=True)
        left = mounts_under(self.run_dir)
        if left:
            log(f"warning: mounts left under {self.run_dir}: {left}")
        else:
            shutil.rmtree(self.run_dir, ignore_errors=True)


def private_dockerd(base_dir: Path) -> Dockerd:
    """A Dockerd whose temp dir name is a valid containerd namespace (see bench/README.md)."""
    import re

    valid = re.compile(r"^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$")
    for _ in range(50):
        d = Dockerd(base_dir=base_dir)
        if valid.match(d.tmp.name):
            return d
        d.tmp.rmdir()
    raise RuntimeError("no valid containerd namespace name drawn")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: 64 MiB blob, 1 run, 2 s of HEADs, the small multilayer image")
    p.add_argument("--only", nargs="+", choices=TESTS, metavar="NAME", help=f"measurements to run: {', '.join(TESTS)}")
    p.add_argument("--workers", type=int, default=max(2, os.cpu_count() or 1),
                   help="dockyard worker processes (default: the CPU count, at least 2)")
    p.add_argument("--runs", type=int, default=None, help="timed runs of blob and head per server (default 3, --quick 1)")
    p.add_argument("--warmup", type=int, default=1, help="untimed warm-up runs of blob and head (default 1)")
    p.add_argument("--push-runs", type=int, default=None, help="timed docker pushes per server (default 3, --quick 1)")
    p.add_argument("--push-warmup", type=int, default=None, help="untimed pushes per server first (default 1, --quick 0)")
    p.add_argument("--clients", type=int, default=8, help="parallel blob GET clients (default 8)")
    p.add_argument("--blob-mib", type=int, default=None, help="blob size in MiB (default 256, --quick 64)")
    p.add_argument("--rounds", type=int, default=None, help="GETs of the blob per client per run (default 2, --quick 1)")
    p.add_argument("--head-clients", type=int, default=4, help="HEAD client processes, one keep-alive connection each (default 4)")
    p.add_argument("--head-seconds", type=float, default=None, help="seconds of HEADs per run (default 5, --quick 2)")
    p.add_argument("--no-access-log", action="store_true", help="turn both servers' access logs off (default: on, to a file)")
    p.add_argument("--keep-logs", metavar="DIR", help="copy the servers' logs (access logs included) to DIR before cleaning up")
    p.add_argument("--workdir", default=os.environ.get("DOCKYARD_BENCH_DIR", "/var/tmp/dockyard-bench"),
                   help="input cache (shared with bench/run.py) and scratch space (default /var/tmp/dockyard-bench)")
    a = p.parse_args(argv)
    q = a.quick
    a.runs = a.runs if a.runs is not None else (1 if q else 3)
    a.push_runs = a.push_runs if a.push_runs is not None else (1 if q else 3)
    a.push_warmup = a.push_warmup if a.push_warmup is not None else (0 if q else 1)
    a.blob_mib = a.blob_mib if a.blob_mib is not None else (64 if q else 256)
    a.rounds = a.rounds if a.rounds is not None else (1 if q else 2)
    a.head_seconds = a.head_seconds if a.head_seconds is not None else (2.0 if q else 5.0)
    if not os.access(DISTRIBUTION, os.X_OK):
        sys.exit(f"{DISTRIBUTION} missing (apt-get install docker-registry; scripts/install does)")

    bench = Bench(a)
    return workloads.run_and_report(bench, RESULTS, REPO)

if __name__ == "__main__":
    sys.exit(main())
