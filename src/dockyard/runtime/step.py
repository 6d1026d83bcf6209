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
from typing import TYPE_CHECKING, Callable, Protocol

from dockyard.errors import DockyardError
from dockyard.runtime.rootfs import HOSTS, resolv_conf, secure_join
from dockyard.runtime.rootless_spec import for_this_namespace
from dockyard.runtime.runc import Runc, last_error
from dockyard.runtime.spec import SpecInput, Volume, build_spec, resolve_user

if TYPE_CHECKING:
    from dockyard.runtime.network.attachment import ContainerNetworking


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
    """``networking``: the store's networks, for steps that join one (``build --network NAME``); each call
    makes them anew (steps run on worker threads), closed after the step."""

    def __init__(self, runc: Runc, tmp: Path, networking: Callable[[], ContainerNetworking] | None = None) -> None:
        self.runc = runc
        self.tmp = tmp
        self.networking = networking

    def run(self, request: RunRequest, output: Callable[[bytes, bool], None]) -> int:
        """``output(chunk, stderr)`` gets the process's stdout and stderr as they come. Raises DockyardError
        with runc's message when the process could not be started."""
        cid = STEP_PREFIX + secrets.token_hex(12)
        bundle = Path(tempfile.mkdtemp(dir=self.tmp, prefix="step-"))
        networking = self._networking(request.network)
        try:
            self._write_bundle(bundle, cid, request, networking)
            log = bundle / "runc.log"  # runc's own complaints, apart from the step's output
            argv = [*self.runc._base(), "--log", str(log), "--log-format", "json", "run", "--bundle", str(bundle), cid]
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            except OSError as exc:
                raise DockyardError(f"cannot run {self.runc.binary}: {exc.strerror}") from exc
            _pump(proc, output)
            code = proc.wait()
            failure = last_error(log) if code else ""
            if failure:  # the process never ran (not found, not executable, a mount refused)
                raise DockyardError(failure)
            return code
        finally:
            self.runc.delete(cid)
            if networking is not None:
                networking.sandboxes.detach(cid)
                networking.networks.db.close()
            shutil.rmtree(bundle, ignore_errors=True)

    def _networking(self, network: str) -> ContainerNetworking | None:
        """The store's networks for a step that joins one (``build --network NAME``)."""
        if network in ("default", "host", "none"):
            return None
        if self.networking is None:
            raise DockyardError(f"network {network} not found")
        return self.networking()

    def _write_bundle(self, bundle: Path, cid: str, request: RunRequest, networking: ContainerNetworking | None) -> None:
        root = Path(request.rootfs)
        uid, gid, groups, home = resolve_user(
            request.user, _read(secure_join(root, "/etc/passwd")), _read(secure_join(root, "/etc/group"))
        )
        env = list(request.env)
        if not any(e.startswith("HOME=") for e in env):
            env.append(f"HOME={home}")
        host_network = request.network in ("default", "host")
        hosts = HOSTS.replace("127.0.0.1\tlocalhost", f"127.0.0.1\tlocalhost {request.hostname}", 1)
        (bundle / "hosts").write_text(hosts + "".join(f"{line}\n" for line in request.extra_hosts))
        (bundle / "resolv.conf").write_text(resolv_conf(_read(Path("/etc/resolv.conf"))))
        netns = _join(networking, cid, bundle / "hosts", request) if networking is not None else None
        spec = build_spec(SpecInput(
            args=request.argv, env=tuple(env), cwd=request.cwd, uid=uid, gid=gid, additional_gids=groups,
            rootfs=str(root), hostname=request.hostname, cgroups_path=f"/dockyard/{cid}", host_network=host_network,
            netns_path=netns,
            volumes=tuple(Volume(m.source, m.destination, m.readonly) for m in request.mounts),
            etc_files={"/etc/hosts": str(bundle / "hosts"), "/etc/resolv.conf": str(bundle / "resolv.conf")},
        ))
        (bundle / "config.json").write_text(json.dumps(for_this_namespace(spec)))


def _pump(proc: subprocess.Popen[bytes], output: Callable[[bytes, bool], None]) -> None:
    """Both pipes of the step, each chunk as it comes (the classic builder shows stderr apart)."""
    import selectors

    assert proc.stdout is not None and proc.stderr is not None
    with selectors.DefaultSelector() as sel, proc.stdout, proc.stderr:
        sel.register(proc.stdout, selectors.EVENT_READ, False)
        sel.register(proc.stderr, selectors.EVENT_READ, True)
        while sel.get_map():
            for key, _ in sel.select():
                chunk = os.read(key.fd, 1 << 16)
                if chunk:
                    output(chunk, key.data)
                else:
                    sel.unregister(key.fileobj)


def _join(networking: ContainerNetworking, cid: str, hosts: Path, request: RunRequest) -> str:
    """The step joins a network as a container would (its peers' names in its hosts file); its namespace."""
    from dockyard.runtime.network.sandbox import Link, Member

    extra = tuple(f"{name}:{ip}" for ip, _, name in (line.partition("\t") for line in request.extra_hosts))
    member = Member(cid, request.hostname, hosts, extra)
    return str(networking.sandboxes.attach(cid, member, [Link(request.network)], networking.sandboxes.published).netns)


def sweep_steps(runc: Runc) -> None:
    """Delete the step containers of builds that were killed (their runc state outlived them)."""
    try:
        names = os.listdir(runc.state_root)
    except OSError:
        return
    for name in names:
        if name.startswith(STEP_PREFIX):
            runc.delete(name)
