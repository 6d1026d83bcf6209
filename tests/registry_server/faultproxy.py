"""A TCP proxy in front of one HTTP server that holds or breaks chosen requests, for tests of timing and retries.

Every connection is piped both ways in a thread of its own. A rule names a
request by a regular expression on its first line (``GET /bucket/blobs/...``)
and applies once, to the next request that matches:

- ``hold``: the request waits in the proxy (it never reaches the server)
  until ``release``; ``held`` is set once one is waiting, so a test knows the
  client is stalled in that very call;
- ``lose_answer``: the request reaches the server, which acts on it; its
  answer is dropped and the client's connection closed, as when a network
  path fails after the server did the work.
"""

from __future__ import annotations

import re
import selectors
import socket
import threading
from dataclasses import dataclass

from tests.helpers.tcpbalancer import TcpBalancer


_REQUEST_LINE = re.compile(rb"[A-Z]+ /\S* HTTP/1\.1$")


@dataclass
class _Rule:
    pattern: re.Pattern[bytes]
    action: str  # "hold" or "lose_answer"


class FaultProxy(TcpBalancer):
    """A balancer over one backend whose pipes apply the rules (see the module docstring)."""

    def __init__(self, backend: tuple[str, int]) -> None:
        super().__init__([backend])
        self._rules: list[_Rule] = []
        self._rules_lock = threading.Lock()
        self.held = threading.Event()
        self._release = threading.Event()
        self.lost: list[bytes] = []  # first lines of the requests whose answer was dropped
        self.requests: list[bytes] = []  # the head (request line and headers) of every request seen

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}"

    def start(self) -> FaultProxy:
        super().start()
        return self

    def close(self) -> None:
        self._release.set()
        super().close()

    def hold(self, pattern: bytes) -> None:
        self.held.clear()
        self._release.clear()
        self._add(pattern, "hold")

    def release(self) -> None:
        self._release.set()

    def lose_answer(self, pattern: bytes) -> None:
        self._add(pattern, "lose_answer")

    def _add(self, pattern: bytes, action: str) -> None:
        with self._rules_lock:
            self._rules.append(_Rule(re.compile(pattern), action))

    def _take(self, data: bytes) -> str | None:
        """The action of the first rule the request starting ``data`` matches (used up), if any."""
        first_line = data.split(b"\r\n", 1)[0]
        with self._rules_lock:
            if _REQUEST_LINE.match(first_line):
                self.requests.append(data.split(b"\r\n\r\n", 1)[0])
            for rule in self._rules:
                if rule.pattern.match(first_line):
                    self._rules.remove(rule)
                    if rule.action == "lose_answer":
                        self.lost.append(first_line)
                    return rule.action
        return None

    def _pipe(self, client: socket.socket) -> None:
        upstream = self._connect()
        if upstream is None:
            client.close()
            return
        upstream.settimeout(None)
        losing = False  # a request whose answer is to be dropped went through on this connection
        with client, upstream, selectors.DefaultSelector() as sel:
            sel.register(client, selectors.EVENT_READ)
            sel.register(upstream, selectors.EVENT_READ)
            while not self._closed.is_set():
                for key, _ in sel.select(timeout=1):
                    try:
                        data = key.fileobj.recv(1 << 16)  # type: ignore[union-attr]
                    except OSError:
                        return
                    if not data:
                        return
                    if key.fileobj is upstream:
                        if losing:
                            return  # the server answered: drop the answer, cut the client off
                        client.sendall(data)
                        continue
                    action = self._take(data)
                    if action == "hold":
                        self.held.set()
                        self._release.wait()
                    losing = losing or action == "lose_answer"
                    upstream.sendall(data)
