"""bench/build.py: a ~10-layer Dockerfile built by dockyard and by ``docker build`` (BuildKit) in one run.

Three cases each: cold (``--no-cache``), warm (everything cached) and after
touching one late-copied file. Prints medians and dockyard/docker ratios;
keeps them as JSON in bench/results/build.json.

    python bench/build.py [--runs 3] [--dockyard PATH]

dockyard runs as a user runs it: through its installed entry point (the ``python3 -S``
launcher scripts/install writes; ``--dockyard`` names another), not ``python -m dockyard``,
whose site processing alone costs more than a cached build's work.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.run import dockyard_binary  # noqa: E402
from bench.workloads import run_and_report  # noqa: E402
from tests.helpers import images  # noqa: E402
from tests.helpers.dockerd import BUSYBOX_TAG, Dockerd, busybox_image  # noqa: E402

RESULTS = REPO / "bench" / "results" / "build.json"

DOCKERFILE = f"""\
FROM {BUSYBOX_TAG}
ENV APP=/srv/app
RUN mkdir -p $APP/data && echo one > $APP/data/one
COPY lib/ $APP/lib/
RUN for i in 1 2 3 4 5 6 7 8; do echo line $i >> $APP/data/lines; done
COPY conf/ $APP/conf/
RUN cp -r $APP/conf $APP/conf.bak
WORKDIR $APP
COPY assets/ assets/
RUN ls -R assets > assets.list
COPY late.txt ./
RUN cat late.txt > late.copy
CMD ["cat", "late.copy"]
"""


def _context(root: Path) -> Path:
    for d, n, size in (("lib", 200, 2000), ("conf", 50, 500), ("assets", 20, 200_000)):
        (root / d).mkdir(parents=True)
        for i in range(n):
            (root / d / f"f{i:04d}").write_bytes(os.urandom(size))
    (root / "late.txt").write_text("late\n")
    (root / "Dockerfile").write_text(DOCKERFILE)
    return root


class BuildBench:
    def __init__(self, runs: int, dockyard: str) -> None:
        self.runs = runs
        self.dockyard = dockyard
        self.meta: dict[str, Any] = {"runs": runs, "dockyard_binary": dockyard}
        self.timings: dict[str, dict[str, float]] = {}
        self.results: list[Any] = []  # run_and_report's error check: this bench raises instead
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-build-"))
        self.dockerd: Dockerd | None = None

    def _time(self, argv: list[str], env: dict[str, str]) -> float:
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, env=env, timeout=600)
        return time.perf_counter() - t0

    def go(self) -> None:
        self.dockerd = Dockerd().start()
        busybox_image(self.dockerd, self.tmp)
        ctx = _context(self.tmp / "ctx")
        root = self.tmp / "root"
        # as an installed package runs: with its bytecode cached
        yard_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"PYTHONPATH": str(REPO / "src")}
        tar = images.busybox_rootfs_tar(self.tmp / "busybox.tar")
        subprocess.run([self.dockyard, "--root", str(root), "import", "-c", 'CMD ["/bin/sh"]',
                        str(tar), BUSYBOX_TAG], check=True, env=yard_env, capture_output=True)
        tools = {
            "dockyard": ([self.dockyard, "--root", str(root), "build", "-q", "-t", "bench:1"], yard_env),
            "docker": (["/usr/bin/docker", "-H", self.dockerd.host, "build", "-q", "--network", "none", "-t", "bench:1"],
                       {**self.dockerd.env, "DOCKER_BUILDKIT": "1"}),
        }
        for argv, env in tools.values():
            self._time([*argv, str(ctx)], env)  # warm-up: the base image in each builder's cache
        times: dict[str, dict[str, list[float]]] = {tool: {} for tool in tools}
        # runs alternate between the tools, so a busy moment of the machine falls on both alike
        for case in ("cold", "warm", "late file changed"):
            for i in range(self.runs):
                for tool, (argv, env) in tools.items():
                    extra = ["--no-cache"] if case == "cold" else []
                    if case == "late file changed":
                        (ctx / "late.txt").write_text(f"late {tool} {i}\n")
                    times[tool].setdefault(case, []).append(self._time([*argv, *extra, str(ctx)], env))
        self.timings = {tool: {case: statistics.median(v) for case, v in cases.items()} for tool, cases in times.items()}

    def report(self) -> str:
        if len(self.timings) < 2:
            return "incomplete: " + json.dumps(self.timings)
        lines = [f"{'case':<20}{'dockyard s':>12}{'docker s':>12}{'ratio':>8}"]
        for case in self.timings["dockyard"]:
            ours, theirs = self.timings["dockyard"][case], self.timings["docker"][case]
            lines.append(f"{case:<20}{ours:>12.3f}{theirs:>12.3f}{ours / theirs:>8.2f}")
        return "\n".join(lines)

    def write_json(self) -> None:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({"meta": self.meta, "results": self.timings}, indent=1))

    def cleanup(self) -> None:
        if self.dockerd is not None:
            self.dockerd.stop()
        subprocess.run(["umount", "-R", str(self.tmp)], capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--dockyard", default=None, help="the dockyard command to time (default: the installed entry point)")
    args = p.parse_args()
    bench = BuildBench(args.runs, args.dockyard or dockyard_binary())
    run_and_report(bench, RESULTS, REPO)
    return 0 if len(bench.timings) == 2 else 1


if __name__ == "__main__":
    sys.exit(main())
