"""Build progress as BuildKit prints it: ``plain`` lines (``#3 [2/4] RUN …``, ``#3 DONE 0.2s``) or,
on a terminal, a display redrawn in place (``[+] Building 1.2s (5/9)``, `` => [2/4] RUN …  0.2s``)."""

from __future__ import annotations

import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TextIO

from dockyard.errors import DockyardError

TAIL = 10  # output lines a failure shows


@dataclass(slots=True)
class _Vertex:
    name: str
    started: float
    ended: float | None = None
    status: str = ""  # "", "CACHED", "ERROR"
    log: list[str] = field(default_factory=list)


class _Base:
    def __init__(self, out: TextIO | None) -> None:
        self.out = out
        self.lock = threading.Lock()
        self.vertices: dict[int, _Vertex] = {}
        self.begin = time.monotonic()

    def _write(self, text: str) -> None:
        if self.out is not None:
            self.out.write(text)
            self.out.flush()

    def _add_log(self, vertex: int, data: bytes) -> list[str]:
        lines = data.decode(errors="replace").splitlines()
        log = self.vertices[vertex].log
        log.extend(lines)
        del log[:-TAIL]
        return lines

    def fail(self, exc: DockyardError) -> None:
        """BuildKit's failure block: the step and its last lines, then the error, on stderr."""
        from dockyard.engine.build import BuildStepError

        self._stop()
        out = self.out or sys.stderr
        if isinstance(exc, BuildStepError) and exc.step:
            out.write("------\n > " + exc.step + ":\n")
            out.write("".join(f"{line}\n" for line in exc.log[-TAIL:]))
            out.write("------\n")
        out.write(str(exc) + "\n")
        out.flush()

    def _stop(self) -> None:
        pass

    def step(self, number: int, total: int, text: str, cached: bool | None = None) -> None:
        """BuildKit's display shows vertices only."""


class Plain(_Base):
    def start(self, vertex: int, name: str) -> None:
        with self.lock:
            self.vertices[vertex] = _Vertex(name, time.monotonic())
            self._write(f"#{vertex} {name}\n")

    def log(self, vertex: int, data: bytes, stderr: bool = False) -> None:
        with self.lock:
            elapsed = time.monotonic() - self.vertices[vertex].started
            self._write("".join(f"#{vertex} {elapsed:.3f} {line}\n" for line in self._add_log(vertex, data)))

    def cached(self, vertex: int) -> None:
        with self.lock:
            self._write(f"#{vertex} CACHED\n\n")

    def done(self, vertex: int, seconds: float) -> None:
        with self.lock:
            self._write(f"#{vertex} DONE {seconds:.1f}s\n\n")

    def error(self, vertex: int, message: str) -> None:
        with self.lock:
            self._write(f"#{vertex} ERROR: {message}\n\n")

    def exported(self, dest: str) -> None:
        vertex = max(self.vertices, default=0) + 1
        self._write(f"#{vertex} exporting to client\n#{vertex} copying files to {'stdout' if dest == '-' else dest} done\n#{vertex} DONE 0.0s\n")

    def finish(self, image_id: str, names: list[str]) -> None:
        vertex = max(self.vertices, default=0) + 1
        lines = [f"#{vertex} exporting to image", f"#{vertex} writing image {image_id} done"]
        lines += [f"#{vertex} naming to {name} done" for name in names]
        self._write("\n".join([*lines, f"#{vertex} DONE 0.0s"]) + "\n")


class Terminal(_Base):
    """Redraws the whole display (cursor up, clear) on each change and every 100 ms while building."""

    def __init__(self, out: TextIO) -> None:
        super().__init__(out)
        self.drawn = 0
        self.finished = False
        self._ticker = threading.Thread(target=self._tick, daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        while not self.finished:
            time.sleep(0.1)
            with self.lock:
                if not self.finished:
                    self._draw()

    def _lines(self, footer: list[str]) -> list[str]:
        width = max(40, shutil.get_terminal_size().columns)
        now = time.monotonic()
        done = sum(v.ended is not None for v in self.vertices.values())
        state = " FINISHED" if self.finished else ""
        lines = [f"[+] Building {now - self.begin:.1f}s ({done}/{len(self.vertices)}){state}"]
        for v in self.vertices.values():
            seconds = f"{(v.ended or now) - v.started:.1f}s"
            name = (f"{v.status} " if v.status else "") + v.name
            room = width - len(seconds) - 5
            lines.append(f" => {name[:room]:<{room}} {seconds}")
            if v.ended is None:
                lines += [f" => => # {line}"[: width - 1] for line in v.log[-3:]]
        return lines + footer

    def _draw(self, footer: list[str] = ()) -> None:  # type: ignore[assignment]
        lines = self._lines(list(footer))
        up = f"\x1b[{self.drawn}F" if self.drawn else ""
        self._write(up + "".join(f"\x1b[2K{line}\n" for line in lines) + "\x1b[J")
        self.drawn = len(lines)

    def start(self, vertex: int, name: str) -> None:
        with self.lock:
            self.vertices[vertex] = _Vertex(name, time.monotonic())
            self._draw()

    def log(self, vertex: int, data: bytes, stderr: bool = False) -> None:
        with self.lock:
            self._add_log(vertex, data)

    def _end(self, vertex: int, status: str) -> None:
        with self.lock:
            v = self.vertices[vertex]
            v.ended, v.status = time.monotonic(), status
            self._draw()

    def cached(self, vertex: int) -> None:
        self._end(vertex, "CACHED")

    def done(self, vertex: int, seconds: float) -> None:
        self._end(vertex, "")

    def error(self, vertex: int, message: str) -> None:
        self._end(vertex, "ERROR")

    def exported(self, dest: str) -> None:
        with self.lock:
            self.finished = True
            self._draw([" => exporting to client", f" => => copying files to {'stdout' if dest == '-' else dest}"])

    def finish(self, image_id: str, names: list[str]) -> None:
        with self.lock:
            self.finished = True
            self._draw([" => exporting to image", f" => => writing image {image_id}"] + [f" => => naming to {n}" for n in names])

    def _stop(self) -> None:
        with self.lock:
            self.finished = True
            self._draw()
