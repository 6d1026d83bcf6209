"""A real unprivileged user for the rootless tests, and ``dockyard`` run as that user.

``RootlessUser.ensure(name)`` creates the user with ``useradd`` and gives it a subordinate range in
``/etc/subuid`` and ``/etc/subgid`` (or none, for the single-ID tests); it is idempotent, so a
second session reuses the user. What it changes on the host, and only that:

- the user (``useradd --no-create-home``) and its ``/etc/subuid``/``/etc/subgid`` lines;
- ``o+x`` (search, not read) on each directory above the interpreter and the source tree that lacks
  it (here ``/root``, mode 0700), so the user can start ``sys.executable`` on this tree;
- per test, a directory under ``/tmp/dyrootless/`` owned by the user (its HOME and XDG dirs),
  removed after the test with the user's pause process.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import dockyard

BASE = Path("/tmp/dyrootless")
RANGE_SIZE = 65536
SRC = Path(dockyard.__file__).resolve().parent.parent


class RootlessUser:
    """One real user; ``run`` starts ``dockyard ARGS`` as it, with HOME and XDG dirs of the current test."""

    def __init__(self, name: str, uid: int, gid: int, subuid: tuple[int, int] | None) -> None:
        self.name = name
        self.uid = uid
        self.gid = gid
        self.subuid = subuid  # (first host id, count), the same for gids; None: single-ID mapping
        self.dir = BASE / name  # replaced per test by begin_test()

    @classmethod
    def ensure(cls, name: str, *, subordinate: bool = True) -> RootlessUser:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/sh", "--home-dir", str(BASE / name), name],
                           check=True, capture_output=True)  # fmt: skip
            entry = pwd.getpwnam(name)
        ranges = {_range_of("/etc/subuid", name), _range_of("/etc/subgid", name)}
        if subordinate and ranges != {None} and len(ranges) == 1:
            subuid = ranges.pop()
        elif subordinate:
            start = max(_range_end("/etc/subuid"), _range_end("/etc/subgid"), 100000)
            _drop_lines(name)
            for path in ("/etc/subuid", "/etc/subgid"):
                with open(path, "a") as f:
                    f.write(f"{name}:{start}:{RANGE_SIZE}\n")
            subuid = (start, RANGE_SIZE)
        else:
            _drop_lines(name)
            subuid = None
        reach(Path(sys.executable))
        reach(SRC)
        return cls(name, entry.pw_uid, entry.pw_gid, subuid)

    def host_id(self, container_id: int) -> int:
        """The host uid (or gid) an id of the user's namespace stands for."""
        if container_id == 0:
            return self.uid
        assert self.subuid is not None and container_id <= self.subuid[1]
        return self.subuid[0] + container_id - 1

    # --- per test -------------------------------------------------------------------------------

    def begin_test(self, label: str) -> Path:
        """A fresh directory for one test: HOME (with XDG data) and the run-time dir, the user's own."""
        BASE.mkdir(mode=0o711, exist_ok=True)
        os.chmod(BASE, 0o711)
        self.dir = Path(tempfile.mkdtemp(prefix=f"{label[:40]}-", dir=_user_base(self)))
        for sub in ("home", "run", "work"):
            (self.dir / sub).mkdir(mode=0o700)
        for path in (self.dir, self.dir / "home", self.dir / "run", self.dir / "work"):
            os.chown(path, self.uid, self.gid)
        return self.dir

    def end_test(self) -> None:
        """Stop what the test left running as the user (its pause process first), then remove its files."""
        for pid in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.dir.parent.parent == BASE:
            shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def home(self) -> Path:
        return self.dir / "home"

    @property
    def store(self) -> Path:
        """Where dockyard keeps the user's store by default ($XDG_DATA_HOME/dockyard)."""
        return self.home / ".local" / "share" / "dockyard"

    @property
    def run_dir(self) -> Path:
        return self.dir / "run" / "dockyard"

    @property
    def work(self) -> Path:
        """A directory the user may read and write (archives to save and load)."""
        return self.dir / "work"

    def pause_pid(self) -> int | None:
        try:
            return int((self.run_dir / "pause.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def processes(self) -> list[int]:
        """Processes of this test: the pause process and every process in its user namespace, and the
        user's processes started with this test's environment (another tool's own pause process: Podman's)."""
        pause = self.pause_pid()
        try:
            userns = os.readlink(f"/proc/{pause}/ns/user") if pause is not None else None
        except OSError:
            userns = None
        marker = f"XDG_RUNTIME_DIR={self.dir / 'run'}".encode()
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if userns is not None and os.readlink(f"/proc/{entry}/ns/user") == userns:
                    found.append(int(entry))
                elif os.stat(f"/proc/{entry}").st_uid == self.uid and marker in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"):
                    found.append(int(entry))
            except OSError:
                pass
        return found

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {
            "HOME": str(self.home), "USER": self.name, "LOGNAME": self.name, "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "XDG_RUNTIME_DIR": str(self.dir / "run"), "PYTHONPATH": str(SRC), "LANG": "C.UTF-8", **(extra or {}),
        }  # fmt: skip

    def command(self, argv: list[str], env: dict[str, str] | None = None) -> list[str]:
        """``argv`` as the user, with the test's environment (nothing of root's leaks through)."""
        pairs = [f"{k}={v}" for k, v in self.env(env).items()]
        return ["runuser", "-u", self.name, "--", "env", "-i", *pairs, *argv]

    def run(
        self, args: list[str], *, env: dict[str, str] | None = None, input: bytes | str | None = None, timeout: float = 300,
        check: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """``dockyard ARGS`` as the user (text output); ``check`` raises with its stderr when it fails."""
        proc = subprocess.run(
            self.command([sys.executable, "-m", "dockyard", *args], env), input=input.decode() if isinstance(input, bytes) else input,
            capture_output=True, text=True, timeout=timeout, cwd=self.work,
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise AssertionError(f"dockyard {' '.join(args)} as {self.name} exited {proc.returncode}:\n{proc.stderr}")
        return proc

    def popen(self, args: list[str], *, env: dict[str, str] | None = None, **kwargs: object) -> subprocess.Popen[bytes]:
        """``dockyard ARGS`` as the user, not waited for."""
        return subprocess.Popen(self.command([sys.executable, "-m", "dockyard", *args], env), cwd=self.work, **kwargs)  # type: ignore[call-overload,no-any-return]

    def shell(self, script: str, *, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """A shell command as the user (outside dockyard's namespace)."""
        return subprocess.run(self.command(["sh", "-c", script], env), capture_output=True, text=True, timeout=timeout, cwd=self.work)


def _user_base(user: RootlessUser) -> Path:
    base = BASE / user.name
    base.mkdir(mode=0o711, exist_ok=True)
    return base


def _range_of(path: str, name: str) -> tuple[int, int] | None:
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        return None
    for line in lines:
        parts = line.split(":")
        if len(parts) == 3 and parts[0] == name:
            return int(parts[1]), int(parts[2])
    return None


def _range_end(path: str) -> int:
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        return 0
    ends = [int(p[1]) + int(p[2]) for p in (line.split(":") for line in lines) if len(p) == 3 and p[1].isdigit()]
    return max(ends, default=0)


def _drop_lines(name: str) -> None:
    for path in ("/etc/subuid", "/etc/subgid"):
        try:
            lines = Path(path).read_text().splitlines(keepends=True)
        except FileNotFoundError:
            continue
        Path(path).write_text("".join(line for line in lines if not line.startswith(f"{name}:")))


def reach(path: Path) -> None:
    """Let any user pass through (not list) each directory above ``path``."""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            os.chmod(parent, stat.S_IMODE(mode) | stat.S_IXOTH)
