"""A store with the busybox base image, shared by the builder tests of a module."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.conftest import Dockyard  # noqa: E402

BASE = "dyk-busybox:latest"


@pytest.fixture(scope="module")
def yard(tmp_path_factory: pytest.TempPathFactory, busybox_tar: Path) -> Dockyard:
    d = Dockyard(tmp_path_factory.mktemp("build") / "root")
    d("import", "-c", 'CMD ["/bin/sh"]', str(busybox_tar), BASE)
    return d


def write_context(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    return root
