#!/usr/bin/env python3
"""The registry on object storage: dockyard on S3 against Distribution 2.8 on S3, same Ceph, one run.

    python3 bench/registry_s3.py [--quick] [--runs N] [--only get put push]

Starts a single-node Ceph with radosgw (tests/helpers/ceph.py, the shared
start script), then three setups, each three replicas behind one round-robin
TCP balancer (tests/helpers/tcpbalancer.py), measured interleaved:

- ``dockyard-s3``: three ``dockyard registry serve`` on one bucket (S3 driver);
- ``distribution-s3``: three Debian ``docker-registry`` (Distribution 2.8) with
  its own ``s3`` driver on another bucket of the same gateway (redirects off,
  like dockyard's default, so both serve the bytes themselves);
- ``dockyard-fs``: three ``dockyard registry serve`` on one local directory.

Measurements (bench/registry.py's clients and workloads, reused):

- get:  blob GET throughput, ``--clients`` processes spread over the replicas,
        each GETting one ``--blob-mib`` blob ``--rounds`` times; MB/s.
- put:  blob PUT throughput, ``--clients`` processes each pushing its own
        random ``--put-mib`` blob (POST + one PUT); MB/s.
- push/pull: ``docker push`` then ``docker pull`` (after ``rmi``) of the
        10-layer multilayer image through the balancer, wall seconds; a fresh
        bucket prefix / directory per run.

Prints a table with each figure and the ratios dockyard-s3/Distribution and
dockyard-s3/dockyard-fs, and writes bench/results/registry_s3.json.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import registry as reg  # noqa: E402
from bench import workloads  # noqa: E402
from tests.helpers.ceph import Ceph  # noqa: E402
from tests.helpers.tcpbalancer import TcpBalancer  # noqa: E402

RESULTS = REPO / "bench" / "results" / "registry_s3.json"
KINDS = ("dockyard-s3", "distribution-s3", "dockyard-fs")
TESTS = ("get", "put", "push")
MIB = reg.MIB
log = reg.log


class S3Distribution(reg.DistributionServer):
    """Distribution 2.8 with its s3 driver (``regionendpoint`` makes it path-style)."""

    def __init__(self, work: Path, log_path: Path, s3: dict[str, Any]) -> None:
        super().__init__(work, log_path, access_log=False)
        self.s3 = s3

    def start(self) -> reg.Server:
        self.work.mkdir(parents=True, exist_ok=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cfg = self.work / "config.yml"
        cfg.write_text(json.dumps({
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {"s3": self.s3, "redirect": {"disable": True}, "delete": {"enabled": True},
                        "cache": {"blobdescriptor": "inmemory"}},
            # replicas must share the secret that signs upload state, or sessions cannot move between them
            "http": {"addr": f"127.0.0.1:{port}", "secret": "bench-replicas-share-this"},
        }))
        with open(self.log_path, "ab") as logf:
            # the AWS SDK panics on a CA bundle it cannot load; plain http needs none
            env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
            self.proc = subprocess.Popen([reg.DISTRIBUTION, "serve", str(cfg)], stdout=logf, stderr=logf,
                                         stdin=subprocess.DEVNULL, start_new_session=True, env=env)
        self.url = f"http://127.0.0.1:{port}"
        self._wait_ping()
        return self


class Setup:
    """Three replicas of one kind behind a balancer."""

    def __init__(self, kind: str, servers: list[reg.Server]) -> None:
        self.kind = kind
        self.servers = servers
        self.balancer = TcpBalancer([s.address for s in servers]).start()

    def cpu(self) -> float:
        return sum(s.cpu() for s in self.servers)

    def stop(self) -> None:
        self.balancer.close()
        for s in self.servers:
            s.stop()


def _put_client(address: tuple[str, int], name: str, path: str, digest: str, barrier: Any, out: Any) -> None:
    """One monolithic blob push (bench/registry.py's push_blob), timed; reported like the GET clients."""
    class Target:
        label = "put"

        def __init__(self) -> None:
            self.address = address

    try:
        barrier.wait()
        t0 = time.perf_counter()
        reg.push_blob(Target(), name, Path(path), digest)  # type: ignore[arg-type]
        out.put(("ok", t0, time.perf_counter(), Path(path).stat().st_size, 0))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        try:
            barrier.abort()
        except Exception:  # noqa: BLE001
            pass
        out.put(("error", 0.0, 0.0, 0, f"{type(exc).__name__}: {exc}"))


class Bench(reg.Bench):
    """bench/registry.py's Bench (its scratch dir, guarded steps, cached multilayer image), three setups."""

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args)
        self.ceph: Ceph | None = None
        self.setups: list[Setup] = []

    # setups ---------------------------------------------------------------

    def _work(self, kind: str) -> tuple[Path, Path]:
        self._n += 1
        return self.run_dir / f"{kind}-{self._n:02d}", self.logs / f"{kind}-{self._n:02d}.log"

    def new_setup(self, kind: str) -> Setup:
        assert self.ceph is not None
        c, prefix = self.ceph, uuid.uuid4().hex[:8]
        servers: list[reg.Server] = []
        shared = self.run_dir / f"fs-{prefix}"
        for _ in range(3):
            work, log_path = self._work(kind)
            if kind == "dockyard-s3":
                storage = {"storage": {"s3": {"endpoint": c.endpoint, "region": c.region, "bucket": "bench-dockyard",
                                              "accesskey": c.access_key, "secretkey": c.secret_key, "prefix": prefix}}}
                servers.append(reg.DockyardServer(work, log_path, self.args.workers, False, storage).start())
            elif kind == "distribution-s3":
                s3 = {"accesskey": c.access_key, "secretkey": c.secret_key, "region": c.region,
                      "regionendpoint": c.endpoint, "bucket": "bench-distribution", "secure": False,
                      "v4auth": True, "chunksize": 8 << 20, "rootdirectory": f"/{prefix}"}
                servers.append(S3Distribution(work, log_path, s3).start())
            else:
                server = reg.DockyardServer(work, log_path, self.args.workers, access_log=False)
                server.storage = shared
                servers.append(server.start())
        setup = Setup(kind, servers)
        self.setups.append(setup)
        return setup

    def drop(self, setup: Setup) -> None:
        setup.stop()
        self.setups.remove(setup)

    # the run --------------------------------------------------------------

    def go(self) -> None:
        a = self.args
        log("starting Ceph (mon, osd, radosgw)")
        # a sparse OSD file large enough for every run's blobs (a full OSD blocks writes, it does not fail them)
        self.ceph = Ceph(self.run_dir / "ceph", osd_size_gb=24).start()
        from dockyard.registry.server.s3client import S3Client, S3Config

        for bucket in ("bench-dockyard", "bench-distribution"):  # Distribution does not create its bucket
            S3Client(S3Config(self.ceph.endpoint, bucket, self.ceph.access_key, self.ceph.secret_key)).ensure_bucket()
        self.meta["distribution"] = subprocess.run([reg.DISTRIBUTION, "--version"], check=False, capture_output=True, text=True).stdout.strip()
        wanted = [name for name in TESTS if a.only is None or name in a.only]
        shared = [name for name in wanted if name != "push"]  # get and put share one set of setups
        setups = {k: self.new_setup(k) for k in KINDS} if shared else {}
        try:
            for step in (getattr(self, name) for name in shared):
                self.guarded(step.__name__, functools.partial(step, setups))
        finally:
            for setup in setups.values():
                self.drop(setup)
        if "push" in wanted:
            self.guarded("push", self.push_pull)

    def order(self, it: int) -> list[str]:
        return list(KINDS[it % 3 :] + KINDS[: it % 3])

    def get(self, setups: dict[str, Setup]) -> None:
        a = self.args
        size = a.blob_mib * MIB
        m = reg.Measure("get", f"blob GET, {a.clients} clients x {a.rounds} x {a.blob_mib} MiB, 3 replicas", "MB/s", True)
        self.results.append(m)
        path = self.run_dir / "blob.bin"
        digest = reg.random_file(path, size)
        for kind, setup in setups.items():
            reg.push_blob(setup.servers[0], "bench/blob", path, digest)
            for server in setup.servers:  # every replica serves it, whole and right
                if reg.fetch_sha256(server, f"/v2/bench/blob/blobs/{digest}") != (digest, size):
                    raise RuntimeError(f"{kind}: wrong blob from {server.url}")
        path.unlink()
        for it in range(a.warmup + a.runs):
            for kind in self.order(it):
                setup = setups[kind]
                cpu0 = setup.cpu()
                wall, total = self._spread(reg._blob_client, setup, lambda i: (f"/v2/bench/blob/blobs/{digest}", size, a.rounds))
                self._record(m, kind, it, total / wall / 1e6, setup.cpu() - cpu0, "MB/s")

    def put(self, setups: dict[str, Setup]) -> None:
        a = self.args
        m = reg.Measure("put", f"blob PUT, {a.clients} clients x {a.put_mib} MiB, 3 replicas", "MB/s", True)
        self.results.append(m)
        for it in range(a.warmup + a.runs):
            for kind in self.order(it):
                setup = setups[kind]
                files = []
                for i in range(a.clients):  # new random bytes every time: nothing is already there
                    path = self.run_dir / f"put-{i}.bin"
                    files.append((str(path), reg.random_file(path, a.put_mib * MIB)))
                cpu0 = setup.cpu()
                wall, total = self._spread(_put_client, setup, lambda i, files=files: (f"bench/put{i}", *files[i]))
                self._record(m, kind, it, total / wall / 1e6, setup.cpu() - cpu0, "MB/s")
                for path, _ in files:
                    os.unlink(path)

    def _spread(self, target: Any, setup: Setup, args_of: Any) -> tuple[float, int]:
        """reg.run_clients with client i talking to replica i % 3 (run_clients gives all one address)."""
        ctx = reg.mp.get_context("fork")
        n = self.args.clients
        barrier, out = ctx.Barrier(n), ctx.Queue()
        procs = [ctx.Process(target=target, args=(setup.servers[i % 3].address, *args_of(i), barrier, out), daemon=True) for i in range(n)]
        for p in procs:
            p.start()
        results = [out.get(timeout=900) for _ in procs]
        for p in procs:
            p.join(timeout=30)
        errors = [r[4] for r in results if r[0] == "error"]
        if errors:
            raise RuntimeError("client failed: " + "; ".join(sorted(set(map(str, errors)))))
        return max(r[2] for r in results) - min(r[1] for r in results), sum(r[3] for r in results)

    def _record(self, m: reg.Measure, kind: str, it: int, value: float, cpu: float, unit: str) -> None:
        tag = "warm-up" if it < self.args.warmup else f"run {it - self.args.warmup + 1}"
        log(f"  {m.key} {kind:16} {tag:8} {value:9.2f} {unit}  (servers' CPU {cpu:.1f} s)")
        if it >= self.args.warmup:
            m.add(kind, value, cpu)

    def push_pull(self) -> None:
        a = self.args
        spec = workloads.QUICK if a.quick else workloads.FULL
        push = reg.Measure("push", "docker push, multilayer image, 3 replicas", "s", False)
        pull = reg.Measure("pull", "docker pull, multilayer image, 3 replicas", "s", False)
        self.results += [push, pull]
        reason = reg.skip_reason()
        if reason:
            push.errors["setup"] = pull.errors["setup"] = f"skipped: cannot start a private dockerd: {reason}"
            return
        d = reg.private_dockerd(self.run_dir)
        with d:
            archive = self.multilayer(d, spec)
            d.run("load", "-i", str(archive))
            info = d.inspect(reg.ML_REF)
            layers = len(info["RootFS"]["Layers"])
            title = f"multilayer image ({layers} layers, {info['Size'] / 1e6:.0f} MB), 3 replicas"
            push.title, pull.title = f"docker push, {title}", f"docker pull, {title}"
            for it in range(a.push_runs):
                for kind in self.order(it):
                    setup = self.new_setup(kind)
                    ref = f"{setup.balancer.host}/bench/multilayer:latest"
                    try:
                        d.run("tag", reg.ML_REF, ref)
                        cpu0 = setup.cpu()
                        t0 = time.perf_counter()
                        d.run("push", ref, timeout=1800)
                        self._record(push, kind, it + a.warmup, time.perf_counter() - t0, setup.cpu() - cpu0, "s")
                        d.run("rmi", ref, reg.ML_REF)  # the image is gone: the pull fetches every layer
                        cpu0 = setup.cpu()
                        t0 = time.perf_counter()
                        d.run("pull", ref, timeout=1800)
                        self._record(pull, kind, it + a.warmup, time.perf_counter() - t0, setup.cpu() - cpu0, "s")
                        if d.inspect(ref)["Id"] != info["Id"]:
                            raise RuntimeError(f"{kind}: pulled image differs")
                    finally:
                        if d.run("image", "inspect", reg.ML_REF, check=False).returncode != 0:
                            if d.run("tag", ref, reg.ML_REF, check=False).returncode != 0:
                                d.run("load", "-i", str(archive))
                        d.run("rmi", ref, check=False)
                        self.drop(setup)

    # reporting --------------------------------------------------------------

    def report(self) -> str:
        def med(m: reg.Measure, kind: str) -> float | None:
            v = m.values.get(kind)
            return statistics.median(v) if v else None

        def fmt(v: float | None, unit: str) -> str:
            return "-" if v is None else (f"{v:.2f}" if unit == "s" else f"{v:,.0f}")

        def ratio(a: float | None, b: float | None) -> str:
            return f"{a / b:.2f}" if a is not None and b else "-"

        lines = ["| measurement | unit | dockyard S3 | Distribution 2.8 S3 | dockyard filesystem | dockyard S3 / Distribution | dockyard S3 / filesystem | better |",
                 "|---|---|---:|---:|---:|---:|---:|---|"]
        notes = []
        for m in self.results:
            s3, dist, fs = (med(m, k) for k in KINDS)
            lines.append(f"| {m.title} | {m.unit} | {fmt(s3, m.unit)} | {fmt(dist, m.unit)} | {fmt(fs, m.unit)} | "
                         f"{ratio(s3, dist)} | {ratio(s3, fs)} | {'higher' if m.higher_is_better else 'lower'} |")
            for kind in KINDS:
                if m.values.get(kind):
                    notes.append(f"- {m.key} {kind}: runs {', '.join(fmt(v, m.unit) for v in m.values[kind])}; "
                                 f"servers' CPU s {', '.join(f'{c:.1f}' for c in m.server_cpu.get(kind, []))}")
            notes += [f"- {m.key} {who}: ERROR: {err}" for who, err in m.errors.items()]
        head = (f"three replicas per setup (dockyard --workers {self.args.workers} each), one Ceph radosgw; "
                f"medians of {self.args.runs} runs (push/pull: {self.args.push_runs}), rotated order; {os.cpu_count()} CPUs")
        return "\n".join([head, "", *lines, "", *notes])

    def write_json(self) -> None:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        doc = {"params": {k: v for k, v in vars(self.args).items() if k != "only"}, "meta": self.meta,
               "results": [{**m.as_json(), **{k: m.values.get(k) for k in KINDS}} for m in self.results]}
        RESULTS.write_text(json.dumps(doc, indent=2) + "\n")

    def cleanup(self) -> None:
        for setup in list(self.setups):
            setup.stop()
        if self.ceph is not None:
            self.ceph.stop()
        shutil.rmtree(self.run_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: 64 MiB blobs, 1 run, the small multilayer image")
    p.add_argument("--only", nargs="+", choices=TESTS, metavar="NAME", help=f"measurements to run: {', '.join(TESTS)}")
    p.add_argument("--workers", type=int, default=1, help="worker processes per dockyard replica (default 1)")
    p.add_argument("--runs", type=int, default=None, help="timed runs of get and put (default 3, --quick 1)")
    p.add_argument("--warmup", type=int, default=1, help="untimed warm-up runs of get and put (default 1)")
    p.add_argument("--push-runs", type=int, default=None, help="timed push+pull per setup (default 2, --quick 1)")
    p.add_argument("--clients", type=int, default=6, help="parallel GET/PUT clients over the three replicas (default 6)")
    p.add_argument("--blob-mib", type=int, default=None, help="GET blob size in MiB (default 256, --quick 64)")
    p.add_argument("--put-mib", type=int, default=None, help="PUT blob size per client in MiB (default 64, --quick 32)")
    p.add_argument("--rounds", type=int, default=None, help="GETs of the blob per client per run (default 2, --quick 1)")
    p.add_argument("--workdir", default=os.environ.get("DOCKYARD_BENCH_DIR", "/var/tmp/dockyard-bench"),
                   help="input cache (shared with bench/run.py) and scratch space (default /var/tmp/dockyard-bench)")
    a = p.parse_args(argv)
    q = a.quick
    a.runs = a.runs if a.runs is not None else (1 if q else 3)
    a.push_runs = a.push_runs if a.push_runs is not None else (1 if q else 2)
    a.blob_mib = a.blob_mib if a.blob_mib is not None else (64 if q else 256)
    a.put_mib = a.put_mib if a.put_mib is not None else (32 if q else 64)
    a.rounds = a.rounds if a.rounds is not None else (1 if q else 2)
    if not os.access(reg.DISTRIBUTION, os.X_OK):
        sys.exit(f"{reg.DISTRIBUTION} missing (apt-get install docker-registry; scripts/install does)")
    return workloads.run_and_report(Bench(a), RESULTS, REPO)


if __name__ == "__main__":
    sys.exit(main())
