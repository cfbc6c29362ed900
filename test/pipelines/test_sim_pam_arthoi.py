"""Closing the loop (hoi_ros.pipelines.sim_pam_arthoi): the command runs end to end with the tiny PAM
(random weights) and a short ArtHOI config, and returns both recoveries with their metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hoi_ros.pipelines.sim_pam_arthoi import (
    PAM_LABEL_BASE,
    PAM_LABEL_HAND,
    PAM_LABEL_MOVING,
    SIM_PHASES_S,
    clip_timing,
    main,
    pam_segmentation,
)

ROOT = Path(__file__).resolve().parents[2]
TINY_PAM = ROOT / "config" / "models" / "pam" / "tiny_for_tests.yaml"
# A short ArtHOI run: that the loop runs and reports, not the accuracy, is under test.
FAST_ARTHOI = """\
seed: 0
render: {num_gaussians: 300}
stage1: {lr: 3.0e-3, iterations: 8}
stage2: {iterations: 20}
"""


def test_clip_timing_fills_the_clip() -> None:
    small = clip_timing(17, 2.5)  # the small PAM's clip: real time
    assert small.sim_fps == pytest.approx(2.5)
    assert small.operate_time == pytest.approx(16 / 2.5 - SIM_PHASES_S)
    assert small.time_scale == pytest.approx(1.0)
    tiny = clip_timing(9, 8.0)  # too short for the fixed phases: the default operation, a time-lapse
    assert tiny.operate_time == pytest.approx(2.4)
    assert tiny.duration_s == pytest.approx(SIM_PHASES_S + 2.4)
    assert tiny.time_scale > 1.0


def test_segmentation_takes_pam_training_labels() -> None:
    seg = np.array([[0, 1, 2, 3]], dtype=np.uint8)  # background, hand, base, moving part
    assert pam_segmentation(seg).tolist() == [[0, PAM_LABEL_HAND, PAM_LABEL_BASE, PAM_LABEL_MOVING]]


@pytest.mark.slow
def test_command_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "arthoi.yaml"
    cfg.write_text(FAST_ARTHOI)
    out = tmp_path / "loop"
    code = main(["--sim", "door", "--model", str(TINY_PAM), "--steps", "2", "--arthoi-config", str(cfg),
                 "--out", str(out), "--quiet", "--real-first-frame"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "sim render" in printed and "PAM video" in printed and "no motion (baseline)" in printed
    summary = json.loads((out / "result.json").read_text())
    assert set(summary["runs"]) == {"sim", "pam", "pam_real_i0"}
    for run in summary["runs"].values():
        m = run["metrics"]
        for key in ("rot_mean_deg", "rot_max_deg", "rot_min_deg", "trans_mean_m", "axis_error_deg",
                    "joint_type_correct", "gaussian_part_accuracy", "hand_mpjpe_m", "hand_init_mpjpe_m"):
            assert np.isfinite(m[key]), key
        assert run["joint_type"] in ("revolute", "prismatic") and run["stage2_ran"] and run["size"] == [48, 32]
    assert summary["truth"]["joint_type"] == "revolute"
    assert summary["truth"]["no_motion_baseline"]["rot_mean_deg"] > 0  # the door turns
    assert summary["scene"]["frames"] == 9 and summary["scene"]["size"] == [48, 32]
    assert summary["arthoi_pixel_scale"] == pytest.approx(48 / 160)  # §3.1's thresholds scaled to the clip
    assert summary["pam"]["weights_trained"] is False
    for key in ("vs_sim_render", "real_i0_vs_sim_render"):
        assert set(summary["pam"][key]) == {"psnr_db", "ssim", "object_psnr_db"}
    assert (out / "sheet.png").stat().st_size > 0 and (out / "pam_video.npz").is_file()


def test_an_unknown_model_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--sim", "door", "--model", str(tmp_path / "missing"), "--out", str(tmp_path)]) == 2
    assert "error" in capsys.readouterr().err
