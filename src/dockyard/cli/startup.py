"""What a command's start costs, kept small: a light command spends most of its time importing.

Three stdlib modules are loaded only when something uses them (``inspect``, which ``dataclasses``
imports at its top and asks only for the signature of a record class without a docstring,
``gettext``, which ``argparse`` does, and ``urllib.parse``, which ``pathlib`` does), and the code
of the record classes' methods comes from a cache written at install time instead of being
compiled at every start.

``dataclasses`` writes each method of a record class (``__init__``, ``__repr__``, ``__eq__``,
``__hash__``, the frozen ``__setattr__``...) as source text and compiles it: ~0.5 ms a class, and
a light command defines 10 to 25 of them. ``scripts/launcher.py`` imports the whole package once
with a recording :class:`RecordCode` and writes, beside each module's bytecode, the code objects
its classes' methods compile to, keyed by their source text. A start then finds the code by the
same text, so the cache cannot answer for a changed class; text it lacks is compiled as before.
"""

from __future__ import annotations

import marshal
import os
import sys
import types

TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from types import CodeType
    from typing import Callable

CACHE_SUFFIX = f".records.{sys.implementation.cache_tag}.marshal"  # beside the module's .pyc


def prepare() -> None:
    """Everything a start does before the command's modules are imported."""
    defer_module("inspect")  # dataclasses imports it (with ast, dis, tokenize: ~8 ms) for docstring-less records
    defer_module("gettext")  # argparse imports it (with locale: ~1.5 ms) to translate messages it never translates
    defer_module("urllib.parse")  # pathlib imports it (with ipaddress: ~2 ms) for Path.as_uri alone
    import dataclasses

    if not isinstance(getattr(dataclasses, "exec", None), RecordCode):
        dataclasses.exec = RecordCode()  # type: ignore[attr-defined]  # the module's only use of exec
        dataclasses.inspect = Unsigned  # type: ignore[attr-defined]  # and its only use of inspect


def defer_module(name: str) -> None:
    """Load module ``name`` when something first uses it rather than when it is imported.

    A stand-in takes the name; the first attribute asked of it imports the real module in its
    place and answers from it, so every user still gets the real thing.
    """
    if name in sys.modules:
        return
    stand_in = Deferred(name)
    stand_in.__spec__ = None  # an import of a module without a spec does not ask for its attributes
    sys.modules[name] = stand_in
    parent, _, child = name.rpartition(".")
    if parent:  # ``import urllib.parse`` then ``urllib.parse.X`` reads the package's attribute
        from importlib import import_module

        setattr(import_module(parent), child, stand_in)
    # the names the importers above take with ``from NAME import ...``, which must not load the real module
    if name == "gettext":
        stand_in.__dict__["gettext"] = _identity
        stand_in.__dict__["ngettext"] = _plural
    elif name == "urllib.parse":
        stand_in.__dict__["quote_from_bytes"] = _forward(name, "quote_from_bytes")


class Deferred(types.ModuleType):
    """A module's stand-in in ``sys.modules`` until something uses the module."""

    def __getattr__(self, attr: str) -> object:
        if attr == "__path__":  # asked by every ``from NAME import ...``: these modules are not packages
            raise AttributeError(attr)
        return getattr(real_module(self.__name__), attr)


def real_module(name: str) -> types.ModuleType:
    """Module ``name`` itself, imported in place of its stand-in if it has one."""
    from importlib import import_module

    if isinstance(sys.modules.get(name), Deferred):
        del sys.modules[name]
    return import_module(name)


def _forward(module: str, attr: str) -> Callable[..., object]:
    """A function of ``module`` that loads the module when it is first called."""

    def call(*args: object, **kwargs: object) -> object:
        return getattr(real_module(module), attr)(*args, **kwargs)  # type: ignore[no-any-return]

    return call


def _identity(message: str) -> str:
    return message


def _plural(singular: str, plural: str, n: int) -> str:
    return singular if n == 1 else plural


class Unsigned:
    """``inspect`` as ``dataclasses`` sees it: a record class without a docstring gets its name as one, not its
    signature, which would load the real ``inspect`` at the first such class of a command."""

    @staticmethod
    def signature(obj: object) -> object:
        raise ValueError("no signatures at start-up")


class RecordCode:
    """``dataclasses``' ``exec``: the code of a generated method from the module's cache, else compiled."""

    def __init__(self) -> None:
        self.caches: dict[str, dict[str, CodeType]] = {}  # module file -> source text -> code
        self.recorded: dict[str, dict[str, CodeType]] | None = None  # set while the install step records

    def __call__(self, source: str, globals: dict[str, object], namespace: dict[str, object]) -> None:
        module_file = globals.get("__file__")
        if not isinstance(module_file, str):
            exec(source, globals, namespace)
            return
        code = self._cache(module_file).get(source) or compile(source, "<string>", "exec")
        if self.recorded is not None:
            self.recorded.setdefault(module_file, {})[source] = code
        exec(code, globals, namespace)

    def _cache(self, module_file: str) -> dict[str, CodeType]:
        cache = self.caches.get(module_file)
        if cache is None:
            try:
                with open(cache_path(module_file), "rb") as f:
                    cache = marshal.loads(f.read())
            except (OSError, ValueError, EOFError, TypeError):
                cache = {}
            self.caches[module_file] = cache
        return cache


def cache_path(module_file: str) -> str:
    """Where the cache of ``module_file``'s record classes lives: its ``__pycache__``."""
    folder, name = os.path.split(module_file)
    return os.path.join(folder, "__pycache__", os.path.splitext(name)[0] + CACHE_SUFFIX)


def write_record_caches(package: str) -> int:
    """Import every module of ``package`` while recording and write each module's cache; the count written."""
    import importlib
    import pkgutil

    prepare()
    import dataclasses

    recorder: RecordCode = dataclasses.exec  # type: ignore[attr-defined]
    recorder.recorded = {}
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, f"{package}."):
        if info.name not in sys.modules and not info.name.endswith(".__main__"):
            importlib.import_module(info.name)
    home = os.path.dirname(os.path.abspath(root.__file__ or "")) + os.sep
    mine = {f: codes for f, codes in recorder.recorded.items() if os.path.abspath(f).startswith(home)}  # not a library's
    for module_file, codes in mine.items():
        path = cache_path(module_file)
        partial = f"{path}.partial-{os.getpid()}"
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(partial, "wb") as f:
            f.write(marshal.dumps(codes))
        os.replace(partial, path)
    return len(mine)
