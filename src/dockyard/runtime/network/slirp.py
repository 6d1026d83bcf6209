"""slirp4netns: outbound access and published ports for a network namespace the user owns (rootless).

slirp4netns (Debian ``slirp4netns``, as Podman runs it) puts a tap device in
the namespace (``10.0.2.100/24``, gateway ``10.0.2.2``, DNS ``10.0.2.3``) and
turns its packets into the host's sockets: the process runs in the host's
network namespace, so it needs no privilege. Published ports are its
``add_hostfwd`` calls on the API socket: it listens on the host address and
port and forwards to the namespace (the ports were reserved first, which
checks them as for any container: ``ports.reserve``).
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from dockyard.errors import DockyardError

ADDRESS = "10.0.2.100"
PREFIX = 24
GATEWAY = "10.0.2.2"
DNS = "10.0.2.3"
MTU = 65520
READY_TIMEOUT = 10.0


class SlirpError(DockyardError):
    """slirp4netns could not start, or refused a port forward (its own message)."""


@dataclass(frozen=True, slots=True)
class Slirp:
    """A running slirp4netns for one namespace."""

    pid: int
    api_socket: Path


def argv(netns: Path, api_socket: Path, ready_fd: int) -> list[str]:
    """Podman's options: the tap configured, the host's loopback out of the container's reach. The API
    socket's name is relative to slirp4netns' directory (a socket path must fit in 108 bytes)."""
    return ["slirp4netns", "--configure", f"--mtu={MTU}", "--disable-host-loopback", "--netns-type=path",
            f"--api-socket={api_socket.name}", f"--ready-fd={ready_fd}", str(netns), "tap0"]


def start(netns: Path, api_socket: Path, log: Path) -> Slirp:
    """Start slirp4netns for ``netns`` and wait until the tap is up; its own session, so a terminal's
    signals do not reach it. Raises SlirpError with what it said."""
    api_socket.unlink(missing_ok=True)
    r, w = os.pipe()
    try:
        with open(log, "wb") as out:
            proc = subprocess.Popen(argv(netns, api_socket, w), stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, pass_fds=(w,), start_new_session=True,
                                    cwd=api_socket.parent)
    except OSError as exc:
        os.close(r)
        os.close(w)
        raise SlirpError(f"cannot run slirp4netns: {exc.strerror}") from exc
    os.close(w)
    try:
        ready = select.select([r], [], [], READY_TIMEOUT)[0] and os.read(r, 1) == b"1"
    finally:
        os.close(r)
    if not ready:
        stop(proc.pid)
        raise SlirpError(f"slirp4netns failed: {first_complaint(log.read_text(errors='replace'))}")
    return Slirp(proc.pid, api_socket)


def first_complaint(output: str) -> str:
    """What slirp4netns said went wrong: its first line that is not a warning or progress (``open("/dev/net/tun"):
    Permission denied`` comes before ``child failed(1)``)."""
    progress = ("WARNING", "sent tapfd", "received tapfd", "Starting slirp", "*")
    lines = [ln.strip() for ln in output.splitlines() if ln.strip() and not ln.strip().startswith(progress)]
    return lines[0] if lines else "no answer"


def _call(api_socket: Path, request: dict[str, object]) -> dict[str, object]:
    directory = os.open(api_socket.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(READY_TIMEOUT)
        try:
            s.connect(f"/proc/self/fd/{directory}/{api_socket.name}")  # short, whatever the directory's path
        finally:
            os.close(directory)
        s.sendall(json.dumps(request).encode())
        s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    answer: dict[str, object] = json.loads(data or b"{}")
    return answer


def add_hostfwd(api_socket: Path, proto: str, host_ip: str, host_port: int, guest_port: int,
                guest_ip: str = ADDRESS) -> None:
    """Listen on ``host_ip:host_port`` (every address when empty) and forward to the namespace."""
    answer = _call(api_socket, {"execute": "add_hostfwd", "arguments": {
        "proto": proto, "host_addr": host_ip or "0.0.0.0", "host_port": host_port,
        "guest_addr": guest_ip, "guest_port": guest_port}})
    error = answer.get("error")
    if error is not None:
        desc = error.get("desc", "") if isinstance(error, dict) else str(error)
        where = f"{proto}4 {host_ip or '0.0.0.0'}:{host_port}"
        raise SlirpError(f"Error starting userland proxy: listen {where}: bind: {desc}")


def stop(pid: int) -> None:
    """Idempotent; only a slirp4netns process is killed (the pid may have been reused). It keeps no state
    worth a graceful end, and its forwarded ports are free once it is gone."""
    try:
        if b"slirp4netns" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return
        os.kill(pid, signal.SIGKILL)
    except (OSError, ProcessLookupError):
        return
    try:
        os.waitpid(pid, 0)  # ours (the monitor started it): reaped at once
        return
    except ChildProcessError:  # another process's: wait for it to be gone
        pass
    deadline = time.monotonic() + 2
    while Path(f"/proc/{pid}/cmdline").exists() and time.monotonic() < deadline:
        time.sleep(0.005)
