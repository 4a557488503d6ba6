"""One registry shape for rewards, prompts, loss aggregations, rollout engines and datasets.

A `Registry` is a dict from name to object with a `register(name)` decorator that refuses a duplicate and a
`get(name)` whose error lists the valid names. Nothing else: no plugin discovery, no lazy imports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class RegistryError(KeyError):
    """An unknown or duplicate registry name; the message names the registry and the valid names."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it a plain line
        return str(self.args[0]) if self.args else ""


class Registry(dict):
    """A named dict of callables: `@REG.register("name")` adds, `REG.get("name")` looks up."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def register(self, name: str) -> Callable[[Any], Any]:
        def deco(obj: Any) -> Any:
            if name in self:
                raise RegistryError(f"{self.kind} {name!r} is already registered")
            self[name] = obj
            return obj

        return deco

    def get(self, name: str) -> Any:  # type: ignore[override]
        if name not in self:
            valid = ", ".join(sorted(self)) or "(none)"
            raise RegistryError(f"unknown {self.kind} {name!r}; valid: {valid}")
        return self[name]
