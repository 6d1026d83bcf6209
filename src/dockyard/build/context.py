"""The build context: a directory (or an extracted tar) and its ignore rules.

Sources are resolved lazily, one COPY at a time, so only the files a step
names are read; a path that climbs out of the context or that
``.dockerignore`` drops is an error, as a missing one is.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import posixpath
import re
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dockyard.build.fsops import confined, extract_archive
from dockyard.build.ignore import IgnoreMatcher
from dockyard.errors import InvalidArgumentError, NotFoundError

_GLOB = re.compile(r"[*?\[]")
MAX_CONTEXT = 8 << 30  # a context on stdin or from a URL


class SourceNotFoundError(NotFoundError):
    def __init__(self, path: str) -> None:
        super().__init__(f'failed to compute cache key: "/{path}" not found: not found')


@dataclass(frozen=True, slots=True)
class Source:
    rel: str  # slash-separated, relative to the context root ("" for the root)
    path: Path

    @property
    def is_dir(self) -> bool:
        return self.path.is_dir() and not self.path.is_symlink()


class BuildContext:
    def __init__(self, root: Path, ignore: IgnoreMatcher) -> None:
        self.root = root
        self.ignore = ignore

    def resolve(self, src: str) -> list[Source]:
        """The entries ``src`` (a path or a glob) names, sorted; raises when none."""
        clean = posixpath.normpath("/" + src.replace("\\", "/")).lstrip("/")
        if posixpath.normpath(src).startswith("..") or clean.startswith(".."):
            raise InvalidArgumentError(f"forbidden path outside the build context: {src} ()")
        if clean in ("", "."):
            return [Source("", self.root)]
        if not _GLOB.search(clean):
            rel = self._inside(clean)
            if rel and os.path.lexists(self.root / rel) and not self.ignore.excluded(clean) and not self.ignore.excluded(rel):
                return [self._followed(rel)]
            raise SourceNotFoundError(clean)
        found = []
        for rel in self._glob(clean.split("/")):
            real = self._inside(rel)
            if real and not self.ignore.excluded(rel) and not self.ignore.excluded(real):
                found.append(self._followed(real))
        if not found:
            raise SourceNotFoundError(clean)
        return sorted(found, key=lambda s: s.rel)

    def _followed(self, rel: str) -> Source:
        """A named source that is a link is copied as what it points to (inside the context), under its own name."""
        if not (self.root / rel).is_symlink():
            return Source(rel, self.root / rel)
        target = self._inside(rel, follow_last=True)
        if not os.path.lexists(self.root / target):
            raise SourceNotFoundError(rel)
        return Source(rel, self.root / target)

    def _inside(self, rel: str, follow_last: bool = False) -> str:
        """``rel`` with the symlinks on its way resolved inside the context (its last element kept as is):
        a link in the context never makes COPY read a file of the host."""
        out = os.path.relpath(confined(self.root, rel, follow_last=follow_last), self.root)
        return "" if out == "." else out

    def _glob(self, parts: list[str], base: str = "") -> list[str]:
        directory = self.root / self._inside(base, follow_last=True) if base else self.root
        head, rest = parts[0], parts[1:]
        if _GLOB.search(head):
            try:
                names = sorted(os.listdir(directory))
            except OSError:
                return []
            matches = [n for n in names if fnmatch.fnmatchcase(n, head)]
        else:
            matches = [head] if os.path.lexists(directory / head) else []
        out: list[str] = []
        for name in matches:
            rel = f"{base}/{name}" if base else name
            if rest:
                if (self.root / self._inside(rel, follow_last=True)).is_dir():
                    out += self._glob(rest, rel)
            else:
                out.append(rel)
        return out

    def walk(self, source: Source) -> list[str]:
        """Everything below a directory source that is not ignored, parents before children."""
        out: list[str] = []
        for dirpath, dirnames, filenames in os.walk(source.path):
            rel_dir = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
            rel_dir = "" if rel_dir == "." else rel_dir
            dirnames.sort()
            kept = []
            for name in dirnames:
                rel = f"{rel_dir}/{name}" if rel_dir else name
                if self.ignore.excluded(rel) and not self.ignore.may_include_below(rel):
                    continue
                kept.append(name)
                if not self.ignore.excluded(rel):
                    out.append(rel)
            dirnames[:] = kept
            for name in sorted(filenames):
                rel = f"{rel_dir}/{name}" if rel_dir else name
                if not self.ignore.excluded(rel):
                    out.append(rel)
        return sorted(out)

    def checksum(self, sources: list[Source]) -> str:
        """Content, modes and names of what ``sources`` name (not times or owners), as Docker's cache key uses them."""
        h = hashlib.sha256()
        for source in sources:
            h.update(f"source:{source.rel}\0".encode())
            _hash_entry(h, source.rel, source.path)
            for rel in self.walk(source) if source.is_dir else []:
                _hash_entry(h, rel, self.root / rel)
        return h.hexdigest()


def _hash_entry(h: "hashlib._Hash", rel: str, path: Path) -> None:
    st = os.lstat(path)
    h.update(f"{rel}\0{stat.S_IFMT(st.st_mode)}\0{stat.S_IMODE(st.st_mode)}\0".encode())
    if stat.S_ISLNK(st.st_mode):
        h.update(os.readlink(path).encode())
    elif stat.S_ISREG(st.st_mode):
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    h.update(b"\0")


def load_ignore(context_root: Path | None, dockerfile: Path | None) -> IgnoreMatcher:
    """``<Dockerfile>.dockerignore`` beside the Dockerfile wins over the context's ``.dockerignore``."""
    if dockerfile is not None:
        specific = dockerfile.with_name(dockerfile.name + ".dockerignore")
        if specific.is_file():
            return IgnoreMatcher.from_file(specific)
    return IgnoreMatcher.from_file(context_root / ".dockerignore" if context_root else None)


def spool(stream: BinaryIO, directory: Path, limit: int = MAX_CONTEXT) -> Path:
    """Copy a stream (stdin) to a file, bounded, so a tar context is read from disk and not memory."""
    path = directory / "stdin"
    total = 0
    with open(path, "wb") as out:
        while chunk := stream.read(1 << 20):
            total += len(chunk)
            if total > limit:
                raise InvalidArgumentError(f"build context larger than {limit} bytes")
            out.write(chunk)
    return path


def fetch_context(url: str, directory: Path) -> Path:
    """A remote context: a (compressed) tar, or a bare Dockerfile, by URL."""
    from dockyard.build.fetch import (
        download,  # urllib is slow to import and rarely needed
    )

    _, path, _, _ = download(url, directory)
    return path


def unpack_context(archive: Path, dest: Path) -> Path:
    """Extract a context tar as ADD unpacks one: names cleaned into ``dest``, links resolved inside it."""
    dest.mkdir()
    try:
        extract_archive(archive, dest, "/", None)
    except (tarfile.TarError, OSError) as exc:
        raise InvalidArgumentError(f"invalid build context: {exc}") from None
    return dest
