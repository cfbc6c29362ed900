"""One strict way to build a config dataclass from a YAML mapping (every config section uses it)."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def dataclass_from_dict(cls: type[T], data: Any, section: str) -> T:
    """``cls(**data)``; ``None`` gives the defaults, and a non-mapping or an unknown key raises
    ``ValueError`` naming ``section`` (so a typo in a YAML file is an error, never silently ignored)."""
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise ValueError(f"{section}: expected a mapping, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{section}: unknown field(s) {unknown}")
    return cls(**data)
