"""Small file-system helpers the drivers share: fresh names, atomic writes, removal, crash-sweep reports."""

from __future__ import annotations

import os
import sys
from pathlib import Path

TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from typing import Callable, Iterable


def new_cache_id() -> str:
    import secrets

    return secrets.token_hex(32)


def write_atomic(path: Path, text: str) -> None:
    """``path`` holds all of ``text`` or does not exist: written beside it, then renamed over it."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


def remove_tree(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        # a fresh name first, so a crash mid-delete never leaves a half tree under the old name
        doomed = path.with_name(f".removing-{path.name}")
        os.rename(path, doomed)
        import shutil

        shutil.rmtree(doomed, ignore_errors=True)
    elif os.path.lexists(path):
        path.unlink()


def sweep_each(paths: Iterable[Path], remove: Callable[[Path], None]) -> None:
    """Remove each crash leftover; one that cannot be removed is reported and skipped."""
    for path in paths:
        try:
            remove(path)
        except OSError as exc:
            report_leftover(path, exc)


def report_leftover(path: Path, exc: BaseException) -> None:
    """A crash leftover the sweep could not remove: one line on stderr; the command goes on."""
    print(f"dockyard: cannot remove leftover {path}: {exc}", file=sys.stderr)


def copy_tree(source: Path, target: Path) -> None:
    """GNU cp keeps owners, modes, xattrs, hardlinks and devices, and reflinks where it can.

    cp dies with us: after a kill -9 it would go on writing into a layer directory the next
    command's sweep is removing."""
    import ctypes
    import signal
    import subprocess

    from dockyard.errors import StorageError

    libc = ctypes.CDLL(None, use_errno=True)
    result = subprocess.run(["cp", "-a", "--reflink=auto", str(source), str(target)], capture_output=True, text=True,
                            preexec_fn=lambda: libc.prctl(1, signal.SIGKILL))  # 1: PR_SET_PDEATHSIG
    if result.returncode != 0:
        raise StorageError(f"vfs: copy parent layer: {result.stderr.strip()}")
