#!/usr/bin/env python3
"""The docker CLI against ``dockyard system service`` and against Docker 20.10's dockerd, in one run.

    python3 bench/api.py [--runs 5] [--heavy-runs 3] [--only NAME ...] [--loop-ext4] [--workdir DIR]

Docker's CLI 28 (/usr/local/bin/docker; /usr/bin/docker is Debian's 20.10 client) talks to two daemons:
``dockyard system service --time 0 unix://SCRATCH/api.sock``, started from the installed entry point over
a fresh ``--root``, and a private dockerd (tests/helpers/dockerd.py). Both get the same contents through
the CLI: bench/light.py's 50 small images, the busybox rootfs as bench/busybox:latest and as the build's
base, 20 created containers. dockyard's own CLI runs on the service's store (one more client of it) for
pull and build, the operations whose aim is stated against it. After a warm-up, the tools are
interleaved A B C A B C (bench/run.py's ``measure``):

- images, ps -a, image inspect, inspect CONTAINER: the light calls, aim <= 1.0x dockerd;
- run: ``run --rm --network none bench/busybox:latest true``, aim <= 0.8x dockerd;
- pull: ``pull HOST/bench/multilayer:latest`` from a local Distribution registry docker seeded
  (bench/pull_push.py's), after an untimed ``rmi`` of it; aim within 1.1x of dockyard's own ``pull``;
- build cold / cached: bench/build.py's Dockerfile and context, ``--no-cache`` and fully cached, the
  classic builder (DOCKER_BUILDKIT=0) for both daemons; aim within 1.1x of dockyard's own ``build``.

The light calls run once more at the end (the machine is shared: a second look at the noise). Prints
medians, ratios service/dockerd and service/dockyard-CLI, the 1-min load average per operation, and
writes bench/results/api.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import workloads  # noqa: E402
from bench.build import _context  # noqa: E402
from bench.light import BUSYBOX, setup  # noqa: E402
from bench.pull_push import PullPushBench  # noqa: E402
from bench.run import DockerTool, DockyardTool, Result, Side, log, measure, private_dockerd, process_cpu, run_on_disk  # noqa: E402
from tests.helpers.dockerd import BUSYBOX_TAG, Dockerd, skip_reason  # noqa: E402
from tests.helpers.processes import stop_gently  # noqa: E402
from tests.registry_client.servers import REGISTRY  # noqa: E402

RESULTS = REPO / "bench" / "results" / "api.json"
DOCKER28 = "/usr/local/bin/docker"  # the current CLI
OPERATIONS = ("light", "run", "pull", "build")
LIGHT = (("images", ("images",)), ("ps -a", ("ps", "-a")), ("image inspect", ("image", "inspect", BUSYBOX)),
         ("inspect CONTAINER", ("inspect", "light-0")))
SERVICE, DOCKERD, CLI = "service", "docker", "dockyard"  # the tool names in the results
BUILD_REF = "bench/api-build:1"


class Cli28(DockerTool):
    """Docker's CLI 28 against one daemon (``DockerTool``'s rmi/has helpers, another binary and host)."""

    def __init__(self, name: str, host: str, env: dict[str, str], cpu: Callable[[], float]) -> None:
        self.name, self.host, self._env, self._cpu = name, host, env, cpu

    def argv(self, *args: str | os.PathLike[str]) -> list[str]:
        return [DOCKER28, "-H", self.host, *map(str, args)]

    @property
    def env(self) -> dict[str, str]:
        return self._env

    def cpu(self) -> float:
        return self._cpu()


def dockerd_cli(d: Dockerd) -> Cli28:
    def cpu() -> float:
        assert d.proc is not None
        return process_cpu(d.proc.pid) + (process_cpu(d.containerd_pid) if d.containerd_pid else 0.0)

    return Cli28(DOCKERD, d.host, d.env, cpu)


class ApiService:
    """``dockyard --root ROOT system service --time 0 unix://SOCK`` from the installed entry point."""

    def __init__(self, dy: DockyardTool, sock: Path, log_path: Path) -> None:
        self.sock, self.log_path = sock, log_path
        with open(log_path, "wb") as out:
            self.proc = subprocess.Popen(dy.argv("system", "service", "--time", "0", f"unix://{sock}"), env=dy.env,
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)

    def wait_ready(self, cli: Cli28, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the service exited {self.proc.returncode}: {self.log_tail()}")
            if self.sock.exists() and subprocess.run(cli.argv("version"), env=cli.env, capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"the service did not answer in {timeout} s: {self.log_tail()}")

    def cpu(self) -> float:
        return process_cpu(self.proc.pid)

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        stop_gently(self.proc)


@dataclass(frozen=True, slots=True)
class Aim:
    against: str  # DOCKERD or CLI
    limit: float


class ApiResult(Result):
    """run.py's Result, with the ratios this bench's aims use."""

    def __init__(self, operation: str, aim: Aim) -> None:
        super().__init__(operation)
        self.aim = aim

    def over(self, tool: str) -> float | None:
        a, b = self.median(SERVICE), self.median(tool)
        return a / b if a is not None and b else None

    def met(self) -> bool | None:
        r = self.over(self.aim.against)
        return None if r is None else r <= self.aim.limit

    def as_json(self) -> dict[str, object]:
        out = super().as_json()
        out.pop("ratio", None)  # run.py's dockyard/docker: not a figure of this bench
        for tool in (DOCKERD, CLI):
            r = self.over(tool)
            out[f"service_over_{tool}"] = round(r, 3) if r is not None else None
        out["aim"] = f"service <= {self.aim.limit}x {self.aim.against}"
        out["met"] = self.met()
        return out


class ApiBench(PullPushBench):
    """pull_push.py's bench (scratch or --loop-ext4, registries, the cached multilayer image, dockyard's
    own CLI with an empty DOCKER_CONFIG), measuring through the Engine API."""

    results_path = RESULTS

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args)
        dy = self.dockyard
        dy.env.pop("PYTHONDONTWRITEBYTECODE", None)  # as an installed package runs: with its bytecode
        dy.env["PYTHONPATH"] = str(REPO / "src")  # this checkout's dockyard behind the installed launcher
        self.service: ApiService | None = None

    def go(self) -> int:
        deb = workloads.debian_rootfs_tar(self.cache, log)
        self.debian = deb.tar
        tiny = workloads.tiny_rootfs_tar(self.cache)
        archive = workloads.many_images_archive(self.cache, 50, "light")
        try:
            with private_dockerd(self.scratch) as d:
                docker = dockerd_cli(d)
                dy = self.dockyard
                root = dy.fresh_root("service")
                self.service = ApiService(dy, self.scratch / "api.sock", self.scratch / "service.log")
                svc = Cli28(SERVICE, f"unix://{self.service.sock}", d.env, self.service.cpu)
                self.service.wait_ready(svc)
                self._meta(docker, svc, dy)
                ref = self._seed(docker) if self.wanted("pull") else ""
                for tool in (docker, svc):
                    made = setup(tool, archive, tiny, 20)
                    tool.run("import", "-c", 'CMD ["/bin/sh"]', tiny, BUSYBOX_TAG)
                    self.meta[f"containers_{tool.name}"] = made
                ops: list[tuple[str, Callable[[], list[ApiResult]]]] = [
                    ("light", lambda: self.light(docker, svc, "")),
                    ("run", lambda: [self.run_rm(docker, svc)]),
                    ("pull", lambda: [self.pull(docker, svc, dy, ref, root)]),
                    ("build", lambda: self.build(docker, svc, dy, root)),
                ]
                if self.wanted("light"):
                    ops.append(("light", lambda: self.light(docker, svc, " (again, at the end)")))
                for op, fn in ops:
                    if self.wanted(op):
                        self._one(op, fn)
        finally:
            if self.service is not None:
                self.service.stop()
            self.stop_registries()
        return 0

    def _one(self, op: str, fn: Callable[[], list[ApiResult]]) -> None:
        log(f"== {op}")
        load0 = os.getloadavg()[0]
        try:
            results = fn()
        except Exception as exc:  # noqa: BLE001 - a setup step failed; go on with the rest
            log(f"  {op}: setup FAILED: {exc}")
            results = [ApiResult(op, Aim(DOCKERD, 0))]
            results[0].errors["setup"] = f"{type(exc).__name__}: {exc}"
        for res in results:
            res.notes.append(f"1-min load average {load0:.2f} at the start, {os.getloadavg()[0]:.2f} at the end "
                             f"({os.cpu_count()} CPUs)")
            self.results.append(res)

    def _meta(self, docker: Cli28, svc: Cli28, dy: DockyardTool) -> None:
        fmt = "client {{.Client.Version}}, server {{.Server.Version}} (API {{.Server.APIVersion}})"
        self.meta["docker"] = docker.run("version", "--format", fmt).stdout.decode().strip()
        self.meta["service"] = svc.run("version", "--format", fmt).stdout.decode().strip()
        self.meta["dockyard"] = dy.run("--version").stdout.decode().strip()
        self.meta["dockyard_binary"] = dy.binary
        self.meta["registry"] = subprocess.run([REGISTRY, "--version"], capture_output=True, text=True).stdout.strip()

    def _seed(self, docker: Cli28) -> str:
        """The registry docker seeds with the multilayer image (pull_push.py's), before anything is loaded."""
        self.ml_tar = self.multilayer(docker)
        self.image_id = self._image_id(self.ml_tar)
        ref, layers, seeded = self._seeded_registry(docker, "pull")
        self.meta["pull"] = {"ref": ref, "layers": len(layers), "gzip_bytes": sum(x["size"] for x in layers),
                             "seeded_s": round(seeded, 1)}
        return ref

    # --- operations -------------------------------------------------------------------------

    def light(self, docker: Cli28, svc: Cli28, label: str) -> list[ApiResult]:
        out = []
        for name, args in LIGHT:
            res = ApiResult(name + label, Aim(DOCKERD, 1.0))
            out.append(measure(res, [
                Side(SERVICE, lambda it, a=args: svc.argv(*a), svc.env, daemon_cpu=svc.cpu),
                Side(DOCKERD, lambda it, a=args: docker.argv(*a), docker.env, daemon_cpu=docker.cpu),
            ], self.args.runs, self.args.warmup))
        return out

    def run_rm(self, docker: Cli28, svc: Cli28) -> ApiResult:
        argv = ("run", "--rm", "--network", "none", BUSYBOX, "true")
        return measure(ApiResult("run --rm --network none IMG true", Aim(DOCKERD, 0.8)), [
            Side(SERVICE, lambda it: svc.argv(*argv), svc.env, daemon_cpu=svc.cpu),
            Side(DOCKERD, lambda it: docker.argv(*argv), docker.env, daemon_cpu=docker.cpu),
        ], self.args.runs, self.args.warmup)

    def pull(self, docker: Cli28, svc: Cli28, dy: DockyardTool, ref: str, root: Path) -> ApiResult:
        """After an untimed rmi of the image in the same store (the service and dockyard's CLI share one)."""
        def rmi(tool: Cli28 | DockyardTool) -> Callable[[int], None]:
            def f(it: int) -> None:
                present = tool.run("images", "-q", ref).stdout.strip()
                if present:
                    tool.run("rmi", ref)
            return f

        def check(tool: Cli28 | DockyardTool) -> Callable[[int, subprocess.CompletedProcess[bytes]], None]:
            def f(it: int, r: subprocess.CompletedProcess[bytes]) -> None:
                got = tool.run("image", "inspect", "-f", "{{.Id}}", ref).stdout.decode().strip()
                if got != self.image_id:
                    raise RuntimeError(f"{tool.name}: {ref} has ID {got} after the pull, expected {self.image_id}")
            return f

        layers = self.meta["pull"]["layers"]  # type: ignore[index]
        res = ApiResult(f"pull multilayer after rmi ({layers} layers)", Aim(CLI, 1.1))
        return measure(res, [
            Side(SERVICE, lambda it: svc.argv("pull", "-q", ref), svc.env, prepare=rmi(svc), check=check(svc),
                 daemon_cpu=svc.cpu),
            Side(DOCKERD, lambda it: docker.argv("pull", "-q", ref), docker.env, prepare=rmi(docker),
                 check=check(docker), daemon_cpu=docker.cpu),
            Side(CLI, lambda it: dy.argv("pull", "-q", ref, root=root), dy.env, prepare=rmi(dy), check=check(dy)),
        ], self.args.heavy_runs, self.args.warmup)

    def build(self, docker: Cli28, svc: Cli28, dy: DockyardTool, root: Path) -> list[ApiResult]:
        ctx = _context(self.scratch / "build-context")
        classic = {"DOCKER_BUILDKIT": "0"}
        out = []
        for case, extra in (("cold, --no-cache", ["--no-cache"]), ("fully cached", [])):
            args = ["build", "-q", "--network", "none", *extra, "-t", BUILD_REF, str(ctx)]
            res = ApiResult(f"build {case}", Aim(CLI, 1.1))
            out.append(measure(res, [
                Side(SERVICE, lambda it, a=args: svc.argv(*a), svc.env | classic, daemon_cpu=svc.cpu),
                Side(DOCKERD, lambda it, a=args: docker.argv(*a), docker.env | classic, daemon_cpu=docker.cpu),
                Side(CLI, lambda it, a=args: dy.argv(*a, root=root), dy.env),
            ], self.args.heavy_runs, self.args.warmup))
        return out

    # --- report -------------------------------------------------------------------------------

    def report(self) -> str:
        def s(r: ApiResult, tool: str) -> str:
            if tool in r.errors or "setup" in r.errors:
                return "FAILED"
            m = r.median(tool)
            return f"{m:.3f}" if m is not None else "-"

        def ratio(v: float | None) -> str:
            return f"{v:.2f}" if v is not None else "-"

        rows = [("operation", "service s", "dockerd s", "dockyard CLI s", "svc/dockerd", "svc/CLI", "aim", "met")]
        for r in self.results:
            assert isinstance(r, ApiResult)
            met = {True: "yes", False: "NO", None: "-"}[r.met()]
            rows.append((r.operation, s(r, SERVICE), s(r, DOCKERD), s(r, CLI), ratio(r.over(DOCKERD)),
                         ratio(r.over(CLI)), f"<= {r.aim.limit}x {'dockerd' if r.aim.against == DOCKERD else 'CLI'}", met))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = [f"medians of {self.args.runs} runs (pull, build: {self.args.heavy_runs}) after {self.args.warmup} "
                 f"warm-up, tools interleaved; docker CLI 28 against each daemon; lower is better"]
        for n, row in enumerate(rows):
            lines.append("| " + " | ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i])
                                           for i, c in enumerate(row)) + " |")
            if n == 0:
                lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        lines.append("")
        for r in self.results:
            if r.cpu:
                lines.append(f"- {r.operation}: CPU s (client + daemon) median: " + ", ".join(
                    f"{t} {statistics.median(c):.3f}" for t, c in sorted(r.cpu.items())))
            lines += [f"- {r.operation}: {note}" for note in r.notes]
            lines += [f"- {r.operation}: {tool} ERROR: {err}" for tool, err in r.errors.items()]
        return "\n".join(lines)

    def cleanup(self) -> None:
        if self.service is not None:
            self.service.stop()
        super().cleanup()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5, help="timed runs per tool of the light calls and run (default 5)")
    p.add_argument("--heavy-runs", type=int, default=3, help="timed runs per tool of pull and build (default 3)")
    p.add_argument("--warmup", type=int, default=1, help="untimed warm-up runs per tool (default 1)")
    p.add_argument("--only", nargs="+", choices=OPERATIONS, metavar="NAME", help=", ".join(OPERATIONS))
    p.add_argument("--loop-ext4", action="store_true",
                   help="both stores and the registry on a fresh journaled ext4 (loop file in --workdir)")
    p.add_argument("--loop-size-gb", type=int, default=16, help=argparse.SUPPRESS)
    p.add_argument("--workdir", default=os.environ.get("DOCKYARD_BENCH_DIR", "/var/tmp/dockyard-bench"),
                   help="cache of inputs and scratch space; a real disk (default /var/tmp/dockyard-bench)")
    args = p.parse_args(argv)
    args.quick, args.many = False, 0  # read by run.py's Bench: the full multilayer image
    if reason := skip_reason():
        sys.exit(f"cannot start a private dockerd: {reason}")
    for binary in (DOCKER28, REGISTRY):
        if not os.access(binary, os.X_OK):
            sys.exit(f"{binary} missing")
    return run_on_disk(ApiBench(args), args, RESULTS)


if __name__ == "__main__":
    sys.exit(main())
