"""The rootless user namespace: one per user, held open by a pause process, as Podman's.

The first command of a user that touches layers or containers forks a child that unshares a user
namespace; the parent maps it with the setuid ``newuidmap``/``newgidmap`` from the user's
``/etc/subuid`` and ``/etc/subgid`` ranges (the user -> 0, the range -> 1..N), or, without a range,
maps the user alone. The child becomes 0, unshares a mount namespace with private mounts and
execs a sleeper: the pause process, whose pid (and start time, against pid reuse) is kept in
``<run_dir>/pause.pid``. Every command, the first too, then joins its user and mount namespaces
with setns(2) while it lives; a lock makes two first commands at once make one.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from dockyard.errors import StorageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ctypes

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
PAUSE_FILE = "pause.pid"
LOCK_FILE = "pause.lock"
SLEEPER = ("/bin/sleep", "/usr/bin/sleep")
_libc: ctypes.CDLL | None = None


class UserNamespaceError(StorageError):
    """The user namespace could not be made or joined."""


@dataclass(frozen=True, slots=True)
class IdRange:
    """One line of a uid or gid map: ``size`` ids from ``container`` inside stand for ``host`` onwards."""

    container: int
    host: int
    size: int


@dataclass(frozen=True, slots=True)
class Mapping:
    """A process's uid and gid maps."""

    uids: tuple[IdRange, ...]
    gids: tuple[IdRange, ...]

    def host_uid(self, uid: int) -> int | None:
        """The host uid that ``uid`` in the namespace stands for (None: unmapped)."""
        return _host_id(self.uids, uid)

    def host_gid(self, gid: int) -> int | None:
        return _host_id(self.gids, gid)


def _host_id(ranges: tuple[IdRange, ...], value: int) -> int | None:
    for r in ranges:
        if r.container <= value < r.container + r.size:
            return r.host + value - r.container
    return None


def rootless() -> bool:
    """The process was started by a user: its real uid is not 0, or it runs in a user's namespace."""
    return os.getuid() != 0 or in_user_namespace()


def in_user_namespace() -> bool:
    """Inside a user namespace that is not the initial one (whose map is the whole 32-bit range)."""
    return current_mapping().uids != (IdRange(0, 0, 4294967295),)


def _read_map(path: str) -> tuple[IdRange, ...]:
    with open(path) as f:
        return tuple(IdRange(*map(int, line.split())) for line in f if line.strip())


def current_mapping() -> Mapping:
    return Mapping(_read_map("/proc/self/uid_map"), _read_map("/proc/self/gid_map"))


def subordinate_range(path: str, user: str, uid: int) -> IdRange | None:
    """The user's first range in ``/etc/subuid`` or ``/etc/subgid`` (by name or uid), mapped from 1."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return None
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[0] in (user, str(uid)) and parts[1].isdigit() and parts[2].isdigit():
            if int(parts[2]) > 0:
                return IdRange(1, int(parts[1]), int(parts[2]))
    return None


def _user_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def enter(run_dir: Path) -> None:
    """Join (or first create) the user's pause process's user and mount namespaces, then become 0 in them.

    A no-op for root and inside a user namespace already (a command started by one that entered).
    The process must be single-threaded (setns(2) refuses a user namespace otherwise).
    """
    if os.getuid() == 0 or in_user_namespace():
        return
    import fcntl

    run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(run_dir / LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        pid = _live_pause(run_dir / PAUSE_FILE)
        if pid is None:
            pid = _start_pause(run_dir)
        _join(pid)


def pause_pid(run_dir: Path) -> int | None:
    """The pid of the user's pause process while it lives."""
    return _live_pause(run_dir / PAUSE_FILE)


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _live_pause(pidfile: Path) -> int | None:
    try:
        pid_text, started = pidfile.read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    if _start_time(pid) != started or os.stat(f"/proc/{pid}").st_uid != os.getuid():
        return None
    return pid


def _syscalls() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        import ctypes

        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _check(result: int, what: str) -> None:
    if result != 0:
        import ctypes

        err = ctypes.get_errno()
        raise UserNamespaceError(f"{what}: {os.strerror(err)}")


