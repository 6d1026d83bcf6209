#!/usr/bin/env python3
"""Container start/stop latency: dockyard against Docker 20.10 on the same busybox image, one run.

    python3 bench/containers.py [--runs N] [--only run_rm run_rm_none run_stop20] [--workdir DIR]

Starts a private dockerd (tests/helpers/dockerd.py), imports the deterministic
busybox rootfs (bench/workloads.py's tiny tar) into it and into a dockyard
root on the same disk, and times, after a warm-up, the tools interleaved
A B A B:

- run_rm: `run --rm IMG true` on the default network (docker's bridge,
  dockyard's CNI bridge), the whole command line to its exit;
- run_rm_none: the same with `--network none`, so it is the runtime alone;
- run_stop20: `run -d` of 20 containers (a shell that exits on SIGTERM) one
  after the other and then one `stop` of all 20, as a single shell script.
  Undone by `rm` of the 20 (untimed).

Each run is checked (no container left after run_rm; 20 exited after
run_stop20). dockyard runs with a bytecode cache in the run dir (an installed
package has its .pyc files; the checkout may run with PYTHONDONTWRITEBYTECODE).
Prints medians and the ratio dockyard/docker (lower is better) and writes
bench/results/containers.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import workloads
from bench.run import (
    Bench,
    DockerTool,
    DockyardTool,
    Result,
    Side,
    log,
    measure,
    private_dockerd,
)
from tests.helpers.dockerd import skip_reason

OPERATIONS = ("run_rm", "run_rm_none", "run_stop20")
RESULTS = REPO / "bench" / "results" / "containers.json"
IMAGE = "bench/busybox:latest"
BATCH = 20
# a service that ends on SIGTERM (PID 1 ignores signals it has no handler for): stop then takes no timeout
SERVICE = "sh -c 'trap \"exit 0\" TERM; sleep 1000 & wait'"


def _batch_script(argv: list[str]) -> list[str]:
    """One shell command: BATCH detached containers, then one stop of them all."""
    cli = " ".join(argv)
    names = " ".join(f"bench{i}" for i in range(BATCH))
    script = f"for n in {names}; do {cli} run -d --name $n {IMAGE} {SERVICE} >/dev/null; done; {cli} stop {names} >/dev/null"
    return ["sh", "-ec", script]


class ContainersBench(Bench):
    results_path = RESULTS

    def go(self) -> int:
        tiny = workloads.tiny_rootfs_tar(self.cache)
        dy = self.dockyard
        dy.env.pop("PYTHONDONTWRITEBYTECODE", None)
        dy.env["PYTHONPYCACHEPREFIX"] = str(self.scratch / "pycache")
        with private_dockerd(self.scratch) as d:
            docker = DockerTool(d)
            self.meta["docker"] = docker.run("version", "--format", "{{.Server.Version}}").stdout.decode().strip()
            self.meta["dockyard"] = dy.run("--version").stdout.decode().strip()
            docker.run("import", "--change", 'CMD ["/bin/sh"]', tiny, IMAGE)
            dy.fresh_root("containers")
            dy.run("import", "--change", 'CMD ["/bin/sh"]', tiny, IMAGE)
            for op in OPERATIONS:
                if self.args.only and op not in self.args.only:
                    continue
                log(f"== {op}")
                load0 = os.getloadavg()[0]
                try:
                    res = getattr(self, "op_" + op)(docker, dy)
                except Exception as exc:  # noqa: BLE001 - a setup step failed; go on with the rest
                    res = Result(op, errors={"setup": f"{type(exc).__name__}: {exc}"})
                    log(f"  {op}: setup FAILED: {exc}")
                res.notes.append(f"1-min load average {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
                                 f"({os.cpu_count()} CPUs)")
                self.results.append(res)
        return 0

    def _no_containers(self, tool: DockerTool | DockyardTool) -> Any:
        def check(it: int, r: Any) -> None:
            left = tool.run("ps", "-aq").stdout.decode().split()
            if left:
                raise RuntimeError(f"{tool.name}: containers left after run --rm: {left}")
        return check

    def _run_rm(self, op: str, docker: DockerTool, dy: DockyardTool, *flags: str) -> Result:
        sides = [
            Side("dockyard", lambda it: dy.argv("run", "--rm", *flags, IMAGE, "true"), dy.env,
                 check=self._no_containers(dy)),
            Side("docker", lambda it: docker.argv("run", "--rm", *flags, IMAGE, "true"), docker.env,
                 check=self._no_containers(docker), daemon_cpu=docker.cpu),
        ]
        return measure(Result(op), sides, self.args.runs, self.args.warmup)

    def op_run_rm(self, docker: DockerTool, dy: DockyardTool) -> Result:
        return self._run_rm("run_rm", docker, dy)

    def op_run_rm_none(self, docker: DockerTool, dy: DockyardTool) -> Result:
        return self._run_rm("run_rm_none", docker, dy, "--network", "none")

    def op_run_stop20(self, docker: DockerTool, dy: DockyardTool) -> Result:
        def undo(tool: DockerTool | DockyardTool) -> Any:
            def f(it: int) -> None:
                states = tool.run("ps", "-a", "--format", "{{.State}}").stdout.decode().split()
                tool.run("rm", "-f", *(f"bench{i}" for i in range(BATCH)))
                if states.count("exited") != BATCH:
                    raise RuntimeError(f"{tool.name}: expected {BATCH} exited containers, found {states}")
            return f

        sides = [
            Side("dockyard", lambda it: _batch_script(dy.argv()), dy.env, undo=undo(dy)),
            Side("docker", lambda it: _batch_script(docker.argv()), docker.env, undo=undo(docker),
                 daemon_cpu=docker.cpu),
        ]
        runs = max(1, self.args.runs // 3)
        return measure(Result("run_stop20"), sides, runs, self.args.warmup)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=7, help="timed runs per tool (run_stop20: a third of them)")
    p.add_argument("--warmup", type=int, default=1, help="untimed warm-up runs per tool (default 1)")
    p.add_argument("--only", nargs="+", choices=OPERATIONS, metavar="NAME", help=", ".join(OPERATIONS))
    p.add_argument("--workdir", default=os.environ.get("DOCKYARD_BENCH_DIR", "/var/tmp/dockyard-bench"),
                   help="cache of inputs and scratch space (default /var/tmp/dockyard-bench)")
    args = p.parse_args(argv)
    args.quick, args.loop_ext4, args.many = False, False, 0  # read by run.py's Bench, unused here
    reason = skip_reason()
    if reason:
        sys.exit(f"cannot start a private dockerd: {reason}")
    bench = ContainersBench(args)
    bench.meta["scratch"] = "the work dir's filesystem"
    return workloads.run_and_report(bench, RESULTS, REPO)


if __name__ == "__main__":
    sys.exit(main())
