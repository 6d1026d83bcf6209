#!/usr/bin/env python3
"""Time the light commands of dockyard and Docker on the same store contents, in one run.

    python3 bench/light.py [--runs N] [--warmup N] [--images 50] [--containers 20] [--dockyard PATH] [--workdir DIR]

Each tool gets 50 small images (one docker-archive, bench/workloads.py's many-images input, loaded
into both), the busybox rootfs of tests/helpers imported as bench/busybox:latest, and 20
containers made with ``create`` (dockyard's only if runc works here). Then hyperfine (``-N``: no
shell) times each command of issue 11 item 4 for both tools, dockyard first, and the table gives
the medians, the ratio dockyard/docker (lower is better) and whether dockyard is within 50 ms,
then the mean CPU time (user+system) of each process, which a busy machine disturbs less than
wall time (Docker's is the client's alone: dockerd's work is not in it).
dockyard runs through its installed entry point (the launcher scripts/install writes), Docker's
client against a private dockerd (tests/helpers/dockerd.py). Results also go to
bench/results/light.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import workloads  # noqa: E402
from bench.run import DockerTool, DockyardTool, dockyard_binary, log, private_dockerd, remove_tree  # noqa: E402
from tests.helpers.dockerd import skip_reason  # noqa: E402

RESULTS = REPO / "bench" / "results" / "light.json"
TARGET_MS = 50.0
BUSYBOX = "bench/busybox:latest"
RMI_REF = "bench/rmi:one"

# (name, arguments, prepare arguments run before each timed run or None)
COMMANDS: tuple[tuple[str, tuple[str, ...], tuple[str, ...] | None], ...] = (
    ("--version", ("--version",), None),
    ("images", ("images",), None),
    ("ps -a", ("ps", "-a"), None),
    ("image inspect", ("image", "inspect", BUSYBOX), None),
    ("inspect CONTAINER", ("inspect", "light-0"), None),
    ("tag", ("tag", BUSYBOX, "bench/tagged:x"), None),
    ("history", ("history", BUSYBOX), None),
    ("rmi (one layer)", ("rmi", RMI_REF), ("import", "@LAYER@", RMI_REF)),
    ("volume ls", ("volume", "ls"), None),
    ("network ls", ("network", "ls"), None),
)


def one_file_layer(path: Path) -> Path:
    """The tar ``rmi`` removes each run: one file, so the image has one layer of its own."""
    import io
    import tarfile

    with tarfile.open(path, "w") as tf:
        info = tarfile.TarInfo("rmi-me")
        data = b"one layer\n"
        info.size, info.mtime = len(data), workloads.FIXED_MTIME
        tf.addfile(info, io.BytesIO(data))
    return path


def runc_works() -> bool:
    return shutil.which("runc") is not None and os.geteuid() == 0


def setup(tool: DockerTool | DockyardTool, archive: Path, rootfs: Path, containers: int) -> int:
    """Load the images, import busybox, create the containers; return how many containers were made."""
    tool.run("load", "-i", str(archive))
    tool.run("import", "-c", 'CMD ["/bin/sh"]', str(rootfs), BUSYBOX)
    made = 0
    for i in range(containers):
        try:
            tool.run("create", "--name", f"light-{i}", BUSYBOX, "true")
        except Exception as exc:  # noqa: BLE001 - containers are optional where runc cannot run
            log(f"  {tool.name}: create failed ({exc}); timing without containers")
            break
        made += 1
    return made


def hyperfine(commands: list[list[str]], prepares: list[list[str] | None], env: dict[str, str],
              runs: int, warmup: int, out: Path) -> list[tuple[float, float]]:
    """(median wall s, mean CPU s) of each command (hyperfine -N, no shell in between)."""
    argv = ["hyperfine", "-N", "--style", "none", "-w", str(warmup), "-r", str(runs), "--export-json", str(out)]
    for command, prepare in zip(commands, prepares):
        if prepare is not None:
            argv += ["--prepare", subprocess.list2cmdline(prepare)]
        argv.append(subprocess.list2cmdline(command))
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return [(r["median"], r["user"] + r["system"]) for r in json.loads(out.read_text())["results"]]


def report(rows: list[dict[str, object]]) -> str:
    """Wall medians side by side; CPU (user+system) beside them, steadier than wall on a busy machine."""
    head = f"{'command':<20}{'dockyard ms':>12}{'docker ms':>11}{'ratio':>8}  {'<= 50 ms':<9}{'dy CPU ms':>10}{'docker CPU':>11}"
    lines = [head, "-" * len(head)]
    for r in rows:
        dy, dk = float(r["dockyard_ms"]), float(r["docker_ms"])  # type: ignore[arg-type]
        ratio = f"{dy / dk:.2f}" if dk else "-"
        ok = "yes" if dy <= TARGET_MS else "NO"
        lines.append(f"{r['command']:<20}{dy:>12.1f}{dk:>11.1f}{ratio:>8}  {ok:<9}"
                     f"{float(r['dockyard_cpu_ms']):>10.1f}{float(r['docker_cpu_ms']):>11.1f}")  # type: ignore[arg-type]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--images", type=int, default=50)
    p.add_argument("--containers", type=int, default=20)
    p.add_argument("--dockyard", default=None, help="the dockyard command to time (default: the installed entry point)")
    p.add_argument("--workdir", default=str(REPO / "bench" / "work"), help="cache and scratch dir (on a real disk)")
    args = p.parse_args(argv)
    if reason := skip_reason():
        sys.exit(f"cannot start a private dockerd: {reason}")
    work = Path(args.workdir)
    cache = work / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="light-", dir=work))
    archive = workloads.many_images_archive(cache, args.images, "light")
    rootfs = workloads.tiny_rootfs_tar(cache)
    layer = one_file_layer(scratch / "one-layer.tar")
    binary = args.dockyard or dockyard_binary()
    containers = args.containers if runc_works() else 0
    rows: list[dict[str, object]] = []
    try:
        with private_dockerd(scratch) as d:
            docker = DockerTool(d)
            dy = DockyardTool(binary, scratch / "roots")
            log(f"store: {args.images} images + busybox, up to {containers} created containers each")
            made = {"dockyard": setup(dy, archive, rootfs, containers), "docker": setup(docker, archive, rootfs, containers)}
            env = {k: v for k, v in d.env.items() if not k.startswith("DOCKYARD_")}
            for name, cmd, prepare in COMMANDS:
                if name == "inspect CONTAINER" and not made["dockyard"]:
                    continue
                log(f"== {name}")
                fill = [str(layer) if a == "@LAYER@" else a for a in prepare] if prepare else None
                (dy_wall, dy_cpu), (dk_wall, dk_cpu) = hyperfine(
                    [dy.argv(*cmd), docker.argv(*cmd)],
                    [dy.argv(*fill) if fill else None, docker.argv(*fill) if fill else None],
                    env, args.runs, args.warmup, scratch / "hyperfine.json",
                )
                rows.append({"command": name, "dockyard_ms": dy_wall * 1000, "docker_ms": dk_wall * 1000,
                             "dockyard_cpu_ms": dy_cpu * 1000, "docker_cpu_ms": dk_cpu * 1000})
    finally:
        remove_tree(scratch)
    print(report(rows))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    meta = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "dockyard": binary, "host": platform.node(),
            "images": args.images, "containers": made, "runs": args.runs, "load": os.getloadavg()}
    RESULTS.write_text(json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