def _start_pause(run_dir: Path) -> int:
    """Fork the pause process, map its user namespace, wait until it holds its mount namespace."""
    to_child_r, to_child_w = os.pipe()
    to_parent_r, to_parent_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns
        os.close(to_child_w)
        os.close(to_parent_r)
        _pause_child(to_child_r, to_parent_w)
    os.close(to_child_r)
    os.close(to_parent_w)
    try:
        _expect(to_parent_r, b"u", "unshare the user namespace")
        _write_maps(pid)
        os.write(to_child_w, b"m")
        _expect(to_parent_r, b"r", "set up the mount namespace")
    except BaseException:
        import signal

        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    finally:
        os.close(to_child_w)
        os.close(to_parent_r)
    tmp = run_dir / f".{PAUSE_FILE}.{os.getpid()}"
    tmp.write_text(f"{pid} {_start_time(pid)}\n")
    tmp.replace(run_dir / PAUSE_FILE)
    return pid


def _expect(fd: int, token: bytes, what: str) -> None:
    answer = os.read(fd, 512)
    if answer != token:
        reason = answer[1:].decode(errors="replace") if answer[:1] == b"!" else "the child exited"
        raise UserNamespaceError(f"cannot {what}: {reason}")


def _pause_child(from_parent: int, to_parent: int) -> None:
    """The pause process: unshare, wait for the maps, become 0, make the mount namespace, sleep."""
    try:
        os.setsid()
        _check(_syscalls().unshare(CLONE_NEWUSER), "unshare(CLONE_NEWUSER)")
        os.write(to_parent, b"u")
        if os.read(from_parent, 1) != b"m":
            os._exit(1)  # the parent died or failed: nothing to hold
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
        _check(_syscalls().unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
        _check(_syscalls().mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
        devnull = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.write(to_parent, b"r")
        os.closerange(3, 1 << 16)
        sleeper = next((p for p in SLEEPER if os.path.exists(p)), SLEEPER[0])
        os.execv(sleeper, ["dockyard-pause", "infinity"])
    except BaseException as exc:  # noqa: BLE001 - the parent reports it
        try:
            os.write(to_parent, b"!" + str(exc).encode()[:400])
        except OSError:
            pass
    os._exit(1)


def _write_maps(pid: int) -> None:
    """The user -> 0 and its subordinate ranges -> 1..N, with newuidmap/newgidmap; the user alone without."""
    uid, gid = os.getuid(), os.getgid()
    user = _user_name(uid)
    subuid = subordinate_range("/etc/subuid", user, uid)
    subgid = subordinate_range("/etc/subgid", user, uid)
    if subuid is None or subgid is None:
        with open(f"/proc/{pid}/uid_map", "w") as f:
            f.write(f"0 {uid} 1\n")
        with open(f"/proc/{pid}/setgroups", "w") as f:
            f.write("deny\n")
        with open(f"/proc/{pid}/gid_map", "w") as f:
            f.write(f"0 {gid} 1\n")
        return
    import subprocess

    for tool, own, sub in (("newuidmap", uid, subuid), ("newgidmap", gid, subgid)):
        argv = [tool, str(pid), "0", str(own), "1", str(sub.container), str(sub.host), str(sub.size)]
        try:
            result = subprocess.run(argv, capture_output=True, text=True)
        except FileNotFoundError as exc:
            raise UserNamespaceError(f"{tool} not found: install the uidmap package") from exc
        if result.returncode != 0:
            raise UserNamespaceError(f"{tool}: {result.stderr.strip() or f'exit status {result.returncode}'}")


def _join(pid: int) -> None:
    """setns into the pause process's user, then mount namespace (the working directory is kept)."""
    threads = sys.modules.get("threading")
    if threads is not None and threads.active_count() > 1:  # setns(2) would refuse with a bare EINVAL
        raise UserNamespaceError("cannot join the user namespace from a process that already runs threads")
    cwd = os.getcwd()
    fds = [os.open(f"/proc/{pid}/ns/{ns}", os.O_RDONLY) for ns in ("user", "mnt")]
    try:
        _check(_syscalls().setns(fds[0], CLONE_NEWUSER), "join the user namespace")
        _check(_syscalls().setns(fds[1], CLONE_NEWNS), "join the mount namespace")
    finally:
        for fd in fds:
            os.close(fd)
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    os.chdir(cwd)
