"""Healthchecks as Docker 20.10 runs them: the container's configured probe, merged from the image's
``HEALTHCHECK`` and the ``--health-*`` flags, run inside the running container on its interval.

The container's monitor starts ``HealthMonitor.run`` in a child process of its own for each run of the
container (``start``) and ends it when the run ends (``stop``). The child runs the probe as ``exec`` does
(``runtime.exec``), and keeps Docker's ``State.Health`` in ``health.json`` next to ``state.json``
(a file of its own: the monitor rewrites its state file whole, and must not drop the probe's results).
Docker's rules: the first probe runs one interval after the start; a pass makes the container healthy and
clears the failing streak; a failure (or a timeout, exit code -1) adds to the streak, except while the
container is starting within its start period, and ``Retries`` failures in a row make it unhealthy.
Each probe logs ``exec_create``/``exec_start``/``exec_die``, and a change of status ``health_status: S``.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.errors import InvalidArgumentError
from dockyard.metadata.container_record import HealthConfig
from dockyard.oci.timefmt import rfc3339_nano
from dockyard.runtime.container_state import HEALTH_FILE, read_state, starttime

if TYPE_CHECKING:
    from dockyard.runtime.containers import ContainerStore
    from dockyard.runtime.exec import ExecProcess

DEFAULT_INTERVAL = 30 * 10**9  # Docker's defaults, in nanoseconds
DEFAULT_TIMEOUT = 30 * 10**9
DEFAULT_RETRIES = 3
MINIMUM_DURATION = 1_000_000  # 1ms
MAX_LOG_ENTRIES = 5
MAX_OUTPUT_LEN = 4096
TIMEOUT_EXIT = -1

STARTING, HEALTHY, UNHEALTHY = "starting", "healthy", "unhealthy"

_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNITS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def parse_duration(value: str) -> int:
    """Go's time.ParseDuration, in nanoseconds (negative allowed, as Go's is); InvalidArgumentError with Go's text."""
    sign, rest = (-1, value[1:]) if value.startswith("-") else (1, value.removeprefix("+"))
    if rest == "0":
        return 0
    total = 0.0
    if not rest:
        raise InvalidArgumentError(f'time: invalid duration "{value}"')
    while rest:
        match = _DURATION.match(rest)
        if match is None:
            missing = not re.match(r"[\d.]+$", rest)
            raise InvalidArgumentError(f'time: {"invalid duration" if missing else "missing unit in duration"} "{value}"')
        total += float(match.group(1)) * _UNITS[match.group(2)]
        rest = rest[match.end():]
    return sign * int(total)


def go_duration(ns: int) -> str:
    """Go's time.Duration.String (for the timeout message)."""
    if ns < 10**9:
        for unit, size in (("ms", 10**6), ("µs", 10**3), ("ns", 1)):
            if ns >= size:
                return f"{ns / size:.9f}".rstrip("0").rstrip(".") + unit
        return "0s"
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    seconds = f"{rest / 10**9:.9f}".rstrip("0").rstrip(".") + "s"
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if hours or minutes else "") + seconds


def merged(user: HealthConfig | None, image: dict[str, Any] | None) -> HealthConfig | None:
    """The container's healthcheck: the flags' over the image's field by field (Docker's merge), checked
    as Docker's daemon checks it (InvalidArgumentError with its words)."""
    if image:
        base = HealthConfig.parse(image)
        if user is None:
            user = base
        else:
            user = HealthConfig(user.test or base.test, user.interval or base.interval, user.timeout or base.timeout,
                                user.start_period or base.start_period, user.retries or base.retries)
    if user is None:
        return None
    for label, value in (("Interval", user.interval), ("Timeout", user.timeout)):
        if 0 < value < MINIMUM_DURATION:
            raise InvalidArgumentError(f"{label} in Healthcheck cannot be less than 1ms")
    if user.retries < 0:
        raise InvalidArgumentError("Retries in Healthcheck cannot be negative")
    if 0 < user.start_period < MINIMUM_DURATION:
        raise InvalidArgumentError("StartPeriod in Healthcheck cannot be less than 1ms")
    return user


def probe_args(check: HealthConfig, shell: list[str] | None = None) -> list[str]:
    """``CMD-SHELL x`` runs ``/bin/sh -c x`` (or the image's SHELL), ``CMD a b`` runs ``a b``."""
    kind, *rest = check.test
    if kind == "CMD-SHELL":
        return [*(shell or ["/bin/sh", "-c"]), " ".join(rest)]
    return list(rest)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One probe's run, as State.Health.Log lists it."""

    start: str
    end: str
    exit_code: int
    output: str

    def document(self) -> dict[str, Any]:
        return {"Start": self.start, "End": self.end, "ExitCode": self.exit_code, "Output": self.output}


def _write_health(container_dir: Path, health: dict[str, Any]) -> None:
    if not container_dir.exists():
        return
    tmp = container_dir / f".health.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(health))
    os.replace(tmp, container_dir / HEALTH_FILE)


