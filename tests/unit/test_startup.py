"""What a start skips: the record classes' method code comes from the install-time cache (a changed class still
gets its own code), and the deferred stdlib modules load only when used, then as themselves.

Each step runs in a fresh interpreter, as the launcher and a user's next command do.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from dockyard.cli.startup import CACHE_SUFFIX

REPO_SRC = Path(__file__).resolve().parents[2] / "src"

RECORD_V1 = '''
from dataclasses import dataclass, field

@dataclass(frozen=True, slots=True)
class Point:
    x: int
    y: int = 0
    tags: tuple[str, ...] = field(default_factory=tuple)
'''

# the same class with one more field: its methods' source differs, so the cache has no code for them
RECORD_V2 = RECORD_V1 + "    z: int = 7\n"

WRITE = """
import sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from dockyard.cli.startup import write_record_caches
print(write_record_caches("pkg"))
"""

USE = """
import dataclasses, json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from dockyard.cli.startup import prepare
prepare()
from pkg.shapes import Point
p = Point(1)
try:
    p.x = 5
    frozen = False
except dataclasses.FrozenInstanceError:
    frozen = True
cache = dataclasses.exec.caches
# the code object the class's __init__ runs, found inside a cached module-level code object: served from the cache
inner = [k for c in cache.values() for code in c.values() for fn in code.co_consts if hasattr(fn, "co_consts")
         for k in fn.co_consts]
print(json.dumps({
    "repr": repr(p), "eq": p == Point(1), "hash": hash(p) == hash(Point(1)), "frozen": frozen,
    "z": getattr(p, "z", None), "cached": sum(len(c) for c in cache.values()),
    "served": any(Point.__init__.__code__ is k for k in inner),
}))
"""


def run(script: str, packages: Path) -> str:
    proc = subprocess.run([sys.executable, "-S", "-c", script, str(packages), str(REPO_SRC)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def make_package(base: Path, source: str) -> Path:
    pkg = base / "pkg"
    pkg.mkdir(exist_ok=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "shapes.py").write_text(source)
    return base


def test_the_cache_holds_each_record_method_and_the_class_behaves_as_a_dataclass(tmp_path: Path) -> None:
    base = make_package(tmp_path, RECORD_V1)
    assert run(WRITE, base).strip() == "1"
    cache_file = base / "pkg" / "__pycache__" / f"shapes{CACHE_SUFFIX}"
    assert cache_file.is_file()

    seen = json.loads(run(USE, base))
    assert seen["repr"] == "Point(x=1, y=0, tags=())"
    assert seen["eq"] and seen["hash"] and seen["frozen"]
    assert seen["cached"] >= 4  # __init__, __repr__, __eq__, __hash__, the frozen __setattr__/__delattr__
    assert seen["served"]


def test_a_changed_class_is_compiled_afresh_not_served_stale_code(tmp_path: Path) -> None:
    base = make_package(tmp_path, RECORD_V1)
    run(WRITE, base)
    (base / "pkg" / "shapes.py").write_text(RECORD_V2)  # edited after install: the cache is now stale

    seen = json.loads(run(USE, base))
    assert seen["z"] == 7
    assert seen["repr"] == "Point(x=1, y=0, tags=(), z=7)"
    assert not seen["served"]  # the cache has no __init__ that knows z: it was compiled from the new text


def test_a_missing_or_damaged_cache_only_costs_the_compile(tmp_path: Path) -> None:
    base = make_package(tmp_path, RECORD_V1)
    run(WRITE, base)
    (base / "pkg" / "__pycache__" / f"shapes{CACHE_SUFFIX}").write_bytes(b"\x00not marshal")
    seen = json.loads(run(USE, base))
    assert seen["repr"] == "Point(x=1, y=0, tags=())"
    assert seen["cached"] == 0 and not seen["served"]


DEFERRED = """
import sys
sys.path[:0] = [sys.argv[2]]
from dockyard.cli.startup import prepare
prepare()
import argparse, pathlib, dataclasses
loaded_early = sorted(m for m in ("locale", "ipaddress", "ast", "tokenize") if m in sys.modules)
parser = argparse.ArgumentParser(prog="x")
parser.add_argument("--n", type=int)
print(loaded_early)
print(parser.format_usage().strip())
print(pathlib.Path("/a b").as_uri())
import urllib.parse
print(urllib.parse.urlsplit("http://h/p").netloc)
from urllib.parse import quote
print(quote("a b"))
import gettext, inspect
print(gettext.dgettext("d", "same"), inspect.isclass(int))
print(all(type(sys.modules[m]).__name__ == "module" for m in ("urllib.parse", "gettext", "inspect")))
"""


def test_deferred_modules_load_only_when_used_and_then_are_the_real_ones(tmp_path: Path) -> None:
    lines = run(DEFERRED, tmp_path).splitlines()
    assert lines == [
        "[]",  # argparse, pathlib and dataclasses imported without gettext's locale, urllib's ipaddress, inspect's ast
        "usage: x [-h] [--n N]",
        "file:///a%20b",
        "h",
        "a%20b",
        "same True",
        "True",
    ]
