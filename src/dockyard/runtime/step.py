"""RUN steps of a build: one process in a root filesystem the builder mounted, through ``runc run``.

Implements ``build.executor.StepRunner``: a one-shot container (no monitor,
no container record) whose output streams to the build's progress and
whose runc state is deleted when it exits, also on error.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Callable, Protocol

from dockyard.errors import DockyardError
from dockyard.runtime.rootfs import HOSTS, resolv_conf, secure_join
from dockyard.runtime.rootless_spec import for_this_namespace
from dockyard.runtime.runc import Runc, last_error
from dockyard.runtime.spec import SpecInput, Volume, build_spec, resolve_user


class _Mount(Protocol):
    source: str
    destination: str
    readonly: bool


class RunRequest(Protocol):
    """The builder's request (``build.executor.RunRequest``), by shape: runtime and build stay independent."""

    rootfs: str
    argv: tuple[str, ...]
    env: tuple[str, ...]
    cwd: str
    user: str
    mounts: tuple[_Mount, ...]
    network: str
    hostname: str
    extra_hosts: tuple[str, ...]


STEP_PREFIX = "build-"


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


class RuncStepRunner:
    def __init__(self, runc: Runc, tmp: Path) -> None:
        self.runc = runc
        self.tmp = tmp

    def run(self, request: RunRequest, output: Callable[[bytes], None]) -> int:
        """Raises DockyardError with runc's message when the process could not be started."""
        cid = STEP_PREFIX + secrets.token_hex(12)
        bundle = Path(tempfile.mkdtemp(dir=self.tmp, prefix="step-"))
        try:
            self._write_bundle(bundle, cid, request)
            log = bundle / "runc.log"  # runc's own complaints, apart from the step's output
            argv = [*self.runc._base(), "--log", str(log), "--log-format", "json", "run", "--bundle", str(bundle), cid]
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            except OSError as exc:
                raise DockyardError(f"cannot run {self.runc.binary}: {exc.strerror}") from exc
            assert proc.stdout is not None
            with proc.stdout:
                while chunk := proc.stdout.read1(1 << 16):  # type: ignore[attr-defined]
                    output(chunk)
            code = proc.wait()
            failure = last_error(log) if code else ""
            if failure:  # the process never ran (not found, not executable, a mount refused)
                raise DockyardError(failure)
            return code
        finally:
            self.runc.delete(cid)
            shutil.rmtree(bundle, ignore_errors=True)

    def _write_bundle(self, bundle: Path, cid: str, request: RunRequest) -> None:
        root = Path(request.rootfs)
        uid, gid, groups, home = resolve_user(
            request.user, _read(secure_join(root, "/etc/passwd")), _read(secure_join(root, "/etc/group"))
        )
        env = list(request.env)
        if not any(e.startswith("HOME=") for e in env):
            env.append(f"HOME={home}")
        host_network = request.network != "none"
        hosts = HOSTS.replace("127.0.0.1\tlocalhost", f"127.0.0.1\tlocalhost {request.hostname}", 1)
        (bundle / "hosts").write_text(hosts + "".join(f"{line}\n" for line in request.extra_hosts))
        (bundle / "resolv.conf").write_text(resolv_conf(_read(Path("/etc/resolv.conf"))))
        spec = build_spec(SpecInput(
            args=request.argv, env=tuple(env), cwd=request.cwd, uid=uid, gid=gid, additional_gids=groups,
            rootfs=str(root), hostname=request.hostname, cgroups_path=f"/dockyard/{cid}", host_network=host_network,
            volumes=tuple(Volume(m.source, m.destination, m.readonly) for m in request.mounts),
            etc_files={"/etc/hosts": str(bundle / "hosts"), "/etc/resolv.conf": str(bundle / "resolv.conf")},
        ))
        (bundle / "config.json").write_text(json.dumps(for_this_namespace(spec)))


def sweep_steps(runc: Runc) -> None:
    """Delete the step containers of builds that were killed (their runc state outlived them)."""
    try:
        names = os.listdir(runc.state_root)
    except OSError:
        return
    for name in names:
        if name.startswith(STEP_PREFIX):
            runc.delete(name)