class LimitedOutput:
    """Docker's limitedBuffer: the first 4096 bytes, then ``...`` when there was more."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.truncated = False

    def write(self, chunk: bytes) -> None:
        keep = max(0, MAX_OUTPUT_LEN - len(self.data))
        self.data += chunk[:keep]
        self.truncated |= len(chunk) > keep

    def text(self) -> str:
        return self.data.decode(errors="replace") + ("..." if self.truncated else "")


class HealthMonitor:
    """One run's probe loop (in a child of the container's monitor, see ``start``)."""

    def __init__(self, store: ContainerStore, cid: str, check: HealthConfig) -> None:
        self.store = store
        self.cid = cid
        self.check = check
        self.dir = store.paths(cid).dir
        self.began = time.monotonic()  # the run's start, for the start period
        previous = read_state(self.dir).get("Health") or {}
        # Docker keeps the log across restarts and starts each run over as "starting"
        self.health: dict[str, Any] = {"Status": STARTING, "FailingStreak": 0, "Log": previous.get("Log") or []}

    def run(self) -> int:
        interval = (self.check.interval or DEFAULT_INTERVAL) / 1e9
        tick = self.began
        while True:
            tick += interval  # Docker's ticker: a slow probe does not push the next one back
            time.sleep(max(0.0, tick - time.monotonic()))
            result = self.probe()
            if result is None:
                return 0
            self.record(result, time.monotonic())

    def probe(self) -> ProbeResult | None:
        """Run the probe once in the container; None when the container no longer runs."""
        from dockyard.errors import ConflictError, DockyardError
        from dockyard.runtime import exec as rexec

        container = self.store.get(self.cid)
        if not container.running:
            return None
        args = probe_args(self.check, container.record["Config"].get("Shell"))
        events = rexec.ExecEvents(self.store.db, container, args)
        began, start = time.monotonic(), rfc3339_nano()
        try:
            prepared = rexec.prepare(self.store.runtime(container.record), container, self.store.paths(self.cid),
                                     rexec.ExecOptions(args=tuple(args)))
            events.created()  # as Docker's exec create: only once the container takes execs
            events.started()
            proc = prepared.start(detach=False)
        except rexec.ContainerNotRunningError:
            return None
        except (ConflictError, DockyardError, OSError) as exc:  # paused, or the probe could not start
            return ProbeResult(start, rfc3339_nano(), TIMEOUT_EXIT, str(exc))
        timeout = (self.check.timeout or DEFAULT_TIMEOUT) / 1e9
        output, finished = _collect(proc, began + timeout)
        if not finished:
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        code = proc.wait()
        events.died(code)
        if not finished:
            message = f"Health check exceeded timeout ({go_duration(self.check.timeout or DEFAULT_TIMEOUT)})"
            return ProbeResult(start, rfc3339_nano(), TIMEOUT_EXIT, message)
        return ProbeResult(start, rfc3339_nano(), code, output.text())

    def record(self, result: ProbeResult, now: float) -> None:
        """Docker's handleProbeResult: the log of the last five, the failing streak, the status, its event."""
        health = self.health
        old = health["Status"]
        health["Log"] = [*health["Log"], result.document()][-MAX_LOG_ENTRIES:]
        if result.exit_code == 0:
            health.update(Status=HEALTHY, FailingStreak=0)
        elif not (old == STARTING and now - self.began < self.check.start_period / 1e9):
            health["FailingStreak"] += 1
            if health["FailingStreak"] >= (self.check.retries if self.check.retries > 0 else DEFAULT_RETRIES):
                health["Status"] = UNHEALTHY
        _write_health(self.dir, health)
        if health["Status"] != old:
            from dockyard.metadata.events import container_event

            container = self.store.get(self.cid)
            container_event(self.store.db, f"health_status: {health['Status']}", self.cid, container.name, container.record)


def _collect(proc: ExecProcess, deadline: float) -> tuple[LimitedOutput, bool]:
    """The probe's stdout and stderr together until it exits (a child it left behind may keep the pipes
    open: the probe's end is its process's, as Docker's); False when the deadline came first."""
    output = LimitedOutput()
    if proc.stdin is not None:
        os.close(proc.stdin)
    fds = [fd for fd in (proc.stdout, proc.stderr) if fd is not None]
    with selectors.DefaultSelector() as sel:
        for fd in fds:
            sel.register(fd, selectors.EVENT_READ)
        try:
            while sel.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    return output, False
                ready = sel.select(min(left, 0.1))
                for key, _ in ready:
                    chunk = os.read(key.fd, 1 << 16)
                    if chunk:
                        output.write(chunk)
                    else:
                        sel.unregister(key.fd)
                if not ready and starttime(proc.pid) is None:  # exited: a zombie until ``wait``
                    break  # what it wrote before it exited was read: the pipes were quiet
        finally:
            for fd in fds:
                os.close(fd)
    return output, True


def start(store: ContainerStore, cid: str, check: HealthConfig | None) -> int | None:
    """Fork the probe loop for this run of the container (None when it has no healthcheck); ``stop`` ends it."""
    if check is None or check.disabled:
        return None
    from dockyard.runtime import spawn

    loop = HealthMonitor(store, cid, check)
    _write_health(loop.dir, loop.health)
    child = spawn.fork(loop.run, set(), store.db.close, store.db.reopen)
    child.stderr.close()
    return child.pid


def stop(pid: int | None) -> None:
    """End a run's probe loop (its results are on disk already) and reap it."""
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass  # the monitor's reaping loop collected it already

