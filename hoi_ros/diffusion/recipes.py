"""What every model's training recipe shares: a dataclass read from YAML whose relative paths are
the YAML's folder, and an output folder relative to the working directory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

import yaml

R = TypeVar("R", bound="RecipeFile")


class RecipeFile:
    """Mixin of a recipe dataclass with ``output_dir`` and ``base_dir`` (the YAML's folder) fields."""

    output_dir: str
    base_dir: Path
    __dataclass_fields__: dict[str, Any]

    @classmethod
    def read(cls: type[R], path: str | os.PathLike, output_dir: str | None = None) -> R:
        """The recipe in ``path`` (unknown fields refused by name); ``output_dir`` overrides its own."""
        file = Path(path)
        if not file.is_file():
            raise ValueError(f"config: {file} does not exist")
        raw = yaml.safe_load(file.read_text()) or {}
        unknown = set(raw) - (set(cls.__dataclass_fields__) - {"base_dir"})
        if unknown:
            raise ValueError(f"recipe: unknown field(s) {sorted(unknown)}")
        cfg = cls(**raw, base_dir=file.resolve().parent)
        if output_dir:
            cfg.output_dir = output_dir
        return cfg

    def path(self, value: str) -> Path:
        """A path of the recipe YAML (relative to its folder)."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.base_dir / p).resolve()

    @property
    def out(self) -> Path:
        """The output folder (relative to the working directory)."""
        p = Path(self.output_dir).expanduser()
        return p if p.is_absolute() else Path.cwd() / p
