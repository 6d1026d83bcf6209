"""The attach stream's wire protocol and terminal sizing, as a face speaks them over
``ContainerService.start_attached``/``connect`` (frames, HELLO, resize, the exit frame), and the detach keys
both faces watch for in a client's input."""

from dockyard.errors import InvalidArgumentError
from dockyard.runtime.attach import MAX_FRAME, FrameReader, Kind, NotAttachableError, exit_code, frame, hello, resize
from dockyard.runtime.console import get_size, set_size

__all__ = ["DEFAULT_DETACH_KEYS", "MAX_FRAME", "DetachMatcher", "FrameReader", "Kind", "NotAttachableError", "exit_code",
           "frame", "get_size", "hello", "parse_detach_keys", "resize", "set_size"]

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
_CTRL = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


def parse_detach_keys(spec: str) -> bytes:
    """Docker's syntax: comma-separated keys, each one character or ``ctrl-<a-z@[\\]^_>``."""
    keys = bytearray()
    for part in spec.split(","):
        if len(part) == 1:
            keys.append(ord(part))
        elif len(part) == 6 and part.lower().startswith("ctrl-") and (part[5].lower().isalpha() or part[5] in _CTRL):
            c = part[5].lower()
            keys.append(ord(c) - 96 if c.isalpha() else _CTRL[c])
        else:
            raise InvalidArgumentError(f"Invalid detach keys ({spec}) provided")
    return bytes(keys)


class DetachMatcher:
    """Finds the detach sequence in typed input; bytes of a broken prefix are passed on, as Docker's escape proxy."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.matched = 0

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        out = bytearray()
        for byte in data:
            if byte == self.keys[self.matched]:
                self.matched += 1
                if self.matched == len(self.keys):
                    return bytes(out), True
                continue
            out += self.keys[: self.matched]
            self.matched = 1 if byte == self.keys[0] else 0
            if not self.matched:
                out.append(byte)
        return bytes(out), False

