"""``build --output``: the final stage's filesystem to a directory or a tar, instead of an image."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from dockyard.errors import InvalidArgumentError, StorageError


@dataclass(frozen=True, slots=True)
class Output:
    kind: str  # "local" or "tar"
    dest: str  # a directory, a file, or "-" (a tar on stdout)

    @classmethod
    def parse(cls, spec: str) -> Output:
        """Docker's forms: ``type=local,dest=DIR``, ``type=tar,dest=FILE``, ``DIR``, ``-``."""
        if "=" not in spec:
            return cls("tar", "-") if spec == "-" else cls("local", spec)
        fields = dict(item.partition("=")[::2] for item in spec.split(","))
        kind, dest = fields.get("type", "local"), fields.get("dest", "")
        if kind not in ("local", "tar"):
            raise InvalidArgumentError(f"unsupported output type {kind!r} (choose local or tar)")
        if not dest:
            raise InvalidArgumentError(f"dest is required for {kind} exporter")
        return cls(kind, dest)

    def write(self, rootfs: Path, clamp_mtime: float | None) -> None:
        from dockyard.archive.export import write_diff_tar  # only when exporting

        if self.kind == "local":
            Path(self.dest).mkdir(parents=True, exist_ok=True)
            # GNU cp keeps modes, owners, links and times; --no-dereference: links stay links
            result = subprocess.run(["cp", "-a", "--no-dereference", f"{rootfs}/.", self.dest], capture_output=True, text=True)
            if result.returncode != 0:
                raise StorageError(f"export to {self.dest}: {result.stderr.strip()}")
            return
        if self.dest == "-":
            write_diff_tar(rootfs, sys.stdout.buffer, clamp_mtime=clamp_mtime)
            sys.stdout.buffer.flush()
            return
        tmp = f"{self.dest}.partial-{os.getpid()}"
        with open(tmp, "wb") as out:
            write_diff_tar(rootfs, out, clamp_mtime=clamp_mtime)
        os.replace(tmp, self.dest)
