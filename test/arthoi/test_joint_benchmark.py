"""The joint optimisation ablation (Table 5's "Joint Opt.") runs and returns both the part's
motion and the hand; the benchmark manifest round-trips and the ablation variants are valid."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from arthoi_scenes import CFG, scene_with_hand

from hoi_ros.arthoi.benchmark import (
    DEFAULT_MANIFEST,
    TABLE5_VARIANTS,
    ablation_variants,
    apply_changes,
    load_manifest,
    load_manifest_dict,
    make_manifest,
    save_manifest,
    select,
)
from hoi_ros.arthoi.config import ArtHOIConfig
from hoi_ros.arthoi.pipeline import run_arthoi


def test_joint_optimisation_returns_the_part_motion_and_the_hand() -> None:
    scene = scene_with_hand()
    cfg = ArtHOIConfig.from_dict({**CFG, "optimisation": "joint"})
    res = run_arthoi(scene, cfg)
    n = len(scene.video)
    assert res.stage1.transforms.shape == (n, 4, 4) and np.all(np.isfinite(res.stage1.transforms))
    assert res.hand.shape == (n, 21, 3) and np.all(np.isfinite(res.hand))
    assert np.abs(res.hand - scene.hand_estimate).max() > 1e-5  # the hand was optimised
    assert res.stage2 is None and res.timings["stage2_s"] == 0.0  # one stage: both at once
    moved = np.linalg.norm(res.stage1.transforms[1:, :3, :3] - np.eye(3), axis=(1, 2))
    assert moved.max() > 0.01  # and so was the part
    with pytest.raises(ValueError, match="optimisation"):
        ArtHOIConfig.from_dict({"optimisation": "both"})


def test_a_stage2_variant_reuses_stage1() -> None:
    scene = scene_with_hand()
    cfg = ArtHOIConfig.from_dict(CFG)
    full = run_arthoi(scene, cfg)
    no_k = run_arthoi(scene, apply_changes(cfg, ablation_variants()["w/o L_k"]), reuse=full)
    assert no_k.stage1 is full.stage1 and no_k.hand is not None


def test_manifest_round_trip(tmp_path: Path) -> None:
    manifest = make_manifest(["door", "drawer"], ["open", "close"], list(range(2001, 2005)))
    path = save_manifest(tmp_path / "m.json", manifest)
    episodes = load_manifest(path)
    assert [e.to_dict() for e in episodes] == manifest["episodes"]
    assert [e.seed for e in episodes] == [2001, 2002, 2003, 2004]
    task = episodes[0].task()
    assert task.camera_eye == tuple(episodes[0].camera["eye"]) and task.fps == 12.0
    assert [e.id for e in episodes] == ["door_open_s2001", "door_close_s2002", "drawer_close_s2003",
                                        "drawer_open_s2004"]  # the first action alternates per object
    assert [e.id for e in select(episodes, 1)] == ["door_open_s2001", "drawer_close_s2003"]
    again = make_manifest(["door", "drawer"], ["open", "close"], list(range(2001, 2005)))
    assert again == manifest  # the seed alone decides an episode
    broken = json.loads(path.read_text())
    del broken["episodes"][1]["camera"]
    with pytest.raises(ValueError, match=r"episodes\[1\]"):
        load_manifest_dict(broken)


def test_shipped_manifest_and_ablations() -> None:
    episodes = load_manifest(DEFAULT_MANIFEST)
    assert {(e.object, e.action) for e in episodes} == {(o, a) for o in ("door", "drawer", "cabinet", "lid", "fridge")
                                                        for a in ("open", "close")}
    assert min(e.seed for e in episodes) > 1000  # development used seed 0 only
    variants = ablation_variants()
    assert set(TABLE5_VARIANTS) <= set(variants)
    base = ArtHOIConfig()
    for name, change in variants.items():
        assert apply_changes(base, change) != base, name
    assert apply_changes(base, variants["joint"]).optimisation == "joint"
