"""Where an unprivileged user's store and run-time state live, and entering the user's namespace.

Root keeps ``/var/lib/dockyard`` and ``/run/dockyard``. A user gets ``$XDG_DATA_HOME/dockyard`` (else
``~/.local/share/dockyard``) and ``$XDG_RUNTIME_DIR/dockyard`` (else ``/tmp/dockyard-<uid>``, mode
0700 and its own). Inside the user's namespace (a command started by one that entered) the paths
are the same: they are worked out from the host uid the namespace's 0 stands for.

Root's commands never import this module (``engine.default_root`` and ``engine.enter_user_namespace``
answer root without it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dockyard.errors import StorageError

ROOT_STORE = Path("/var/lib/dockyard")
ROOT_RUN_DIR = Path("/run/dockyard")
WHOLE_MAP = ["0", "0", "4294967295"]  # the initial user namespace's uid_map


@dataclass(frozen=True, slots=True)
class UserPaths:
    """Where a user's store (``root``) and run-time state (``run_dir``) live."""

    root: Path
    run_dir: Path


def host_uid() -> int | None:
    """The host uid of this process when it was started by a user (in its namespace or not); None for root."""
    uid = os.getuid()
    if uid != 0:
        return uid
    with open("/proc/self/uid_map") as f:
        fields = f.read().split()
    if fields == WHOLE_MAP:
        return None
    lines = [fields[i : i + 3] for i in range(0, len(fields), 3)]
    return next((int(p[1]) for p in lines if int(p[0]) == 0), None)  # 0 in here is the user out there


def is_rootless() -> bool:
    return host_uid() is not None


def user_paths() -> UserPaths:
    uid = host_uid()
    if uid is None:
        return UserPaths(ROOT_STORE, ROOT_RUN_DIR)
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(_home(uid), ".local", "share")
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    run_dir = Path(runtime, "dockyard") if runtime else Path(f"/tmp/dockyard-{uid}")
    return UserPaths(Path(data, "dockyard"), run_dir)


def _home(uid: int) -> str:
    home = os.environ.get("HOME")
    if home:
        return home
    import pwd

    return pwd.getpwuid(uid).pw_dir


def private_run_dir(run_dir: Path) -> Path:
    """The run dir, made if missing: the user's own and nobody else's (a dir under /tmp another user
    made first is refused)."""
    try:
        run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = run_dir.lstat()
    except OSError as exc:
        raise StorageError(f"cannot use run directory {run_dir}: {exc.strerror}") from exc
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise StorageError(f"run directory {run_dir} must be a directory of mode 0700 owned by uid {os.getuid()}")
    return run_dir


def join_user_namespace() -> None:
    """A user's process joins (or makes) its namespace (``engine.enter_user_namespace`` calls it)."""
    from dockyard.runtime.userns import enter

    enter(private_run_dir(user_paths().run_dir))
