"""The resumable SHA-256: a state saved at any point continues to hashlib's digest."""

from __future__ import annotations

import hashlib
import os

import pytest

from dockyard.registry.server.hashstate import CTX_SIZE, HashStateError, ResumableSha256


@pytest.mark.parametrize("cut", [0, 1, 63, 64, 65, 100_000])
def test_resume_at_any_offset(cut: int) -> None:
    data = os.urandom(200_003)
    first = ResumableSha256()
    first.update(data[:cut])
    state = first.state()
    assert len(state) == CTX_SIZE
    second = ResumableSha256(state)
    second.update(bytearray(data[cut:]))  # bytes, bytearray and memoryview all hash alike
    assert second.hexdigest() == hashlib.sha256(data).hexdigest()
    assert first.hexdigest() == hashlib.sha256(data[:cut]).hexdigest()  # hexdigest leaves the state usable
    first.update(memoryview(data)[cut:])
    assert first.hexdigest() == second.hexdigest()


def test_a_state_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(HashStateError):
        ResumableSha256(b"\0" * (CTX_SIZE - 1))
