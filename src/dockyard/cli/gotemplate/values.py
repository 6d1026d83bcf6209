"""Python data as Go sees it (MISSING, Go type names, truth, map order), and TemplateError."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class TemplateError(ValueError):
    """A parse or execution error, worded like Go's text/template errors."""


class _Missing:
    """Go's invalid reflect.Value: what a missing map key evaluates to."""

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


class Struct(dict):  # type: ignore[type-arg]
    """A dict that Go sees as a struct (Docker's formatter contexts): a field it lacks is an error
    ("can't evaluate field Bogus in type *formatter.imageContext"), not "<no value>"; a value that
    is a ``Method`` takes arguments (``{{.Label "app"}}``). ``json`` still prints it as an object."""

    __slots__ = ("go_type",)

    def __init__(self, go_type: str, fields: Mapping[str, Any]) -> None:
        super().__init__(fields)
        self.go_type = go_type


class Method:
    """A struct's method with string parameters, as Docker's contexts have (Label(name) string)."""

    __slots__ = ("impl", "params")

    def __init__(self, impl: Any, params: int = 1) -> None:
        self.impl = impl
        self.params = params


class _Uint8(int):
    """A byte of a string, as `index` and Go's s[i] yield it."""


def _is_nil(value: object) -> bool:
    return value is None or value is MISSING


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _all_str(values: Any) -> bool:
    return all(isinstance(v, str) for v in values)


def go_type_name(value: object) -> str:
    """The Go type a Python value stands for, as Go spells it in messages."""
    if _is_nil(value):
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "uint8" if isinstance(value, _Uint8) else "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "[]string" if value and _all_str(value) else "[]interface {}"
    if isinstance(value, Struct):
        return value.go_type
    if isinstance(value, dict):
        return "map[string]string" if value and _all_str(value.values()) else "map[string]interface {}"
    if callable(value):
        return "func"
    return type(value).__name__


def _truth(value: object) -> bool:
    """text/template's isTrue: zero values and empty containers are false."""
    if _is_nil(value):
        return False
    if isinstance(value, (bool, int, float, str, list, tuple, dict)):
        return bool(value)
    return True


def _sort_key(key: object) -> tuple[int, Any]:
    """fmtsort's order for map keys: numbers numerically, strings bytewise."""
    if isinstance(key, (bool, int, float)):
        return (0, key)
    if isinstance(key, str):
        return (1, key)
    return (2, repr(key))


def _sorted_items(mapping: Mapping[Any, Any]) -> list[tuple[Any, Any]]:
    return sorted(mapping.items(), key=lambda item: _sort_key(item[0]))
