"""Merging two runs' evaluations: trained rows renamed per run and paired, shared rows checked, other
episodes refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hoi_ros.svimo.experiments.compare import main, merge_evaluations
from hoi_ros.svimo.experiments.evaluate import seed_groups, summarise


def _model(mpjpe: list[float]) -> dict:
    rows = [{"episode": i, "task": "push", "mpjpe": v, "chamfer": 2 * v} for i, v in enumerate(mpjpe)]
    return summarise(rows) | {"per_episode": rows, "seconds": 1.0}


def _run(a0: list[float], a1: list[float], template: list[float]) -> dict:
    return {"episodes": len(a0), "ground_truth": {},
            "models": {"SViMo w/ VID (shipped) seed 0": _model(a0), "SViMo w/ VID seed 1": _model(a1),
                       "per-task template (no model)": _model(template)}}


def test_trained_rows_are_renamed_and_paired_as_a_configuration(tmp_path: Path, capsys) -> None:
    new = _run([0.01, 0.02, 0.03], [0.02, 0.03, 0.04], [0.05, 0.05, 0.05])
    old = _run([0.02, 0.03, 0.04], [0.04, 0.05, 0.06], [0.05, 0.05, 0.05])
    merged = merge_evaluations(new, {"sampled order": old})
    assert seed_groups(merged) == {
        "SViMo w/ VID": ["SViMo w/ VID (shipped) seed 0", "SViMo w/ VID seed 1"],
        "per-task template (no model)": ["per-task template (no model)"],
        "SViMo w/ VID, sampled order": ["SViMo w/ VID, sampled order seed 0", "SViMo w/ VID, sampled order seed 1"]}
    (tmp_path / "a.json").write_text(json.dumps(new))
    (tmp_path / "b.json").write_text(json.dumps(old))
    assert main([str(tmp_path / "a.json"), f"sampled order={tmp_path / 'b.json'}", "--out",
                 str(tmp_path / "m.json")]) == 0
    table = capsys.readouterr().out
    # seed-averaged per episode: new 1.5, 2.5, 3.5 cm; old 3, 4, 5 cm -> old is 1.5 cm worse on every episode
    assert "| SViMo w/ VID, sampled order (2) | 4.00 (3.00, 5.00) | +1.50 ± 0.00 |" in table
    assert json.loads((tmp_path / "m.json").read_text())["models"].keys() == merged["models"].keys()


def test_other_episodes_or_a_disagreeing_shared_row_are_refused() -> None:
    new = _run([0.01, 0.02, 0.03], [0.02, 0.03, 0.04], [0.05, 0.05, 0.05])
    with pytest.raises(ValueError, match="other episodes"):
        merge_evaluations(new, {"short": _run([0.01, 0.02], [0.02, 0.03], [0.05, 0.05])})
    with pytest.raises(ValueError, match="template"):
        merge_evaluations(new, {"moved": _run([0.01, 0.02, 0.03], [0.02, 0.03, 0.04], [0.05, 0.06, 0.05])})
