#!/usr/bin/env python3
"""Cold pull and push of the multilayer image: dockyard against Docker 20.10, same registry kind, one run.

    python3 bench/pull_push.py [--runs N] [--only pull push] [--quick] [--loop-ext4] [--workdir DIR]

Starts a private dockerd (tests/helpers/dockerd.py) and Debian's CNCF
Distribution 2.8 (`/usr/bin/docker-registry serve CONFIG.yml`, filesystem
storage in a temp dir, 127.0.0.1, a free port; tests/registry_client/servers.py),
takes bench/workloads.py's 10-layer multilayer image (built and cached by
bench/run.py's recipe) and times, after a warm-up, the two tools interleaved
A B A B:

- pull: `pull HOST/bench/multilayer:latest` with the image absent locally,
  from one registry that holds it (pushed once beforehand by docker, so the
  blobs are Docker's gzip). Undone by `rmi` of everything (docker) and a
  fresh `--root` (dockyard). A third, reference "tool" in the same rotation
  (as run.py's load; --no-reference skips it): GNU `tar -x` of the image's
  uncompressed layer tars into a fresh dir, i.e. what creating those files
  costs right then on that filesystem.
- push: `push HOST/bench/multilayer:latest` into a registry started afresh
  (new process, empty storage) for every run of each tool. docker has the
  image from `docker load`; dockyard from `dockyard load` into a fresh
  `--root`, so it has no compressed blob yet and compresses every layer.

Each run is checked (the image ID after a pull; the manifest, config and
layer count in the registry after a push). Prints medians and the ratio
dockyard/docker (lower is better) and writes bench/results/pull_push.json.
Stops the registries and dockerd, unmounts the loop file and deletes its run
dir at the end; the cached inputs stay in --workdir. See bench/README.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import workloads  # noqa: E402
from bench.run import (  # noqa: E402
    ML_REF,
    Bench,
    DockerTool,
    DockyardTool,
    Result,
    Side,
    log,
    measure,
    private_dockerd,
    remove_tree,
    run_on_disk,
)
from tests.helpers.dockerd import skip_reason  # noqa: E402
from tests.registry_client.servers import REGISTRY, Distribution  # noqa: E402

OPERATIONS = ("pull", "repull", "push")
RESULTS = REPO / "bench" / "results" / "pull_push.json"
REPOSITORY = "bench/multilayer"
TAG = "latest"
MANIFEST_ACCEPT = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
])


def registry_manifest(reg: Distribution, repository: str = REPOSITORY, tag: str = TAG) -> dict[str, Any]:
    conn = http.client.HTTPConnection(reg.host, timeout=30)
    try:
        conn.request("GET", f"/v2/{repository}/manifests/{tag}", headers={"Accept": MANIFEST_ACCEPT})
        r = conn.getresponse()
        body = r.read()
    finally:
        conn.close()
    if r.status != 200:
        raise RuntimeError(f"GET {reg.host}/v2/{repository}/manifests/{tag}: HTTP {r.status} {body[:200]!r}")
    return json.loads(body)


class PullPushBench(Bench):
    """bench/run.py's Bench (scratch dir or --loop-ext4 mount, dockyard roots, the cached
    multilayer image, cleanup) with the two registry operations instead of run.py's."""

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args)
        self.registries: list[Distribution] = []
        self._reg_n = 0
        # dockyard reads logins from $DOCKER_CONFIG: an empty one of its own, never the host's
        cfg = self.scratch / "dockyard-docker-config"
        cfg.mkdir()
        self.dockyard.env["DOCKER_CONFIG"] = str(cfg)

    # --- registries -----------------------------------------------------------------

    def start_registry(self, label: str) -> Distribution:
        self._reg_n += 1
        reg = Distribution(self.scratch / "registries" / f"{label}-{self._reg_n:03d}")
        self.registries.append(reg)
        return reg

    def drop_registry(self, reg: Distribution) -> None:
        reg.stop()
        if reg in self.registries:
            self.registries.remove(reg)
        remove_tree(reg.workdir)

    def stop_registries(self) -> None:
        for reg in list(self.registries):
            try:
                self.drop_registry(reg)
            except Exception as exc:  # noqa: BLE001 - best effort at the end
                log(f"warning: stopping registry {reg.host}: {exc}")

    # --- the run ----------------------------------------------------------------------

    def go(self) -> int:
        deb = workloads.debian_rootfs_tar(self.cache, log)
        self.debian = deb.tar
        self.meta["debian"] = {"source": deb.source, "tar": str(deb.tar)}
        runs, warmup = self.args.runs, self.args.warmup
        try:
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
                self.meta["registry"] = subprocess.run([REGISTRY, "--version"], capture_output=True,
                                                       text=True, check=False).stdout.strip()
                self.meta["unpigz_on_dockerd_path"] = bool(
                    shutil.which("unpigz", path="/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"))
                self.ml_tar = self.multilayer(docker)
                self.image_id = self._image_id(self.ml_tar)
                self.meta["multilayer"]["image_id"] = self.image_id
                for op in OPERATIONS:
                    if self.args.only and op not in self.args.only:
                        continue
                    log(f"== {op}")
                    load0 = os.getloadavg()[0]
                    try:
                        res = getattr(self, "op_" + op)(docker, dy, runs, warmup)
                    except Exception as exc:  # noqa: BLE001 - a setup step failed; go on with the rest
                        res = Result(op, errors={"setup": f"{type(exc).__name__}: {exc}"})
                        log(f"  {op}: setup FAILED: {exc}")
                    res.notes.append(f"1-min load average {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the "
                                     f"end ({os.cpu_count()} CPUs; other work on the machine shows up as noise)")
                    self.results.append(res)
                    self.stop_registries()
                    try:
                        docker.clear()
                    except Exception as exc:  # noqa: BLE001
                        log(f"warning: docker clear failed: {exc}")
                    remove_tree(dy.roots)
                    os.sync()
        finally:
            self.stop_registries()
        return 0

    @staticmethod
    def _image_id(archive: Path) -> str:
        with tarfile.open(archive) as tf:
            m = tf.extractfile("manifest.json")
            assert m is not None
            return "sha256:" + json.load(m)[0]["Config"].removesuffix(".json")

    def _check_id(self, tool: DockerTool | DockyardTool, ref: str) -> Callable[[int, subprocess.CompletedProcess[bytes]], None]:
        def check(it: int, r: subprocess.CompletedProcess[bytes]) -> None:
            got = tool.run("image", "inspect", "-f", "{{.Id}}", ref).stdout.decode().strip()
            if got != self.image_id:
                raise RuntimeError(f"{tool.name}: {ref} has ID {got} after the pull, expected {self.image_id}")
        return check

    # --- operations -----------------------------------------------------------------

    def _seeded_registry(self, docker: DockerTool, label: str) -> tuple[str, list[dict[str, Any]], float]:
        """A registry holding the image as docker pushed it (Docker's gzip blobs); docker left empty."""
        assert self.ml_tar is not None
        docker.clear()
        reg = self.start_registry(label)
        ref = f"{reg.host}/{REPOSITORY}:{TAG}"
        t0 = time.perf_counter()
        docker.run("load", "-i", self.ml_tar)
        docker.run("tag", ML_REF, ref)
        docker.run("push", ref)
        seeded = time.perf_counter() - t0
        layers = registry_manifest(reg)["layers"]
        docker.clear()
        if docker.has(ref) or docker.run("images", "-aq").stdout.strip():
            raise RuntimeError("docker still has images before the cold pulls")
        return ref, layers, seeded

    def op_pull(self, docker: DockerTool, dy: DockyardTool, runs: int, warmup: int) -> Result:
        ref, layers, seeded = self._seeded_registry(docker, "pull")
        compressed = sum(layer["size"] for layer in layers)
        ml = self.meta["multilayer"]
        res = Result(f"pull multilayer cold ({len(layers)} layers, {compressed / 1e6:.0f} MB gzip, "
                     f"{ml['bytes'] / 1e6:.0f} MB tar)")
        res.notes.append(f"registry seeded once by docker load + docker push ({seeded:.1f} s, untimed); "
                         f"layer blobs {compressed} bytes")

        measure(res, [
            Side("dockyard", lambda it: dy.argv("pull", ref), dy.env,
                 prepare=lambda it: dy.fresh_root("pull") and None, check=self._check_id(dy, ref),
                 undo=lambda it: remove_tree(dy.root)),
            Side("docker", lambda it: docker.argv("pull", ref), docker.env, daemon_cpu=docker.cpu,
                 check=self._check_id(docker, ref), undo=lambda it: docker.clear()),
            # run.py's reference: GNU tar -x of the same (uncompressed) layer tars into a fresh dir
            *self.reference("pull", self._layer_tars()),
        ], runs, warmup)
        for d in (self.scratch / "reference", self.scratch / "layers"):
            remove_tree(d)
        self.meta["pull_blobs"] = {"layers": len(layers), "compressed_bytes": compressed,
                                   "media_type": layers[0]["mediaType"] if layers else None}
        return res

    def op_repull(self, docker: DockerTool, dy: DockyardTool, runs: int, warmup: int) -> Result:
        """pull right after ``rmi`` of the same image, in one store on the work dir's own disk: the layers'
        files are created where just as many were deleted (on ext4 without a journal, slow to allocate)."""
        ref, layers, _ = self._seeded_registry(docker, "repull")
        root = dy.fresh_root("repull")

        def dy_prepare(it: int) -> None:
            if not dy.run("images", "-q", ref, root=root).stdout.strip():
                dy.run("pull", "-q", ref, root=root)
            dy.run("rmi", ref, root=root)

        def docker_prepare(it: int) -> None:
            if not docker.has(ref):
                docker.run("pull", "-q", ref)
            docker.run("rmi", ref)

        return measure(Result(f"pull multilayer right after rmi of it ({len(layers)} layers, same disk)"), [
            Side("dockyard", lambda it: dy.argv("pull", ref, root=root), dy.env, prepare=dy_prepare,
                 check=self._check_id(dy, ref)),
            Side("docker", lambda it: docker.argv("pull", ref), docker.env, daemon_cpu=docker.cpu,
                 prepare=docker_prepare, check=self._check_id(docker, ref)),
        ], runs, warmup)

    def op_push(self, docker: DockerTool, dy: DockyardTool, runs: int, warmup: int) -> Result:
        assert self.ml_tar is not None
        docker.clear()
        docker.run("load", "-i", self.ml_tar)
        current: dict[str, Distribution] = {}
        pushed: dict[str, tuple[int, str]] = {}  # tool -> (bytes of layer blobs, manifest media type)

        def ref(tool: str) -> str:
            return f"{current[tool].host}/{REPOSITORY}:{TAG}"

        def prepare_dockyard(it: int) -> None:
            dy.fresh_root("push")
            dy.run("load", "-q", "-i", self.ml_tar)  # no compressed blob in this root: push must gzip every layer
            current["dockyard"] = self.start_registry("push-dockyard")
            dy.run("tag", ML_REF, ref("dockyard"))

        def prepare_docker(it: int) -> None:
            current["docker"] = self.start_registry("push-docker")
            docker.run("tag", ML_REF, ref("docker"))

        def check(tool: str) -> Callable[[int, subprocess.CompletedProcess[bytes]], None]:
            def f(it: int, r: subprocess.CompletedProcess[bytes]) -> None:
                m = registry_manifest(current[tool])
                if m["config"]["digest"] != self.image_id:
                    raise RuntimeError(f"{tool}: pushed config {m['config']['digest']}, expected {self.image_id}")
                want = self.meta["multilayer"]["layers"]
                if len(m["layers"]) != want:
                    raise RuntimeError(f"{tool}: pushed manifest lists {len(m['layers'])} layers, expected {want}")
                pushed[tool] = (sum(layer["size"] for layer in m["layers"]), m.get("mediaType", "?"))
            return f

        def undo_dockyard(it: int) -> None:
            if "dockyard" in current:
                self.drop_registry(current.pop("dockyard"))
            remove_tree(dy.root)

        def undo_docker(it: int) -> None:
            if "docker" in current:
                r = current.pop("docker")
                subprocess.run(docker.argv("rmi", f"{r.host}/{REPOSITORY}:{TAG}"), env=docker.env, capture_output=True, check=False)
                self.drop_registry(r)

        ml = self.meta["multilayer"]
        res = measure(Result(f"push multilayer to an empty registry ({ml['layers']} layers, "
                             f"{ml['bytes'] / 1e6:.0f} MB tar)"), [
            Side("dockyard", lambda it: dy.argv("push", ref("dockyard")), dy.env,
                 prepare=prepare_dockyard, check=check("dockyard"), undo=undo_dockyard),
            Side("docker", lambda it: docker.argv("push", ref("docker")), docker.env, daemon_cpu=docker.cpu,
                 prepare=prepare_docker, check=check("docker"), undo=undo_docker),
        ], runs, warmup)
        for tool, (size, media_type) in sorted(pushed.items()):
            res.notes.append(f"{tool}: pushed {size} bytes of layer blobs ({media_type})")
        self.meta["pushed_layer_bytes"] = {tool: size for tool, (size, _) in pushed.items()}
        return res

    # --- report -----------------------------------------------------------------------

    results_path = RESULTS

    def report(self) -> str:
        table = super().report().split("\n", 1)[1]  # run.py's table and notes, with our own head line
        head = (f"medians of {self.args.runs} runs after {self.args.warmup} warm-up, tools interleaved A B A B; "
                f"scratch: {self.meta.get('scratch')}; ratio = dockyard/docker, lower is better; "
                f"CPU = client + (docker) dockerd/containerd, registry not counted")
        return head + "\n" + table

    def cleanup(self) -> None:
        self.stop_registries()
        super().cleanup()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=None, help="timed runs per tool (default 3, --quick 1)")
    p.add_argument("--warmup", type=int, default=1, help="untimed warm-up runs per tool (default 1)")
    p.add_argument("--only", nargs="+", choices=OPERATIONS, metavar="NAME", help="pull, push")
    p.add_argument("--quick", action="store_true", help="smoke run: the smaller multilayer image, 1 run")
    p.add_argument("--no-reference", action="store_true",
                   help="skip the GNU tar -x reference runs next to the pulls")
    p.add_argument("--loop-ext4", action="store_true",
                   help="put dockerd's data root, the dockyard roots and the registries on a fresh journaled "
                        "ext4 (loop file in --workdir); see bench/README.md")
    p.add_argument("--loop-size-gb", type=int, default=16, help=argparse.SUPPRESS)
    p.add_argument("--workdir", default=os.environ.get("DOCKYARD_BENCH_DIR", "/var/tmp/dockyard-bench"),
                   help="cache of inputs and scratch space; must be on a real disk (default /var/tmp/dockyard-bench)")
    args = p.parse_args(argv)
    if args.runs is None:
        args.runs = 1 if args.quick else 3
    args.many = 0  # read by run.py's Bench, unused here
    reason = skip_reason()
    if reason:
        sys.exit(f"cannot start a private dockerd: {reason}")
    if not os.access(REGISTRY, os.X_OK):
        sys.exit(f"{REGISTRY} missing (apt-get install docker-registry)")
    return run_on_disk(PullPushBench(args), args, RESULTS)

if __name__ == "__main__":
    sys.exit(main())
