"""Container operations for the faces (the CLI, the Engine API): options in, reports out, as Podman's ContainerEngine.

Lifecycle (create, start, stop, kill, restart, remove, pause, unpause, rename, update, wait, top, stats,
prune), exec, attach streams, logs and a container's files (commit, cp, diff, export). A face looks a
container up with ``get`` and hands the record back; it never reaches the runtime itself. The runtime
modules are imported inside the methods that use them, so ``ps`` and ``inspect`` load none of them.
"""

from __future__ import annotations

import time
TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from typing import Callable

from dockyard.errors import ConflictError, DockyardError

if TYPE_CHECKING:
    import socket
    import subprocess

    from dockyard.engine import Engine
    from dockyard.engine.container_reports import AttachStream, LogStream, PruneReport, Sizes, TopReport
    from dockyard.oci.digest import Digest
    from dockyard.runtime.changes_fs import Change
    from dockyard.runtime.commit import CommitOptions
    from dockyard.runtime.container_state import Container
    from dockyard.runtime.containers import ContainerStore, CreateOptions
    from dockyard.runtime.control import Sample, Stats
    from dockyard.runtime.copy import CopyOptions, PathStat
    from dockyard.runtime.exec import ExecOptions, ExecProcess
    from dockyard.runtime.restart import RestartPolicy
    from dockyard.runtime.spawn import ForkedProcess

BUSY = ("running", "paused", "restarting", "starting")  # states ``container prune`` leaves alone


