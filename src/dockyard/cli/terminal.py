"""The local end of an attached session: a raw terminal, window size, signals, detach keys, and the pump.

One loop (``stream``) serves ``run``/``start -a``, ``attach`` and ``exec``: the
local stdin goes to the container, its output comes back, SIGWINCH becomes a
resize, other signals are forwarded (``--sig-proxy``, without a terminal only, as
Docker does), and the detach keys (Ctrl-P Ctrl-Q by default; terminals only)
leave the container running. The far end is a ``Transport``: a container's
monitor (framed socket), a pty master we hold (``exec -t``), or an exec's pipes.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import sys
import termios
import tty as tty_mod
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol

from dockyard.cli.context import EXIT_ERROR, UsageError
from dockyard.engine import attach_protocol as proto


DEFAULT_DETACH_KEYS = proto.DEFAULT_DETACH_KEYS
DetachMatcher = proto.DetachMatcher
# Docker's ForwardAllSignals minus the job-control and terminal ones a CLI must keep
PROXIED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM)
OUT_LIMIT = 1 << 20  # unsent stdin bytes before we stop reading our stdin


def parse_detach_keys(spec: str) -> bytes:
    """Docker's syntax (``engine.attach_protocol``); a bad spec is the user's error (exit 1)."""
    from dockyard.errors import InvalidArgumentError

    try:
        return proto.parse_detach_keys(spec)
    except InvalidArgumentError as exc:
        raise UsageError(str(exc), EXIT_ERROR) from None


# the far end ------------------------------------------------------------------------


class Transport(Protocol):
    def fds(self) -> list[int]: ...  # to read from; empty once everything ended
    def fileno(self) -> int: ...  # to write to
    def read(self, fd: int) -> list[tuple[proto.Kind, bytes]]: ...
    def send_stdin(self, data: bytes) -> None: ...
    def close_stdin(self) -> None: ...
    def resize(self, rows: int, cols: int) -> None: ...
    def pending(self) -> int: ...
    def flush(self) -> None: ...


class MonitorTransport:
    """A monitor's attach socket (or our end of the pair handed to it)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = proto.FrameReader()
        self.out = bytearray()
        sock.setblocking(False)

        self.open = True

    def fds(self) -> list[int]:
        return [self.sock.fileno()] if self.open else []

    def fileno(self) -> int:
        return self.sock.fileno()

    def read(self, fd: int) -> list[tuple[proto.Kind, bytes]]:
        try:
            data = self.sock.recv(1 << 16)
        except BlockingIOError:
            return []
        except OSError:
            data = b""
        if not data:
            self.open = False
            return []
        return self.reader.feed(data)

    def send_stdin(self, data: bytes) -> None:
        for i in range(0, len(data), proto.MAX_FRAME):
            self.out += proto.frame(proto.Kind.STDIN, data[i:i + proto.MAX_FRAME])

    def close_stdin(self) -> None:
        self.out += proto.frame(proto.Kind.CLOSE_STDIN)

    def resize(self, rows: int, cols: int) -> None:
        self.out += proto.resize(rows, cols)

    def pending(self) -> int:
        return len(self.out)

    def flush(self) -> None:
        try:
            del self.out[: self.sock.send(self.out)]
        except BlockingIOError:
            pass
        except OSError:
            self.out.clear()  # the monitor went away; reading tells the rest


class _ProcessOutputs:
    """An exec's output fds, read until they end or, once its process exited (``pidfd`` readable), until
    they are empty: a background child keeping them open does not hold the CLI (as Docker)."""

    def __init__(self, outputs: dict[int, proto.Kind], pidfd: int | None, owned: bool) -> None:
        self.outputs = outputs
        self.pidfd = pidfd
        self.owned = owned  # close the fds when they end (pipes), or leave them to the caller (a pty master)
        for fd in outputs:
            os.set_blocking(fd, False)

    def fds(self) -> list[int]:
        return [*self.outputs, *([self.pidfd] if self.outputs and self.pidfd is not None else [])]

    def read(self, fd: int) -> list[tuple[proto.Kind, bytes]]:
        if fd != self.pidfd:
            return self._read(fd)
        frames = []
        for out in list(self.outputs):
            while out in self.outputs and (chunk := self._read(out)):
                frames += chunk
            self._end(out)
        os.close(fd)
        self.pidfd = None
        return frames

    def _read(self, fd: int) -> list[tuple[proto.Kind, bytes]]:
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            return []
        except OSError:  # EIO: every slave of a terminal closed
            data = b""
        if not data:
            self._end(fd)
            return []
        return [(self.outputs[fd], data)]

    def _end(self, fd: int) -> None:
        if self.outputs.pop(fd, None) is not None and self.owned:
            os.close(fd)


class ConsoleTransport(_ProcessOutputs):
    """A pty master this process holds (``exec -t``)."""

    def __init__(self, master: int, pidfd: int | None = None) -> None:
        super().__init__({master: proto.Kind.STDOUT}, pidfd, owned=False)
        self.master = master
        self.out = bytearray()

    def fileno(self) -> int:
        return self.master

    def send_stdin(self, data: bytes) -> None:
        self.out += data

    def close_stdin(self) -> None:
        pass  # a terminal has no end of input but ^D, which the user types

    def resize(self, rows: int, cols: int) -> None:
        proto.set_size(self.master, rows, cols)

    def pending(self) -> int:
        return len(self.out)

    def flush(self) -> None:
        try:
            del self.out[: os.write(self.master, self.out)]
        except BlockingIOError:
            pass
        except OSError:
            self.out.clear()


