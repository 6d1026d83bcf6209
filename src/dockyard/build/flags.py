"""An instruction's ``--flags`` (BuildKit's BFlags): each is declared by the
instruction that accepts it; ``finish`` rejects the rest."""

from __future__ import annotations

from dockyard.errors import InvalidArgumentError


class Flags:
    def __init__(self, args: list[str]) -> None:
        self._parsed: dict[str, list[str | None]] = {}
        self._known: set[str] = set()
        for arg in args:
            if not arg.startswith("--"):
                raise InvalidArgumentError(f"arg should start with -- : {arg}")
            name, sep, value = arg[2:].partition("=")
            self._parsed.setdefault(name, []).append(value if sep else None)

    def _take(self, name: str, repeatable: bool = False) -> list[str | None]:
        self._known.add(name)
        values = self._parsed.get(name, [])
        if len(values) > 1 and not repeatable:
            raise InvalidArgumentError(f"duplicate flag specified: {name}")
        return values

    def string(self, name: str) -> str:
        values = self._take(name)
        if values and values[0] is None:
            raise InvalidArgumentError(f"missing a value on flag: {name}")
        return values[0] or "" if values else ""

    def strings(self, name: str) -> list[str]:
        values = self._take(name, repeatable=True)
        if any(v is None for v in values):
            raise InvalidArgumentError(f"missing a value on flag: {name}")
        return [v for v in values if v is not None]

    def boolean(self, name: str) -> bool:
        values = self._take(name)
        if not values:
            return False
        value = (values[0] if values[0] is not None else "true").lower()
        if value not in ("true", "false"):
            raise InvalidArgumentError(f"expecting boolean value for flag {name}, not: {values[0]}")
        return value == "true"

    def finish(self) -> None:
        for name in self._parsed:
            if name not in self._known:
                raise InvalidArgumentError(f"unknown flag: {name}")
