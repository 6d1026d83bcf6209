"""A streaming tar reader that keeps the raw bytes of every header.

``tarfile`` cannot say which bytes made up a header, and a layer exported
again must be byte-identical to the tar it came from (its diff ID), so this
reader hands out each member's raw header bytes (with any PAX or GNU long-name
records before it) and the padding after its content. Every byte of the
input, trailing bytes after the end-of-archive marker included, passes
through ``on_raw`` or a content consumer exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO, Callable

from dockyard.errors import InvalidArchiveError
from dockyard.oci.digest import Digester

BLOCK = 512
CHUNK = 1 << 20
# bounds on what a peer can make us hold in memory
MAX_PAX_SIZE = 1 << 20
MAX_LONGNAME = 1 << 16
MAX_TRAILER = 1 << 20
_XATTR = "SCHILY.xattr."

REGULAR = frozenset(b"0\x007")
HARDLINK = ord("1")
SYMLINK = ord("2")
CHARDEV = ord("3")
BLOCKDEV = ord("4")
DIRECTORY = ord("5")
FIFO = ord("6")
KNOWN_TYPES = frozenset(b"01234567\x00")


@dataclass(slots=True)
class Member:
    name: bytes
    type: int
    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    linkname: bytes
    devmajor: int
    devminor: int
    xattrs: dict[str, bytes] = field(default_factory=dict)

    @property
    def is_regular(self) -> bool:
        return self.type in REGULAR


def _number(field_bytes: bytes, what: str) -> int:
    if field_bytes and field_bytes[0] & 0x80:  # GNU base-256 for large values
        value = int.from_bytes(field_bytes[1:], "big")
        return value - (1 << (8 * len(field_bytes) - 1)) if field_bytes[0] & 0x40 else value
    text = field_bytes.split(b"\0", 1)[0].strip()
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError as exc:
        raise InvalidArchiveError(f"invalid tar header: bad {what} field {text!r}") from exc


def _check_sum(block: bytes) -> None:
    stored = _number(block[148:156], "checksum")
    unsigned = sum(block[:148]) + 256 + sum(block[156:])
    if stored != unsigned:
        signed = sum(b - 256 if b > 127 else b for b in block[:148] + block[156:]) + 256
        if stored != signed:
            raise InvalidArchiveError("invalid tar header: checksum mismatch (corrupt or not a tar archive)")


def _pax_int(pax: dict[str, bytes], key: str) -> int:
    try:
        return int(pax[key])
    except ValueError as exc:
        raise InvalidArchiveError(f"invalid tar header: bad PAX {key} {pax[key]!r}") from exc


def _pax_time_ns(value: bytes) -> int:
    """A PAX time ("1700000000.987654321") in nanoseconds, exactly."""
    whole, _, fraction = value.partition(b".")
    try:
        seconds = int(whole)
        nanos = int(fraction[:9].ljust(9, b"0")) if fraction else 0
    except ValueError as exc:
        raise InvalidArchiveError(f"invalid tar header: bad PAX time {value!r}") from exc
    return seconds * 10**9 + (-nanos if seconds < 0 or whole.startswith(b"-") else nanos)


def _parse_pax(data: bytes) -> dict[str, bytes]:
    records: dict[str, bytes] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            break
        try:
            length = int(data[pos:space])
        except ValueError as exc:
            raise InvalidArchiveError("invalid tar header: malformed PAX record") from exc
        record = data[space + 1 : pos + length]
        if length <= 0 or not record.endswith(b"\n") or b"=" not in record:
            raise InvalidArchiveError("invalid tar header: malformed PAX record")
        key, _, value = record[:-1].partition(b"=")
        records[key.decode("utf-8", "surrogateescape")] = value
        pos += length
    return records


class TarStream:
    """Reads members from ``raw``; hashes every byte with ``digester``.

    ``next()`` returns a member or None at the end; between calls the caller
    must consume the member's content with ``copy_content``, ``read_content``
    or ``skip_content``. Header bytes go to ``on_raw``.
    """

    def __init__(self, raw: BinaryIO, digester: Digester, on_raw: Callable[[bytes], None]) -> None:
        self._raw = raw
        self._digester = digester
        self._on_raw = on_raw
        self._buf = b""
        self._pos = 0
        self._pending = 0  # content bytes of the current member not yet consumed
        self._padding = 0
        self.total = 0

    # buffer ------------------------------------------------------------------

    def _fill(self, need: int) -> bool:
        """Make ``need`` bytes available from _pos; False at EOF."""
        while len(self._buf) - self._pos < need:
            chunk = self._raw.read(max(CHUNK, need))
            if not chunk:
                return False
            self._digester.update(chunk)
            self.total += len(chunk)
            self._buf = self._buf[self._pos :] + chunk
            self._pos = 0
        return True

    def _take(self, n: int) -> bytes:
        if not self._fill(n):
            raise InvalidArchiveError("unexpected EOF: the tar archive is truncated")
        data = self._buf[self._pos : self._pos + n]
        self._pos += n
        return data

    def _raw_block(self) -> bytes:
        block = self._take(BLOCK)
        self._on_raw(block)
        return block

    def _raw_data(self, size: int, bound: int, what: str) -> bytes:
        if size > bound:
            raise InvalidArchiveError(f"invalid tar header: {what} of {size} bytes exceeds {bound}")
        padded = (size + BLOCK - 1) // BLOCK * BLOCK
        data = self._take(padded)
        self._on_raw(data)
        return data[:size]

    # members -----------------------------------------------------------------

    def next(self) -> Member | None:
        if self._pending or self._padding:
            raise RuntimeError("content of the previous member was not consumed")
        pax: dict[str, bytes] = {}
        longname = longlink = None
        while True:
            if not self._fill(BLOCK):
                if len(self._buf) - self._pos == 0:
                    return None  # EOF without end-of-archive blocks: accepted, as Go's reader does
                raise InvalidArchiveError("unexpected EOF: the tar archive is truncated")
            block = self._raw_block()
            if block.count(0) == BLOCK:
                self._drain_trailer()
                return None
            _check_sum(block)
            kind = block[156]
            size = _number(block[124:136], "size")
            if kind in (ord("x"), ord("g")):
                records = _parse_pax(self._raw_data(size, MAX_PAX_SIZE, "PAX header"))
                if kind == ord("x"):  # global records are not applied to members, as Go's reader does
                    pax.update(records)
                continue
            if kind in (ord("L"), ord("K")):
                value = self._raw_data(size, MAX_LONGNAME, "long name").split(b"\0", 1)[0]
                if kind == ord("L"):
                    longname = value
                else:
                    longlink = value
                continue
            return self._member(block, kind, size, pax, longname, longlink)

    def _member(
        self, block: bytes, kind: int, size: int, pax: dict[str, bytes], longname: bytes | None, longlink: bytes | None
    ) -> Member:
        if kind not in KNOWN_TYPES:
            raise InvalidArchiveError(f"unsupported tar entry type {chr(kind)!r}")
        name = block[0:100].split(b"\0", 1)[0]
        if block[257:263] == b"ustar\0" and block[345] != 0:  # POSIX prefix field
            name = block[345:500].split(b"\0", 1)[0] + b"/" + name
        member = Member(
            name=pax.get("path", longname or name),
            type=kind,
            mode=_number(block[100:108], "mode"),
            uid=_pax_int(pax, "uid") if "uid" in pax else _number(block[108:116], "uid"),
            gid=_pax_int(pax, "gid") if "gid" in pax else _number(block[116:124], "gid"),
            size=_pax_int(pax, "size") if "size" in pax else size,
            mtime_ns=_pax_time_ns(pax["mtime"]) if "mtime" in pax else _number(block[136:148], "mtime") * 10**9,
            linkname=pax.get("linkpath", longlink or block[157:257].split(b"\0", 1)[0]),
            devmajor=_number(block[329:337], "devmajor"),
            devminor=_number(block[337:345], "devminor"),
            xattrs={k[len(_XATTR):]: v for k, v in pax.items() if k.startswith(_XATTR)},
        )
        if member.size < 0:
            raise InvalidArchiveError("invalid tar header: negative size")
        # only regular files carry content: Go's reader ignores the size of header-only types
        self._pending = member.size if member.is_regular else 0
        self._padding = -self._pending % BLOCK
        return member

    def _finish_content(self) -> None:
        if self._padding:
            self._on_raw(self._take(self._padding))
            self._padding = 0

    def copy_content(self, write: Callable[[memoryview], object]) -> None:
        """Pass the current member's content to ``write`` in pieces."""
        while self._pending:
            if not self._fill(1):
                raise InvalidArchiveError("unexpected EOF: the tar archive is truncated")
            n = min(self._pending, len(self._buf) - self._pos)
            write(memoryview(self._buf)[self._pos : self._pos + n])
            self._pos += n
            self._pending -= n
        self._finish_content()

    def read_content(self) -> bytes:
        data = self._take(self._pending)
        self._pending = 0
        self._finish_content()
        return data

    def skip_content_as_raw(self) -> None:
        """Content that is not a file on disk (e.g. a device's payload) is kept raw."""
        self._on_raw(self._take(self._pending))
        self._pending = 0
        self._finish_content()

    def _drain_trailer(self) -> None:
        # the rest of the stream (second zero block, record padding) is part of the diff ID
        rest = self._buf[self._pos :]
        self._buf, self._pos = b"", 0
        trailer = len(rest)
        if rest:
            self._on_raw(rest)
        while chunk := self._raw.read(CHUNK):
            trailer += len(chunk)
            if trailer > MAX_TRAILER:
                raise InvalidArchiveError(f"more than {MAX_TRAILER} bytes after the end of the tar archive")
            self._digester.update(chunk)
            self.total += len(chunk)
            self._on_raw(chunk)
