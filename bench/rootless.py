#!/usr/bin/env python3
"""Rootless dockyard against rootful dockyard and rootless Podman, same inputs, one run.

    python3 bench/rootless.py [--runs N] [--only load pull run] [--workdir DIR]

Run as root. Takes bench/run.py's cached inputs (the ~10-layer multilayer
docker-archive and the busybox rootfs; ``python3 bench/run.py --only load``
builds them once), a real unprivileged user with a subordinate range
(tests/helpers/rootless.py: ``dybench``), and a local Distribution registry
seeded once with the multilayer image (pushed by rootful dockyard, gzip). For
each operation, a warm-up and N timed runs per tool, rotated A B C so drift
cancels; each run gets a never-used store (``--root`` for dockyard, ``--root``
and ``--runroot`` for Podman), so pull and load are cold. Podman runs with
``--runtime runc`` (its default crun refuses this host's hybrid cgroups) and
``--storage-driver overlay`` (native overlay in its user namespace, as dockyard
uses; left to itself it picks vfs here).

- load: ``load -i multilayer.tar``
- pull: ``pull 127.0.0.1:PORT/bench/multilayer:latest`` (HTTP registry)
- run:  ``run --rm IMG true`` with the busybox image already in the store, default network

Prints medians and the ratios rootless/rootful and rootless/podman (lower is
better); writes bench/results/rootless.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import workloads  # noqa: E402
from tests.helpers.rootless import RootlessUser  # noqa: E402
from tests.registry_client.servers import Distribution  # noqa: E402

TOOLS = ("rootful", "rootless", "podman")
OPERATIONS = ("load", "pull", "run")
USER = "dybench"
REPOSITORY = "bench/multilayer:latest"
RESULTS = REPO / "bench" / "results" / "rootless.json"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        cache = Path(args.workdir)
        found = sorted(cache.glob("multilayer-*.tar"), key=lambda p: p.stat().st_mtime)
        if not found:
            sys.exit(f"no multilayer image in {cache}: run `python3 bench/run.py --only load` once to build it")
        import compileall

        import dockyard

        # the user cannot write __pycache__ in a root-owned tree: without this every run compiles (~0.1 s)
        compileall.compile_dir(Path(dockyard.__file__).parent, quiet=1)
        self.user = RootlessUser.ensure(USER)
        self.user.begin_test("bench")
        self.scratch = self.user.work
        self.multilayer = self.scratch / "multilayer.tar"  # the cache is root's alone: a copy the user can read
        shutil.copyfile(found[-1], self.multilayer)
        self.tiny = self.scratch / "tiny.tar"
        shutil.copyfile(workloads.tiny_rootfs_tar(cache), self.tiny)
        for path in (self.multilayer, self.tiny):
            os.chown(path, self.user.uid, self.user.gid)
        self.n = 0
        self.made: list[Path] = []  # the stores of the current run: removed (untimed) after it
        self.registry: Distribution | None = None

    # --- the three tools' command lines -------------------------------------------------

    def fresh(self, tool: str) -> list[str]:
        """argv prefix of ``tool`` on a never-used store."""
        self.n += 1
        root = self.scratch / f"{tool}-{self.n:03d}"
        self.made.append(root)
        py = [sys.executable, "-m", "dockyard"]
        if tool == "rootful":
            return [*py, "--root", str(root)]
        root.mkdir()
        os.chown(root, self.user.uid, self.user.gid)
        if tool == "rootless":
            return self.user.command([*py, "--root", str(root / "store")])
        runroot = Path(f"/tmp/dybench-{os.getpid()}-{self.n}")  # Podman takes at most 50 characters there
        runroot.mkdir(mode=0o700)
        os.chown(runroot, self.user.uid, self.user.gid)
        self.made.append(runroot)
        return self.user.command(["podman", "--root", str(root / "storage"), "--runroot", str(runroot), "--runtime", "runc",
                                  "--storage-driver", "overlay"])

    def call(self, argv: list[str]) -> float:
        t0 = time.perf_counter()
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, cwd=self.scratch)
        elapsed = time.perf_counter() - t0
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[-6:])} exited {result.returncode}: {result.stderr.decode(errors='replace')[-800:]}")
        return elapsed

    # --- operations: (prepare, timed argv) per tool ---------------------------------------

    def op_load(self, tool: str) -> float:
        return self.call([*self.fresh(tool), "load", "-i", str(self.multilayer)])

    def op_pull(self, tool: str) -> float:
        assert self.registry is not None
        tls = ["--tls-verify=false"] if tool == "podman" else []
        return self.call([*self.fresh(tool), "pull", *tls, f"{self.registry.host}/{REPOSITORY}"])

    def op_run(self, tool: str) -> float:
        base = self.fresh(tool)
        self.call([*base, "import", str(self.tiny), "tiny"])
        return self.call([*base, "run", "--rm", "tiny", "true"])

    def seed_registry(self) -> None:
        self.registry = Distribution(self.scratch / "registry")
        base = self.fresh("rootful")
        self.made.clear()  # kept until the end: the seed
        self.call([*base, "load", "-i", str(self.multilayer)])
        ref = f"{self.registry.host}/{REPOSITORY}"
        loaded = subprocess.run([*base, "images", "-q"], capture_output=True, text=True).stdout.split()[0]
        self.call([*base, "tag", loaded, ref])
        self.call([*base, "push", ref])

    # --- the run -------------------------------------------------------------------------

    def measure(self, name: str, op: Callable[[str], float]) -> dict[str, list[float]]:
        times: dict[str, list[float]] = {t: [] for t in TOOLS}
        for i in range(self.args.runs + 1):  # the first round warms up
            for tool in TOOLS[i % 3:] + TOOLS[:i % 3]:
                elapsed = op(tool)
                self.remove_stores()
                subprocess.run(["sync"])
                if i:
                    times[tool].append(elapsed)
            log(f"{name} round {i}: " + ", ".join(f"{t} {times[t][-1]:.3f}s" for t in TOOLS if times[t]))
        return times

    def go(self) -> dict[str, dict[str, list[float]]]:
        results = {}
        for name in self.args.only:
            if name == "pull" and self.registry is None:
                self.seed_registry()
            results[name] = self.measure(name, getattr(self, f"op_{name}"))
        return results

    def remove_stores(self) -> None:
        """As root, which may delete files of the user's subordinate IDs; the user's mounts are in its own
        mount namespace and gone with its processes (a 10-layer vfs store of Podman is several GB)."""
        for path in self.made:
            shutil.rmtree(path, ignore_errors=True)
        self.made.clear()

    def cleanup(self) -> None:
        if self.registry is not None:
            self.registry.stop()
        self.user.end_test()
        for pid in user_processes(self.user.uid):  # Podman's pause process: the bench user's, and no one else's
            os.kill(pid, 9)
        self.remove_stores()


def user_processes(uid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.stat(f"/proc/{entry}").st_uid == uid:
                found.append(int(entry))
        except OSError:
            continue
    return found


def report(results: dict[str, dict[str, list[float]]]) -> str:
    rows = ["| operation | rootful dockyard s | rootless dockyard s | rootless Podman s | rootless/rootful | rootless/Podman |",
            "|---|---|---|---|---|---|"]
    labels = {"load": "load multilayer (cold)", "pull": "pull multilayer (cold)", "run": "run --rm IMG true"}
    for name, times in results.items():
        m = {t: statistics.median(v) for t, v in times.items()}
        rows.append(f"| {labels[name]} | {m['rootful']:.3f} | {m['rootless']:.3f} | {m['podman']:.3f} | "
                    f"{m['rootless'] / m['rootful']:.2f} | {m['rootless'] / m['podman']:.2f} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--only", nargs="+", choices=OPERATIONS, default=list(OPERATIONS))
    p.add_argument("--workdir", default="/var/tmp/dockyard-bench")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("run as root: the bench creates a user and runs the tools as it")
    bench = Bench(args)
    try:
        results = bench.go()
    finally:
        bench.cleanup()
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1))
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
