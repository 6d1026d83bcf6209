"""A private, throw-away Docker 20.10 daemon for integration tests.

`Dockerd` runs /usr/sbin/dockerd (or /usr/bin/dockerd) with every piece of
state under one temp dir (data root, exec root, pidfile, socket, config file,
trust key) and a bridge of its own, so it coexists with a host dockerd and
never touches /var/run/docker.sock, /var/lib/docker or /etc/docker.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

import pytest

from . import cgroups, images
from .processes import stop_gently

__all__ = [
    "BUSYBOX_TAG",
    "DOCKER",
    "Dockerd",
    "DockerCommandError",
    "dockerd_binary",
    "skip_reason",
    "dockerd_fixture",
    "busybox_image",
    "multilayer_docker_archive",
    "mounts_under",
]

DOCKER = "/usr/bin/docker"  # Debian's 20.10 client; /usr/local/bin/docker is a different one
_DOCKERD_CANDIDATES = ("/usr/bin/dockerd", "/usr/sbin/dockerd")
_DAEMON_COMMS = {"dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2",
                 "runc", "docker-proxy"}
SYSTEM_CONTAINERD_SOCK = "/run/containerd/containerd.sock"  # used by dockerd if present
# Hard-coded dirs created outside our tmp: legacy plugin dir, shim sockets.
_RUN_DIRS = {"/run/docker": ["plugins"], "/run/containerd": ["s"]}
_PATH = "/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"  # dockerd finds containerd, runc here


def dockerd_binary() -> str | None:
    return next((p for p in _DOCKERD_CANDIDATES if os.access(p, os.X_OK)), None)


def skip_reason() -> str | None:
    """Why a private dockerd cannot run here, or None if it can."""
    if os.geteuid() != 0:
        return "private dockerd needs root"
    if dockerd_binary() is None:
        return "dockerd not installed (apt-get install docker.io)"
    for tool in (DOCKER, "/bin/busybox"):
        if not os.access(tool, os.X_OK):
            return f"{tool} missing"
    if shutil.which("containerd", path=_PATH) is None or shutil.which("runc", path=_PATH) is None:
        return "containerd/runc missing"
    if shutil.which("ip", path=_PATH) is None:
        return "iproute2 (ip) missing"
    return None


class DockerCommandError(subprocess.CalledProcessError):
    def __str__(self) -> str:
        err = self.stderr.decode(errors="replace") if isinstance(self.stderr, bytes) else self.stderr
        return f"{super().__str__()}\n--- stderr ---\n{(err or '').strip()}"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check,
                          env={"PATH": _PATH})


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):  # any thread may have forked
        try:
            kids += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _reap_stale_bridges() -> None:
    """Delete dyk-brN bridges left by a killed run (their owner tmp dir is gone)."""
    for dev in Path("/sys/class/net").glob("dyk-br*"):
        try:
            owner = (dev / "ifalias").read_text().strip()
        except OSError:
            continue
        if owner.startswith("/") and "/dyk-" in owner and not os.path.exists(owner):
            _ip("link", "del", dev.name, check=False)


def _unescape_mount(path: str) -> str:
    # /proc/mounts octal-escapes space, tab, newline, backslash.
    return (path.replace("\\040", " ").replace("\\011", "\t")
            .replace("\\012", "\n").replace("\\134", "\\"))


def mounts_under(root: str | Path) -> list[str]:
    """Mount points at or below `root`, deepest first."""
    root = os.path.realpath(root)
    found = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        mp = _unescape_mount(line.split()[1])
        if mp == root or mp.startswith(root + "/"):
            found.append(mp)
    return sorted(set(found), key=lambda m: m.count("/"), reverse=True)


class Dockerd:
    """Private dockerd; use as a context manager or call start()/stop().

    >>> with Dockerd() as d:
    ...     d.run("version")
    """

    def __init__(self, *, base_dir: str | Path | None = None, start_timeout: float = 60.0,
                 extra_args: Sequence[str] = ()) -> None:
        self.start_timeout = start_timeout
        self.extra_args = list(extra_args)
        self.tmp = Path(tempfile.mkdtemp(prefix="dyk-", dir=base_dir))
        # containerd namespaces allow only [A-Za-z0-9] runs joined by . _ -; temp names may end in _
        self.namespace = "dyk" + "".join(c for c in self.tmp.name[4:] if c.isalnum())
        self.data_root = self.tmp / "data"
        self.exec_root = self.tmp / "exec"
        self.sock = self.tmp / "docker.sock"
        self.log_path = self.tmp / "dockerd.log"
        self.host = f"unix://{self.sock}"
        self.bridge: str | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.containerd_pid: int | None = None
        self._made_run_dirs: list[str] = []
        # Client env: isolated config dir, no DOCKER_HOST/CONTEXT leaking in.
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("DOCKER_") and k != "BUILDKIT_PROGRESS"}
        self.env |= {"PATH": _PATH, "DOCKER_CONFIG": str(self.tmp / "client"),
                     "DOCKER_BUILDKIT": "0", "DOCKER_CLI_HINTS": "false"}

    # --- lifecycle ---------------------------------------------------------

    def __enter__(self) -> "Dockerd":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> "Dockerd":
        binary = dockerd_binary()
        if binary is None:
            raise RuntimeError("dockerd not found")
        atexit.register(self.stop)
        try:
            self._create_bridge()
            (self.tmp / "client").mkdir()
            cfg = self.tmp / "daemon.json"
            # Own config file: never read /etc/docker/daemon.json, and keep the
            # trust key out of /etc/docker/key.json (config-file-only option).
            cfg.write_text(json.dumps({"deprecated-key-path": str(self.tmp / "key.json")}))
            self._made_run_dirs = [d for d in _RUN_DIRS if not os.path.exists(d)]
            cmd = [
                binary,
                "--config-file", str(cfg),
                "--data-root", str(self.data_root),
                "--exec-root", str(self.exec_root),
                "--pidfile", str(self.tmp / "docker.pid"),
                "-H", self.host,
                "--iptables=false", "--ip-masq=false",
                "--bridge", str(self.bridge),
                "--storage-driver", "overlay2",
                # Containers live in cgroup /<tmp name>/<id>, so stop() can find,
                # kill and remove them even after dockerd crashed.
                "--exec-opt", "native.cgroupdriver=cgroupfs",
                "--cgroup-parent", f"/{self.tmp.name}",
                # Separate namespaces in case dockerd picks up a system containerd.
                "--containerd-namespace", self.namespace,
                "--containerd-plugins-namespace", f"{self.namespace}-plugins",
                *self.extra_args,
            ]
            daemon_env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
            daemon_env["PATH"] = _PATH
            with open(self.log_path, "wb") as log:
                self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                             stderr=subprocess.STDOUT, env=daemon_env,
                                             start_new_session=True)
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _create_bridge(self) -> None:
        # First free dyk-brN whose 172.31.(200+N).0/24 is unused; `ip link add`
        # failing on an existing name makes this safe against parallel runs.
        _reap_stale_bridges()
        routes = _ip("-4", "route", "show", "table", "all").stdout
        for n in range(50):
            name, net = f"dyk-br{n}", f"172.31.{200 + n}"
            if os.path.exists(f"/sys/class/net/{name}") or f"{net}." in routes:
                continue
            if _ip("link", "add", name, "type", "bridge", check=False).returncode != 0:
                continue
            self.bridge = name
            _ip("link", "set", name, "alias", str(self.tmp))  # owner, for _reap_stale_bridges
            _ip("addr", "add", f"{net}.1/24", "dev", name)
            _ip("link", "set", name, "up")
            return
        raise RuntimeError("no free dyk-brN bridge name / subnet")

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockerd exited with {self.proc.returncode}\n{self.log_tail()}")
            try:
                r = self.run("version", check=False, timeout=10)
                if r.returncode == 0:
                    break
                err = r.stderr
            except subprocess.TimeoutExpired:
                err = "docker version timed out"
            if time.monotonic() > deadline:
                raise RuntimeError(f"dockerd not ready after {self.start_timeout}s\n"
                                   f"{err}\n{self.log_tail()}")
            time.sleep(0.1)
        # Remember the supervised containerd (absent if a system one was used).
        for c in _children(self.proc.pid):
            try:
                if Path(f"/proc/{c}/comm").read_text().strip() == "containerd":
                    self.containerd_pid = c
            except OSError:
                pass

    def log_tail(self, n: int = 40) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no dockerd log)"
        return "--- dockerd log (tail) ---\n" + "\n".join(lines[-n:])

    def _our_pids(self) -> list[int]:
        """Leftover daemons/shims whose command line names our tmp dir."""
        me = str(self.tmp).encode()
        pids = []
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                comm = (d / "comm").read_text().strip()
                cmdline = (d / "cmdline").read_bytes()
            except OSError:
                continue
            if comm in _DAEMON_COMMS and me in cmdline:
                pids.append(int(d.name))
        return pids

    def _kill_cgroups(self) -> None:
        """SIGKILL every process under our cgroup parent, then rmdir the cgroups."""
        cgroups.kill_and_remove(cgroups.cgroup_roots(self.tmp.name))

    def _remove_containerd_namespaces(self) -> None:
        ctr = shutil.which("ctr", path=_PATH)
        if ctr is None:
            return
        for ns in (self.namespace, f"{self.namespace}-plugins"):
            subprocess.run([ctr, "-a", SYSTEM_CONTAINERD_SOCK, "namespaces", "remove", ns],
                           capture_output=True, timeout=30)

    def _remove_shim_sockets(self) -> None:
        """Shim sockets of crashed shims: /run/containerd/s/sha256(addr/ns/id)."""
        addr = self.exec_root / "containerd" / "containerd.sock"
        tasks = self.exec_root / "containerd" / "daemon" / "io.containerd.runtime.v2.task"
        for bundle in tasks.glob("*/*"):
            ns, cid = bundle.parent.name, bundle.name
            digest = hashlib.sha256(f"{addr}/{ns}/{cid}".encode()).hexdigest()
            Path("/run/containerd/s", digest).unlink(missing_ok=True)

    def stop(self) -> None:
        """Idempotent: stop daemon + containerd + shims, unmount, delete bridge and tmp."""
        atexit.unregister(self.stop)
        if self.proc is not None and self.proc.poll() is None:
            try:  # best effort: remove containers so their mounts go away
                ids = self.run("ps", "-aq", check=False, timeout=30).stdout.split()
                if ids:
                    self.run("rm", "-f", *ids, check=False, timeout=60)
            except subprocess.TimeoutExpired:
                pass
            stop_gently(self.proc)
            if self.containerd_pid is None and os.path.exists(SYSTEM_CONTAINERD_SOCK):
                # dockerd used the system containerd: drop our namespaces there
                self._remove_containerd_namespaces()
        self.proc = None
        self._kill_cgroups()  # container processes that outlived dockerd
        self._remove_shim_sockets()
        # containerd / shims that outlived dockerd: kill them by pid.
        leftovers = set(self._our_pids())
        if self.containerd_pid is not None and _alive(self.containerd_pid):
            leftovers.add(self.containerd_pid)
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in leftovers) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.containerd_pid = None
        if self.tmp.exists():
            for mp in mounts_under(self.tmp):
                if subprocess.run(["umount", mp], capture_output=True).returncode != 0:
                    subprocess.run(["umount", "-l", mp], capture_output=True)
        if self.bridge is not None:
            _ip("link", "del", self.bridge, check=False)
            self.bridge = None
        if self.tmp.exists() and not mounts_under(self.tmp):
            shutil.rmtree(self.tmp, ignore_errors=True)
        # Drop the fixed-path dirs dockerd/shims create if we made them and they are empty.
        for top in self._made_run_dirs:
            for d in [*(os.path.join(top, s) for s in _RUN_DIRS[top]), top]:
                try:
                    os.rmdir(d)
                except OSError:
                    pass
        self._made_run_dirs = []

    # --- client ------------------------------------------------------------

    def run(self, *args: str | os.PathLike[str], check: bool = True,
            input: bytes | str | None = None, timeout: float | None = 300,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[Any]:
        """`/usr/bin/docker -H unix://<sock> *args`; text output unless input is bytes."""
        cmd = [DOCKER, "-H", self.host, *map(str, args)]
        r = subprocess.run(cmd, input=input, capture_output=True,
                           text=not isinstance(input, bytes), timeout=timeout,
                           env=self.env | (env or {}))
        if check and r.returncode != 0:
            raise DockerCommandError(r.returncode, cmd, r.stdout, r.stderr)
        return r

    def load_image_from_tar(self, rootfs_tar: str | Path, tag: str, *,
                            changes: Sequence[str] = ()) -> str:
        """`docker import` a rootfs tar (optionally with Dockerfile `changes`); returns image id."""
        ch = [a for c in changes for a in ("--change", c)]
        return self.run("import", *ch, rootfs_tar, tag).stdout.strip()

    def build(self, context_dir: str | Path, tag: str, *, dockerfile: str | None = None,
              network: str = "none", build_args: dict[str, str] | None = None,
              extra_args: Sequence[str] = ()) -> str:
        """Legacy-builder (DOCKER_BUILDKIT=0) `docker build`; returns the image id."""
        extra = ["-f", dockerfile] if dockerfile else []
        extra += [a for k, v in (build_args or {}).items() for a in ("--build-arg", f"{k}={v}")]
        self.run("build", "-q", "--network", network, "--force-rm", "-t", tag, *extra,
                 *extra_args, context_dir, env={"DOCKER_BUILDKIT": "0"})
        return self.image_id(tag)

    def save(self, image: str, dest: str | Path) -> Path:
        self.run("save", "-o", dest, image)
        return Path(dest)

    def image_id(self, ref: str) -> str:
        return self.run("image", "inspect", "-f", "{{.Id}}", ref).stdout.strip()

    def inspect(self, ref: str) -> dict[str, Any]:
        return json.loads(self.run("inspect", ref).stdout)[0]


@pytest.fixture(scope="session", name="dockerd")
def dockerd_fixture() -> Iterator[Dockerd]:
    """Session-wide private dockerd; skips when it cannot run. Import it into a
    test module or conftest (`from tests.helpers.dockerd import dockerd_fixture`)
    to get a `dockerd` fixture."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    with Dockerd() as d:
        yield d


