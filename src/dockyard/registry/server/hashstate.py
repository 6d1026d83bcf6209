"""A SHA-256 whose running state can be saved with an upload session and resumed by another process.

hashlib cannot export its state, and SHA-256 in Python runs at well under
1 MiB/s. OpenSSL's own context (``SHA256_CTX``: h0..h7, the bit count, the
unprocessed tail and its length; 112 bytes, a plain struct) can be copied
out and back in through its low-level ``SHA256_*`` functions, at OpenSSL's
speed. Distribution keeps its hash states beside the session the same way.
Where libcrypto is not found, ``available()`` says so and callers re-read.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache

CTX_SIZE = 112  # sizeof(SHA256_CTX) in OpenSSL 1.1 and 3.x


class HashStateError(ValueError):
    """A saved state that is not one of ours (wrong size)."""


@cache
def _libcrypto() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("crypto")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name)
        lib.SHA256_Init, lib.SHA256_Update, lib.SHA256_Final  # noqa: B018 - all three must exist
    except (OSError, AttributeError):
        return None
    lib.SHA256_Update.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]  # lengths past 2 GiB too
    return lib


def available() -> bool:
    return _libcrypto() is not None


class ResumableSha256:
    """``update``/``hexdigest`` as hashlib's, plus ``state()`` and ``ResumableSha256(state)``."""

    def __init__(self, state: bytes | None = None) -> None:
        lib = _libcrypto()
        if lib is None:
            raise HashStateError("libcrypto's SHA256 functions are not available")
        self._lib = lib
        if state is None:
            self._ctx = ctypes.create_string_buffer(CTX_SIZE)
            lib.SHA256_Init(self._ctx)
        elif len(state) != CTX_SIZE:
            raise HashStateError(f"a SHA-256 state is {CTX_SIZE} bytes, not {len(state)}")
        else:
            self._ctx = ctypes.create_string_buffer(state, CTX_SIZE)

    def update(self, data: bytes | bytearray | memoryview) -> None:
        if not isinstance(data, bytes):
            view = memoryview(data).cast("B")
            if view.readonly or not view.c_contiguous:
                data = view.tobytes()
            else:
                self._lib.SHA256_Update(self._ctx, (ctypes.c_char * view.nbytes).from_buffer(view), view.nbytes)
                return
        self._lib.SHA256_Update(self._ctx, data, len(data))  # bytes go in without a copy

    def state(self) -> bytes:
        return self._ctx.raw

    def hexdigest(self) -> str:
        done = ctypes.create_string_buffer(self._ctx.raw, CTX_SIZE)  # Final consumes the context: a copy
        out = ctypes.create_string_buffer(32)
        self._lib.SHA256_Final(out, done)
        return out.raw.hex()
