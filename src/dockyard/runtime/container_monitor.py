"""The body of a container's monitor process: mount, run (again, as the restart policy says), record, tear down.

``ContainerStore.start`` forks it; ``container-monitor`` runs it in a fresh interpreter. The process-level
parts (subreaper, stdio, attach server, runc create/start) are in ``monitor``.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any, Callable

from dockyard.errors import DockyardError
from dockyard.metadata.container_record import HealthConfig
from dockyard.metadata.events import container_event, volume_events
from dockyard.oci.timefmt import rfc3339_nano
from dockyard.runtime import container_spec, health, links, resources, rootfs, spawn
from dockyard.runtime import monitor as mon
from dockyard.runtime.container_state import STOP_MARKER, starttime, write_state
from dockyard.runtime.isolation import restart_policy
from dockyard.runtime.restart import next_delay
from dockyard.runtime.rootfs import Paths

if TYPE_CHECKING:
    from dockyard.runtime.containers import Container, ContainerStore


def monitor(store: ContainerStore, cid: str, attach_fd: int | None) -> int:
    """The monitor's body (runs in its own process): mount, run, record, tear down."""
    mon.detach_signals()
    mon.become_subreaper()
    container = store.get(cid)
    paths = store.paths(cid)
    state = {**container.state, "Status": "starting", "MonitorPid": os.getpid(), "MonitorStart": starttime(os.getpid()),
             "Error": "", "ExitCode": 0, "RestartCount": 0}
    state.pop("Health", None)  # the probe loop's file holds it
    (paths.dir / STOP_MARKER).unlink(missing_ok=True)
    write_state(paths, state)
    server = mon.attach_server(paths, container.record["Config"], attach_fd, container.record["HostConfig"].get("LogConfig"))
    sandbox = None
    try:
        children: list[links.Linked] = []
        if store.networking is not None:
            children = links.gather(container, store.get, store.networking.describe)
            record = container.record
            if children:  # the links' hosts lines come after --add-host's, as dockerd writes them
                extra = [*(record["HostConfig"].get("ExtraHosts") or ()), *links.hosts_entries(children)]
                record = {**record, "HostConfig": {**record["HostConfig"], "ExtraHosts": extra}}
            sandbox = store.networking.attach(cid, container.name, record, paths.hosts)
        container_spec.prepare(container, store.rootfs_mounts(container), paths, str(sandbox.netns) if sandbox else None,
                               tuple(links.env(children)))
        if sandbox is not None and store.networking is not None:
            store.networking.start_resolver(cid, container.record, sandbox, paths.resolv, paths.hosts)
        volume_events(store.db, "mount", cid, container.record.get("Volumes", []))
        check = _healthcheck(container.record)
        prober: list[int | None] = [None]  # this run's probe loop

        def started(pid: int) -> None:
            prober[0] = health.start(store, cid, check)  # "starting" is on disk before the state says running
            state.update(Status="running", Pid=pid, StartedAt=rfc3339_nano(), OOMKilled=False)
            write_state(paths, state)
            container_event(store.db, "start", cid, container.name, container.record)
            spawn.release_stderr()  # tells a waiting ``run -d``/``start`` that it runs

        def exited() -> None:
            health.stop(prober[0])
            prober[0] = None
            state["OOMKilled"] = resources.oom_kills(cid) > 0

        code = _run_with_policy(store, container, paths, server, state, started, exited)
    except (mon.StartFailed, DockyardError, OSError) as exc:
        code = getattr(exc, "code", 125)
        state.update(Status="created" if isinstance(exc, mon.StartFailed) else "exited", Pid=0, ExitCode=code,
                     Error=str(exc), FinishedAt=rfc3339_nano())
        mon.report_start_error(str(exc))
    finally:
        try:
            if store.networking is not None:
                store.networking.detach(cid, sandbox.sockets if sandbox else None)
            rootfs.unmount_rootfs(paths)
            volume_events(store.db, "unmount", cid, container.record.get("Volumes", []))
        finally:
            write_state(paths, state)
            server.end_run(state["ExitCode"])
            server.close()
    if container.record["HostConfig"]["AutoRemove"]:
        store.remove(store.get(cid), force=True, volumes=True)
    return code


def _healthcheck(record: dict[str, Any]) -> HealthConfig | None:
    stored = record["Config"].get("Healthcheck")
    return None if stored is None else HealthConfig.parse(stored)


def _run_with_policy(store: ContainerStore, container: Container, paths: Paths, server: Any, state: dict[str, Any],
                     started: Callable[[int], None], exited: Callable[[], None]) -> int:
    """Run the process, then again as the restart policy says (Docker's back-off) until it stays down."""
    runtime = store.runtime(container.record)
    marker = paths.dir / STOP_MARKER
    delay = 0.0
    while True:
        began = time.monotonic()
        try:
            code = mon.run_container(container.id, paths, runtime, server, started, exited)
        except mon.StartFailed:
            if state["RestartCount"] and marker.exists():  # ``stop`` signalled between a restart's create and start
                state.update(Status="exited", Pid=0, FinishedAt=rfc3339_nano())
                return int(state["ExitCode"])
            raise
        state.update(Status="exited", Pid=0, ExitCode=code, FinishedAt=rfc3339_nano())
        container_event(store.db, "die", container.id, store.get(container.id).name, container.record, exitCode=str(code))
        policy = restart_policy(store.get(container.id).record["HostConfig"])  # ``update --restart`` may change it
        if not policy.should_restart(code, state["RestartCount"], marker.exists()):
            return code
        delay = next_delay(delay, time.monotonic() - began)
        state.update(Status="restarting")
        write_state(paths, state)
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and not marker.exists():
            time.sleep(min(0.02, max(0.0, deadline - time.monotonic())))
        if marker.exists():
            state.update(Status="exited")
            return code
        state["RestartCount"] += 1