class PipeTransport(_ProcessOutputs):
    """An exec's stdin/stdout/stderr pipes (``exec`` without a terminal)."""

    def __init__(self, stdin: int, stdout: int, stderr: int, pidfd: int | None = None) -> None:
        super().__init__({stdout: proto.Kind.STDOUT, stderr: proto.Kind.STDERR}, pidfd, owned=True)
        self.stdin: int | None = stdin
        self.out = bytearray()
        self.closing = False
        os.set_blocking(stdin, False)

    def fileno(self) -> int:
        return self.stdin if self.stdin is not None else -1

    def send_stdin(self, data: bytes) -> None:
        if self.stdin is not None:
            self.out += data

    def close_stdin(self) -> None:
        self.closing = True
        self._close_if_done()

    def _close_if_done(self) -> None:
        if self.closing and not self.out and self.stdin is not None:
            os.close(self.stdin)
            self.stdin = None

    def resize(self, rows: int, cols: int) -> None:
        pass

    def pending(self) -> int:
        return len(self.out)

    def flush(self) -> None:
        try:
            del self.out[: os.write(self.fileno(), self.out)]
        except BlockingIOError:
            pass
        except OSError:
            self.out.clear()  # the process closed its stdin
        self._close_if_done()


# the local end ----------------------------------------------------------------------


def terminal_size() -> tuple[int, int] | None:
    for fd in (1, 0, 2):
        if os.isatty(fd):
            return proto.get_size(fd)
    return None


@contextlib.contextmanager
def raw_terminal(enabled: bool) -> Iterator[None]:
    """Raw stdin (no echo, no line editing, ^C a byte) while attached; restored however we leave."""
    if not enabled:
        yield
        return
    saved = termios.tcgetattr(0)
    tty_mod.setraw(0, termios.TCSANOW)
    try:
        yield
    finally:
        termios.tcsetattr(0, termios.TCSADRAIN, saved)


@contextlib.contextmanager
def signal_pipe(wanted: tuple[signal.Signals, ...]) -> Iterator[int]:
    """A pipe that receives the numbers of ``wanted`` signals as they arrive (select-able)."""
    r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    old_fd = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
    old = {s: signal.signal(s, lambda *_: None) for s in wanted}
    try:
        yield r
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        signal.set_wakeup_fd(old_fd)
        os.close(r)
        os.close(w)


@dataclass(frozen=True, slots=True)
class Outcome:
    detached: bool = False  # the user left (detach keys), or a signal made us leave (then ``code`` is 128+signal)
    code: int | None = None  # None: the stream ended without an exit code


@dataclass(frozen=True, slots=True)
class Session:
    tty: bool
    stdin: bool
    detach_keys: bytes | None = None
    forward: Callable[[int], None] | None = None  # sig-proxy


def _write(kind: proto.Kind, data: bytes) -> None:
    out = sys.stderr.buffer if kind == proto.Kind.STDERR else sys.stdout.buffer
    out.write(data)
    out.flush()


def stream(t: Transport, s: Session) -> Outcome:
    """Pump between our stdio and the container until it exits, the stream ends or the user detaches."""
    proxied = PROXIED if s.forward and not s.tty else ()
    matcher = DetachMatcher(s.detach_keys) if s.tty and s.stdin and s.detach_keys else None
    stdin_open = s.stdin
    code: int | None = None
    raw = s.tty and s.stdin and os.isatty(0)
    ending = (signal.SIGTERM, signal.SIGHUP) if raw else ()  # leave the terminal as we found it, then go
    with signal_pipe((signal.SIGWINCH, *proxied, *ending)) as wake, raw_terminal(raw):
        while True:
            if not t.fds():
                return Outcome(code=code)
            readers = [*t.fds(), wake] + ([0] if stdin_open and t.pending() < OUT_LIMIT else [])
            try:
                ready, writable, _ = select.select(readers, [t.fileno()] if t.pending() else [], [])
            except InterruptedError:
                continue
            if writable:
                t.flush()
            if wake in ready:
                for signum in os.read(wake, 64):
                    if signum == signal.SIGWINCH and s.tty and (size := terminal_size()):
                        t.resize(*size)
                    elif signum in proxied and s.forward:
                        s.forward(signum)
                    elif signum in ending:
                        return Outcome(detached=True, code=128 + signum)
            if 0 in ready:
                data = os.read(0, 1 << 16)
                if not data:
                    stdin_open = False
                    t.close_stdin()
                detached = False
                if matcher:
                    data, detached = matcher.feed(data)
                if data:
                    t.send_stdin(data)
                if detached:
                    return Outcome(detached=True)
            for fd in [fd for fd in ready if fd in t.fds()]:
                for kind, payload in t.read(fd):
                    if kind == proto.Kind.EXIT:
                        code = proto.exit_code(payload)
                    elif kind in (proto.Kind.STDOUT, proto.Kind.STDERR):
                        _write(kind, payload)


