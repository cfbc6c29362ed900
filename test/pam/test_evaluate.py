"""PAM's held-out evaluation on the tiny config: every row, paired noise, the estimator's floor."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hoi_ros.pam.evaluate import SUBSET_ROWS, evaluate, generate_rows, load_items, main, markdown_table
from hoi_ros.pam.pipeline import PAMPipeline

TINY = str(Path(__file__).resolve().parents[2] / "config/models/pam/tiny_for_tests.yaml")


def test_rows_share_noise_so_a_fresh_controlnet_equals_the_base_alone(dataset: Path) -> None:
    pipe = PAMPipeline.from_pretrained(TINY)
    items = load_items(pipe, dataset)
    rows = generate_rows(pipe, items, steps=2, seed=3, truth_first_frame=True)
    t, h, w = pipe.cfg.clip.num_frames, pipe.cfg.clip.height, pipe.cfg.clip.width
    assert set(SUBSET_ROWS) <= set(rows) and all(v.shape == (2, t, h, w, 3) for v in rows.values())
    # Zero-initialised ControlNets add exactly nothing: the same noise gives the same video.
    assert np.array_equal(rows["all"], rows["no ControlNet"])
    assert np.array_equal(rows["all, real I₀"], rows["no ControlNet, real I₀"])
    assert np.array_equal(rows["first-frame copy, real I₀"][:, 0], np.stack([it["video"][0] for it in items]))
    assert (rows["first-frame copy"] == rows["first-frame copy"][:, :1]).all()
    again = generate_rows(pipe, items, steps=2, seed=3)
    assert np.array_equal(again["all"], rows["all"])  # deterministic per seed


def test_evaluate_reports_every_row_with_paired_intervals(dataset: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import hoi_ros.pam.evaluate as ev

    real = ev.train_estimator
    monkeypatch.setattr(ev, "train_estimator", lambda data, steps, batch_size: real(data, 2, 4, progress=False))
    result = evaluate(TINY, dataset, tmp_path / "est", train_data=dataset, steps=1, batch_size=2,
                      truth_first_frame=False, progress=False)
    rows = result["summary"]
    assert {"ground truth", "all", "no ControlNet", "first-frame copy"} <= set(rows)
    assert rows["ground truth"]["psnr"] > 99 and rows["first-frame copy"]["tc"] == pytest.approx(1.0)
    assert set(rows["seg"]["vs_all"]) == set(rows["seg"]) - {"vs_all"}
    assert not result["weights_trained"] and result["episodes"] == 2
    assert (tmp_path / "est" / "model.safetensors").is_file() and "held_out_mpjpe_px" in result["estimator"]
    assert "| first-frame copy |" in markdown_table(result)
    # The command: the estimator is now loaded, not retrained; outputs written.
    out = tmp_path / "eval"
    assert main(["--model", TINY, "--data", str(dataset), "--estimator", str(tmp_path / "est"), "--steps", "1",
                 "--limit", "1", "--no-truth-first-frame", "--output", str(out)]) == 0
    assert json.loads((out / "result.json").read_text())["episodes"] == 1 and (out / "table.md").is_file()
    assert main(["--model", TINY, "--data", str(dataset), "--estimator", str(tmp_path / "none")]) == 2
