"""Dependencies point one way (DESIGN.md): the import-linter contract in pyproject.toml holds."""

import shutil
import subprocess
from pathlib import Path

import pytest


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter not installed")
def test_layers_contract_is_kept() -> None:
    result = subprocess.run(["lint-imports"], cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
