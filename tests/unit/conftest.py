"""Fixtures of the unit tests: a private temp dir each (removed at once, nothing kept) and a fresh database."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from dockyard.metadata.db import Database


@pytest.fixture
def tmp_path(request: pytest.FixtureRequest) -> Iterator[Path]:
    module = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    path = Path(tempfile.mkdtemp(prefix=f"dockyard-test-{module}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "metadata.db")
    try:
        yield database
    finally:
        database.close()
