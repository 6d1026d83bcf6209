"""runc's command lines as pure functions, and the few calls dockyard makes.

The state directory (``--root``) is per dockyard root, so two stores never
see each other's containers.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from dockyard.errors import DockyardError


class RuncError(DockyardError):
    """runc refused: the message is runc's own."""


@dataclass(frozen=True, slots=True)
class Runc:
    state_root: Path
    binary: str = "runc"

    def _base(self) -> list[str]:
        return [self.binary, "--root", str(self.state_root)]

    def create_argv(self, cid: str, bundle: Path, pid_file: Path, log: Path, *, console_socket: str | None = None) -> list[str]:
        console = ["--console-socket", console_socket] if console_socket else []
        return [self.binary, "--root", str(self.state_root), "--log", str(log), "--log-format", "json",
                "create", "--bundle", str(bundle), "--pid-file", str(pid_file), *console, cid]

    def exec_argv(self, cid: str, process: Path, pid_file: Path, log: Path, *, console_socket: str | None = None) -> list[str]:
        """Detached: runc returns once the process runs; its parent becomes the caller (a subreaper)."""
        console = ["--tty", "--console-socket", console_socket] if console_socket else []
        return [self.binary, "--root", str(self.state_root), "--log", str(log), "--log-format", "json",
                "exec", "--detach", "--process", str(process), "--pid-file", str(pid_file), *console, cid]

    def start_argv(self, cid: str) -> list[str]:
        return [*self._base(), "start", cid]

    def kill_argv(self, cid: str, signal: str, *, all_processes: bool = False) -> list[str]:
        return [*self._base(), "kill", *(["--all"] if all_processes else []), cid, signal]

    def delete_argv(self, cid: str) -> list[str]:
        return [*self._base(), "delete", "--force", cid]

    def state_argv(self, cid: str) -> list[str]:
        return [*self._base(), "state", cid]

    def start(self, cid: str) -> None:
        result = subprocess.run(self.start_argv(cid), capture_output=True, text=True)
        if result.returncode != 0:
            raise RuncError(result.stderr.strip() or f"runc start {cid} failed")

    def kill(self, cid: str, signal: str) -> bool:
        """Send ``signal`` to the container's init; False when it is not running (not an error)."""
        return subprocess.run(self.kill_argv(cid, signal), capture_output=True).returncode == 0

    def pause(self, cid: str) -> None:
        self._check(["pause", cid])

    def resume(self, cid: str) -> None:
        self._check(["resume", cid])

    def update(self, cid: str, resources: dict[str, object]) -> None:
        """New cgroup limits for a running container (``linux.resources`` without devices)."""
        self._check(["update", "--resources", "-", cid], json.dumps(resources))

    def _check(self, args: list[str], stdin: str | None = None) -> None:
        result = subprocess.run([*self._base(), *args], capture_output=True, text=True, input=stdin)
        if result.returncode != 0:
            raise RuncError(last_error_text(result.stderr) or f"{self.binary} {args[0]} failed")

    def delete(self, cid: str) -> None:
        """Idempotent: a container runc does not know is already deleted."""
        subprocess.run(self.delete_argv(cid), capture_output=True)

    def status(self, cid: str) -> str | None:
        result = subprocess.run(self.state_argv(cid), capture_output=True, text=True)
        if result.returncode != 0:
            return None
        return str(json.loads(result.stdout).get("status"))


def last_error(log: Path) -> str:
    """The last error runc wrote to its JSON log."""
    message = ""
    try:
        for line in log.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("level") in ("error", "fatal"):
                message = str(entry.get("msg", ""))
    except OSError:
        pass
    return message


def last_error_text(stderr: str) -> str:
    """runc's stderr: plain lines, or JSON log lines (``{"msg": ...}``) when it logs there."""
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    if not lines:
        return ""
    try:
        return str(json.loads(lines[-1]).get("msg", lines[-1]))
    except (ValueError, AttributeError):
        return lines[-1]


def exit_code_for_start_error(message: str) -> int:
    """Docker CLI's runStartContainerErr: 127 not found, 126 not executable, else 125."""
    if "executable file not found" in message or "no such file or directory" in message:
        return 127
    if "permission denied" in message or "is a directory" in message:
        return 126
    return 125
