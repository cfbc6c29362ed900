"""run_arthoi stops within one frame / iteration when its cancel event is set, and an unset event
changes nothing (the /hoi/articulate action's cancellation)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from arthoi_scenes import CFG, scene_with_hand

from hoi_ros.arthoi.config import ArtHOIConfig
from hoi_ros.arthoi.pipeline import run_arthoi
from hoi_ros.core.generation import GenerationCancelled


def test_cancel_in_stage1_stops_within_a_frame_and_stage2_within_an_iteration() -> None:
    scene = scene_with_hand()
    cfg = ArtHOIConfig.from_dict(CFG)
    cancel = threading.Event()
    seen: list[tuple[str, int]] = []

    def progress(stage: str, step: int, steps: int, info: dict) -> None:
        seen.append((stage, step))
        if stage == "stage1" and step == 2:
            cancel.set()

    with pytest.raises(GenerationCancelled, match="Stage I"):
        run_arthoi(scene, cfg, progress, cancel)
    assert seen[-1] == ("stage1", 2)  # frame 3 never finished

    cancel2 = threading.Event()
    seen.clear()

    def progress2(stage: str, step: int, steps: int, info: dict) -> None:
        seen.append((stage, step))
        if stage == "stage2" and step > 0:
            cancel2.set()

    with pytest.raises(GenerationCancelled, match="Stage II"):
        run_arthoi(scene, cfg, progress2, cancel2)
    stage2 = [s for st, s in seen if st == "stage2"]
    assert stage2[-1] < cfg.stage2.iterations  # stopped before Stage II's end

    # Set before the start: nothing runs.
    seen.clear()
    with pytest.raises(GenerationCancelled):
        run_arthoi(scene, cfg, progress, cancel)
    assert seen == []


def test_an_unset_event_gives_the_same_result() -> None:
    scene = scene_with_hand()
    cfg = ArtHOIConfig.from_dict(CFG)
    plain = run_arthoi(scene, cfg)
    watched = run_arthoi(scene, cfg, cancel=threading.Event())
    np.testing.assert_array_equal(plain.stage1.transforms, watched.stage1.transforms)
    np.testing.assert_array_equal(plain.hand, watched.hand)
    np.testing.assert_array_equal(plain.joint.states, watched.joint.states)
