"""The package's layers (docs/architecture.md) hold: import-linter checks the contracts in
pyproject.toml on the real import graph (imports inside functions included)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint(tmp_path: Path, config: Path) -> tuple[int, str]:
    from importlinter.cli import lint_imports

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        code = lint_imports(config_filename=str(config), no_cache=True)
    finally:
        os.chdir(cwd)
    return code, ""


def test_layer_contracts_are_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = _lint(tmp_path, ROOT / "pyproject.toml")
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Layers: nodes > pipelines > models > shared layers > core KEPT" in out
    assert "The core loads neither torch" in out and "BROKEN" not in out


def test_a_broken_layer_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same contracts with the layer order reversed fail (so the check can fail)."""
    text = (ROOT / "pyproject.toml").read_text()
    block = text[text.index("layers = [") : text.index("]", text.index("layers = ["))]
    lines = block.splitlines()
    reversed_block = "\n".join([lines[0], *reversed(lines[1:])]) + "\n"
    config = tmp_path / "pyproject.toml"
    config.write_text(text.replace(block, reversed_block))
    code, _ = _lint(tmp_path, config)
    assert code != 0
    assert "BROKEN" in capsys.readouterr().out