# --- images built on a Dockerd -----------------------------------------------

BUSYBOX_TAG = "dyk-busybox:latest"


def busybox_image(dockerd: Dockerd, workdir: str | Path, tag: str = BUSYBOX_TAG) -> str:
    """Import the deterministic busybox rootfs as `tag` (once); returns the image id."""
    r = dockerd.run("image", "inspect", "-f", "{{.Id}}", tag, check=False)
    if r.returncode == 0:
        return r.stdout.strip()
    tar = images.busybox_rootfs_tar(Path(workdir) / "busybox-rootfs.tar")
    return dockerd.load_image_from_tar(tar, tag, changes=['CMD ["/bin/sh"]'])


# security.capability = cap_net_raw+ep (VFS_CAP_REVISION_2). busybox has no
# setfattr, so the xattr comes from an ADDed tar (dockerd applies its xattrs);
# Docker 20.10's layer differ keeps only security.capability (user.* vanish).
_CAP_NET_RAW_EP = bytes.fromhex("01000002" "00200000" "00000000" "00000000" "00000000")

_MULTILAYER_DOCKERFILE = """\
FROM {base}
ENV DYK_ENV=hello PATH=/usr/bin:/bin
LABEL org.dockyard.test=multilayer
# L1: plain files and a tree that later layers delete / replace
RUN mkdir -p /data/keep /data/replace/sub \\
 && echo a > /data/keep/a.txt \\
 && echo old > /data/replace/old.txt && echo old > /data/replace/sub/x \\
 && echo gone > /data/delete-me.txt && echo gone > /data/keep/delete-too.txt
# L2: hardlink + symlink + setuid/setgid files (link and target in one layer)
RUN mkdir /data/links \\
 && echo linked > /data/links/target && ln /data/links/target /data/links/hard \\
 && ln -s ../keep/a.txt /data/links/sym \\
 && echo suid > /data/suid && chmod 4755 /data/suid \\
 && echo sgid > /data/sgid && chmod 2755 /data/sgid
# L3: deletions -> .wh.<name> whiteouts
RUN rm /data/delete-me.txt /data/keep/delete-too.txt
# L4: directory replaced -> .wh..wh..opq opaque whiteout
RUN rm -rf /data/replace && mkdir /data/replace && echo new > /data/replace/new.txt
# L5: files from the build context; ADD extracts xattrs.tar (cap.bin + xattrs)
COPY added/ /data/added/
ADD xattrs.tar /data/xattrs/
CMD ["/bin/sh", "-c", "echo multilayer"]
"""


def multilayer_docker_archive(dockerd: Dockerd, workdir: str | Path,
                              tag: str = "dyk-multilayer:latest") -> Path:
    """Build a 7-layer image (adds, deletes, opaque dir, hard/sym links,
    setuid/setgid, a security.capability xattr, ENV/LABEL/CMD) and `docker save`
    it to `<workdir>/multilayer.tar`; returns that path."""
    work = Path(workdir)
    busybox_image(dockerd, work)
    ctx = work / "multilayer-ctx"
    (ctx / "added").mkdir(parents=True, exist_ok=True)
    (ctx / "Dockerfile").write_text(_MULTILAYER_DOCKERFILE.format(base=BUSYBOX_TAG))
    (ctx / "added" / "hello.txt").write_text("hello from context\n")
    images.layer_tar(ctx / "xattrs.tar", [
        images.file("cap.bin", b"cap\n", 0o755, xattrs={
            "security.capability": _CAP_NET_RAW_EP, "user.dockyard": b"dropped-by-20.10"}),
    ])
    dockerd.build(ctx, tag)
    return dockerd.save(tag, work / "multilayer.tar")