class ContainerService:
    """Built lazily by ``Engine.container_service``; every method raises Docker's typed errors."""

    def __init__(self, engine: Engine) -> None:
        from dockyard.metadata.containers import ContainerRecords
        from dockyard.runtime.container_state import ContainerReader

        self._engine = engine
        home = engine.root / "containers"
        home.mkdir(exist_ok=True)  # the store's layout, whichever command comes first
        # reads need no runtime; only a container whose monitor died does (to clean up after it)
        self._reader = ContainerReader(ContainerRecords(engine.db), home,
                                       lambda cid, state: self._store.monitor_died(cid, state))

    @property
    def _store(self) -> ContainerStore:
        return self._engine.containers

    # lookup, inspect -----------------------------------------------------------------

    def get(self, name: str) -> Container:
        """Docker's order: full ID, exact name, then a unique ID prefix; ContainerNotFoundError otherwise."""
        return self._reader.get(name)

    def list(self) -> list[Container]:
        """Newest first."""
        return self._reader.list()

    def select(self, filters: dict[str, list[str]], *, show_all: bool = False, last: int = -1) -> list[Container]:
        """``ps``/``GET /containers/json``: newest first; ``last`` > 0 (``-n``, ``limit``) and a status filter
        look at stopped containers too, as Docker's. Raises InvalidArgumentError for a bad filter."""
        containers = self.list()
        if filters:
            from dockyard.engine import container_json
            from dockyard.engine.container_filters import ContainerFilter

            engine = self._engine
            keep = ContainerFilter(
                filters, self.get, lambda ref: engine.images.resolve(ref).id,
                lambda c: container_json.inspect_mounts(c.stored.mounts),
                lambda c: container_json.ps_network_columns(engine, c)[1],
            )
            show_all = show_all or keep.shows_all or last > 0
            containers = [c for c in containers if (show_all or c.running) and keep(c)]
        else:
            containers = [c for c in containers if show_all or last > 0 or c.running]
        return containers[:last] if last > 0 else containers

    def inspect(self, container: Container, *, size: bool = False) -> dict[str, object]:
        """Docker's inspect document (with SizeRw/SizeRootFs when ``size``)."""
        from dockyard.engine import container_json

        document = container_json.inspect_json(self._engine, container)
        return container_json.with_sizes(document, self.sizes(container)) if size else document

    def sizes(self, container: Container) -> Sizes:
        from dockyard.engine.container_reports import Sizes
        from dockyard.runtime.container_fs import size_rw

        rw = size_rw(self._store, container)
        image = self._engine.db.image(container.image_id)
        return Sizes(rw, rw + (image.size if image else 0))

    # lifecycle -----------------------------------------------------------------------

    def create(self, opts: CreateOptions) -> Container:
        """ImageNotFoundError when the image is not local (the face decides whether to pull)."""
        return self._store.create(opts)

    def start(self, container: Container, *, reap: bool = False) -> None:
        """Start a created or stopped container and return once its process runs; a running one is left as is.
        Raises ContainerStartError (with Docker's exit code) when the runtime cannot start the process.
        ``reap``: the caller lives on (the API server), so a thread collects the monitor it forked when it ends."""
        proc = self._store.start(container)
        if proc is not None:
            self._store.wait_started(container, proc)
            if reap:
                _reap(proc)

    def start_streamed(self, container: Container, stdin: bool, size: tuple[int, int] | None = None) -> AttachStream | None:
        """``start`` with a stream attached from the first byte, for an attach client that waited for the start
        (the Engine API's attach before start): HELLO is sent (with the terminal's ``size``), the monitor is reaped by a
        thread. None when the container runs already (``connect`` reaches it then)."""
        from dockyard.runtime.attach import hello

        stream = self.start_attached(container)
        if stream is None:
            return None
        try:
            stream.sock.sendall(hello(stdin, size))
            self._store.wait_started(container, stream.monitor)
        except BaseException:
            stream.sock.close()
            raise
        _reap(stream.monitor)
        return stream

    def wait_condition(self, container: Container, condition: str, poll: float = 0.05) -> int:
        """Block until ``condition`` holds (Docker's ``wait``): ``not-running`` (now, or when it stops),
        ``next-exit`` (the end of its next run: a created container's first) or ``removed``; the exit code
        seen last. InvalidArgumentError for another condition."""
        from dockyard.errors import InvalidArgumentError, NotFoundError

        if condition not in ("not-running", "next-exit", "removed"):
            raise InvalidArgumentError(f"invalid condition: {condition!r}")
        began = time.time()
        state = self._store.state(container.id)
        first_finish = state.get("FinishedAt")
        code = int(state.get("ExitCode", 0))
        while True:
            status = state.get("Status")
            if status != "removing":
                code = int(state.get("ExitCode", 0))
            elif (logged := self._logged_exit(container.id, began)) is not None:
                code = logged  # removed (``--rm``) before a look saw its exit: the die event has the code
            # an exit counts though a restart policy starts it again (dockerd wakes its waiters when it restarts)
            ended = state.get("FinishedAt") != first_finish and (status == "restarting" or status not in BUSY)
            if condition == "not-running" and (status not in BUSY or ended):
                return code
            if condition == "next-exit" and (ended or status == "removing"):
                return code
            if condition == "removed" and status == "removing":
                try:
                    self._reader.get(container.id)
                except NotFoundError:
                    return code
            time.sleep(poll if time.time() - began < 10 else 10 * poll)  # a long wait looks less often
            state = self._store.state(container.id)

    def _logged_exit(self, cid: str, since: float) -> int | None:
        """The exit code of the container's last ``die`` event since ``since``, if any."""
        from dockyard.engine.events import EventFilter

        died = self._engine.events.query(since, None, EventFilter.parse({"container": [cid], "event": ["die"]}))
        return int(died[-1].attributes.get("exitCode", 0)) if died else None

    def resize(self, container: Container, rows: int, cols: int) -> None:
        """A running container's terminal size (through its monitor; not an attach, so no event)."""
        from dockyard.runtime import attach

        if not container.running:
            raise ConflictError(f"Container {container.id} is not running")
        with attach.connect(self._store.paths(container.id).dir / attach.SOCKET_NAME) as sock:
            sock.sendall(attach.hello(False, (rows, cols)))

    def stop(self, container: Container, timeout: float | None = None) -> None:
        self._store.stop(container, timeout)

    def kill(self, container: Container, sig: str = "KILL") -> None:
        from dockyard.runtime import control

        control.kill(self._store, container, sig)

    def restart(self, container: Container, timeout: float | None = None, *, reap: bool = False) -> None:
        self._store.stop(container, timeout)
        self.start(self._store.get(container.id), reap=reap)
        self._event("restart", container)

    def remove(self, container: Container, *, force: bool = False, volumes: bool = False) -> None:
        self._store.remove(container, force=force, volumes=volumes)

    def remove_link(self, name: str) -> None:
        """``rm --link PARENT/ALIAS``: the parent forgets the link; both containers stay (dockerd's rmLink)."""
        from dockyard.runtime import links

        self.get(name)  # 404 for a name that names nothing
        path = name.removeprefix("/")
        parent_name, _, alias = path.rpartition("/")
        if not parent_name:
            raise DockyardError("Conflict, cannot remove the default link name of the container")
        parent = self.get(parent_name)
        links.unlink(self._reader.records, parent.stored, alias)

    def link_names(self) -> dict[str, list[str]]:
        """Container ID -> the ``/PARENT/ALIAS`` names the links of others give it."""
        out: dict[str, list[str]] = {}
        for parent, stored_links in self._reader.records.links():
            for stored in stored_links:
                child, _, alias = stored.partition(":")
                out.setdefault(child, []).append(f"/{parent}/{alias}")
        return out

    def pause(self, container: Container) -> None:
        from dockyard.runtime import control

        control.pause(self._store, container)

    def unpause(self, container: Container) -> None:
        from dockyard.runtime import control

        control.unpause(self._store, container)

    def rename(self, container: Container, new_name: str) -> None:
        from dockyard.runtime import control

        control.rename(self._store, container, new_name)

    def update(self, container: Container, changes: dict[str, int], restart: RestartPolicy | None) -> None:
        """New limits (Docker's HostConfig names) and restart policy; applied at once to a running container."""
        from dockyard.runtime import control

        control.update(self._store, container, changes, restart)

    def wait(self, container: Container) -> int:
        """Block until the container is not running; its exit code."""
        from dockyard.runtime import control

        return control.wait(self._store, container)

    def top(self, container: Container, ps_args: list[str]) -> TopReport:
        from dockyard.engine.container_reports import TopReport
        from dockyard.runtime import control

        titles, rows = control.top(container, ps_args)
        return TopReport(titles, rows)

    def sample(self, container: Container) -> Sample | None:
        """One reading of the container's usage (None when it does not run); ``stats`` compares two."""
        from dockyard.runtime import control

        return control.sample(container)

    @staticmethod
    def stats(before: Sample | None, after: Sample | None) -> Stats:
        from dockyard.runtime import control

        return control.stats(before, after)

    def prune(self, select: Callable[[Container], bool]) -> PruneReport:
        """Remove the stopped containers ``select`` accepts; what went and the space it freed."""
        from dockyard.engine.container_reports import PruneReport

        deleted: list[str] = []
        reclaimed = 0
        for container in self._store.list():
            if container.running or container.run.status in BUSY or not select(container):
                continue
            size = self.sizes(container).rw
            try:
                self._store.remove(container)
            except DockyardError:
                continue  # started or removed by someone else meanwhile
            deleted.append(container.id)
            reclaimed += size
        self._engine.events.pruned("container", reclaimed)
        return PruneReport(tuple(deleted), reclaimed)

    def _event(self, action: str, container: Container, **extra: str) -> None:
        """Docker's container event, with the container's current name and labels."""
        from dockyard.metadata.events import container_event

        current = self._store.get(container.id)
        container_event(self._engine.db, action, current.id, current.name, current.record, **extra)

    def monitor(self, cid: str, attach_fd: int | None) -> int:
        """The monitor process's body (``container-monitor``): runs the container to its end."""
        return self._store.monitor(cid, attach_fd)

    # attach, exec, logs --------------------------------------------------------------

    def start_attached(self, container: Container) -> AttachStream | None:
        """Start the container with a stream already attached (nothing is missed); None when it runs already
        (``connect`` reaches it then). The caller sends the attach protocol's HELLO first."""
        import socket

        from dockyard.engine.container_reports import AttachStream

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        if not container.running:
            self._event("attach", container)  # Docker's order: attach, then start
        try:
            proc = self._store.start(container, theirs)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        if proc is None:
            ours.close()
            return None
        return AttachStream(ours, proc)

    def connect(self, container: Container) -> socket.socket:
        """A stream to a running container's monitor; NotAttachableError when it is not running."""
        from dockyard.runtime import attach

        sock = attach.connect(self._store.paths(container.id).dir / attach.SOCKET_NAME)
        self._event("attach", container)
        return sock

    def finish_start(self, stream: AttachStream) -> None:
        """After an attached start's monitor exited: raise the start error it reported, if any."""
        from dockyard.runtime.containers import check_start_error

        check_start_error(stream.monitor)

    def signaller(self, container: Container) -> Callable[[int], None]:
        """``--sig-proxy``: a signal number goes to the container's init through its runtime (as ``kill -s``)."""
        import signal

        runtime = self._store.runtime(container.record)
        return lambda signum: runtime.kill(container.id, signal.Signals(signum).name.removeprefix("SIG"))

    def exit_code(self, cid: str, timeout: float = 30) -> int:
        """The exit code the record shows once the container is seen stopped (its monitor went without a word)."""
        deadline = time.monotonic() + timeout
        try:
            while (container := self._store.get(cid)).running and time.monotonic() < deadline:
                time.sleep(0.02)
        except DockyardError:
            return 0
        return container.run.exit_code

    def exec(self, container: Container, opts: ExecOptions, name: str = "") -> ExecProcess:
        """Start a process in a running container (``name``: as the user gave it, for messages).
        Raises ExecStartError (exit 126), ContainerNotRunningError, ConflictError when paused."""
        from dockyard.runtime import exec as rexec

        store = self._store
        linked: tuple[str, ...] = ()
        if store.networking is not None:  # dockerd sets up the links again for an exec (a child must run)
            from dockyard.runtime import links

            linked = tuple(links.env(links.gather(container, store.get, store.networking.describe)))
        prepared = rexec.prepare(store.runtime(container.record), container, store.paths(container.id), opts, name,
                                 linked)
        events = rexec.ExecEvents(store.db, container, opts.args)
        events.created()
        events.started()  # Docker logs it before the process starts (and no exec_die when it cannot)
        process = prepared.start(detach=opts.detach)
        if not opts.detach:  # a detached process is nobody's child here: its end goes unseen
            process.on_exit = events.died
        return process

    @staticmethod
    def hold_console(master: int) -> None:
        """``exec -dt``: keep the detached process's terminal open (and drained) in a child of our own."""
        from dockyard.runtime.exec import hold_console

        hold_console(master)

    def logs(self, container: Container) -> LogStream:
        from dockyard.engine.container_reports import LogStream

        return LogStream(self._store.paths(container.id).log)

    # files ---------------------------------------------------------------------------

    def commit(self, container: Container, opts: CommitOptions) -> Digest:
        """The container's changes as a new image (tagged ``opts.tag``); its ID."""
        from dockyard.runtime.commit import commit

        image_id = commit(self._store, self._engine.images, container, opts, self._engine.spool_file())
        ref = opts.tag.familiar if opts.tag else ""
        if opts.tag:
            self._engine.images.log_event("tag", str(image_id), ref)
        self._event("commit", container, comment=opts.message, imageID=str(image_id), imageRef=ref)
        return image_id

    def diff(self, container: Container) -> list[Change]:
        from dockyard.runtime.container_fs import changes

        return changes(self._store, container)

    def export(self, container: Container, out_fd: int) -> None:
        """The container's root filesystem as a tar, written to ``out_fd``."""
        from dockyard.runtime.container_fs import export

        export(self._store, container, out_fd)
        self._event("export", container)

    def copy_from(self, container: Container, src: str, dest: str | None, out_fd: int, opts: CopyOptions) -> None:
        """``cp CTR:SRC DEST``; with ``dest`` None a tar goes to ``out_fd``."""
        from dockyard.runtime.copy import copy_from

        copy_from(self._store, container, src, dest, out_fd, opts)

    def stat_path(self, container: Container, path: str) -> PathStat:
        """A container path as ``HEAD /containers/{id}/archive`` reports it; ContainerPathNotFoundError."""
        from dockyard.runtime.copy import stat_path

        return stat_path(self._store, container, path)

    def copy_to(self, container: Container, src: str | None, dest: str, in_fd: int, opts: CopyOptions) -> None:
        """``cp SRC CTR:DEST``; with ``src`` None a tar is read from ``in_fd``."""
        from dockyard.runtime.copy import copy_to

        copy_to(self._store, container, src, dest, in_fd, opts)


def _reap(proc: ForkedProcess | subprocess.Popen[bytes]) -> None:
    """Collect a monitor this long-lived process forked once it exits (no zombie stays behind)."""
    import threading

    threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()


def not_attachable(container: Container) -> ConflictError | None:
    """Why ``attach`` must refuse this container (Docker's words), or None."""
    status = container.run.status
    if not container.running:
        return ConflictError("You cannot attach to a stopped container, start it first")
    if status == "paused":
        return ConflictError("You cannot attach to a paused container, unpause it first")
    if status == "restarting":
        return ConflictError("You cannot attach to a restarting container, wait until it is running")
    return None
