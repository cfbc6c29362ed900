"""Episodes as training data: ``run_episode`` output (HOISequence + condition maps + ground
truth), the dataset writer (deterministic bytes for a seed, any worker count), its command with
progress bar and contact sheet (the torch loader is tested in test/data/)."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from hoi_ros.core.episodes import Episode, load_episode, load_manifest
from hoi_ros.core.geometry import quat_to_matrix
from hoi_ros.core.sequence import HOISequence
from hoi_ros.sim.dataset import DatasetConfig, main, write_dataset
from hoi_ros.sim.episode import EpisodeConfig, run_episode
from hoi_ros.sim.objects import make_object
from hoi_ros.sim.scene import LABEL_FIRST_OBJECT, LABEL_HAND
from hoi_ros.sim.tasks import TaskRequest, yaw_quat

TINY = EpisodeConfig(width=64, height=48, fps=5.0, num_object_points=40)


@cache
def _tool_episode() -> Episode:
    pin, plate = make_object("roller", "orange"), make_object("plate", "white")
    req = TaskRequest("tool_use", [pin, plate], [(np.array([0.0, 0.0, pin.rest_height]), yaw_quat(0.0)),
                                                 (np.array([0.25, 0.05, plate.rest_height]), yaw_quat(0.0))])
    return run_episode(req, EpisodeConfig(width=96, height=72, fps=8.0, num_object_points=298), seed=3)


def test_episode_holds_sequence_conditions_and_ground_truth() -> None:
    ep = _tool_episode()
    seq = ep.sequence
    t = seq.num_frames
    assert ep.success and isinstance(seq, HOISequence)
    assert seq.fps == pytest.approx(1.0 / (62 * 0.002))  # 8 fps, rounded to whole 2 ms physics steps
    assert seq.prompt == "pick up the orange rolling pin and sweep it over the white plate"
    assert seq.video.shape == (t, 72, 96, 3) and seq.hand_joints.shape == (t, 21, 3)
    assert ep.depth.shape == ep.segmentation.shape == (t, 72, 96) and ep.keypoint_map.shape == (t, 72, 96, 3)
    assert ep.object_poses.shape == (t, 2, 7) and ep.finger_angles.shape == (t, 20)
    # K = 298 object points split tool/target (SViMo §4), rigidly attached to their objects.
    assert seq.object_points.shape == (t, 298, 3)
    assert seq.object_point_labels.tolist() == [0] * 149 + [1] * 149
    for i, points in enumerate((seq.object_points[:, :149], seq.object_points[:, 149:])):
        pose = ep.object_poses[:, i]
        local = [(p - x[:3]) @ quat_to_matrix(x[3:]) for p, x in zip(points, pose)]  # into the body frame
        np.testing.assert_allclose(local, np.broadcast_to(local[0], (t, 149, 3)), atol=1e-5)
    assert np.ptp(ep.object_poses[:, 0, 2]) > 0.05  # ... while the tool moved
    # Every channel sees the hand and the tool.
    assert all((s == LABEL_HAND).any() and (s == LABEL_FIRST_OBJECT).any() for s in ep.segmentation)
    assert ep.keypoint_map.any(axis=(1, 2, 3)).all()
    assert seq.metadata["task"] == "tool_use" and seq.metadata["success"] is True
    assert set(ep.timings) == {"physics_s", "render_s", "ground_truth_s"}


def _tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_dataset_bytes_depend_only_on_the_seed(tmp_path: Path) -> None:
    cfg = DatasetConfig(tasks=("grasp_lift", "place"), episode=TINY)
    a = write_dataset(tmp_path / "a", 2, seed=11, cfg=cfg, progress=False)
    write_dataset(tmp_path / "b", 2, seed=11, cfg=cfg, workers=2, progress=False)  # other processes
    write_dataset(tmp_path / "c", 2, seed=12, cfg=cfg, progress=False)
    digest_a = _tree_digest(tmp_path / "a")
    assert set(digest_a) == {"manifest.json"} | {f"episodes/00000{i}{s}" for i in range(2)
                                                 for s in (".npz", ".mp4", "_cond.npz")}
    assert digest_a == _tree_digest(tmp_path / "b")
    digest_c = _tree_digest(tmp_path / "c")
    assert all(digest_a[k] != digest_c[k] for k in digest_a)
    # The manifest's checksums are the files' and it records what made them.
    manifest = load_manifest(tmp_path / "a")
    assert manifest["seed"] == 11 and manifest["config"] == cfg.to_dict() and len(a["timings"]) == 2
    for entry in manifest["episodes"]:
        for key, rel in entry["files"].items():
            assert entry["sha256"][key] == digest_a[rel]
        assert entry["task"] in ("grasp_lift", "place") and entry["prompt"]


def test_dataset_command_writes_progress_and_a_contact_sheet(tmp_path: Path, capsys) -> None:
    config = tmp_path / "ds.yaml"
    config.write_text(json.dumps({"tasks": ["push"], "cameras": ["ego"], "episode": TINY.to_dict()}))
    assert main([str(tmp_path / "out"), "-n", "2", "--seed", "4", "--config", str(config), "--width", "80",
                 "--sheet-episodes", "2"]) == 0
    out = capsys.readouterr()
    assert "episodes: 100%" in out.err and "2/2" in out.err  # the tqdm progress bar
    assert "wrote 2 episodes" in out.out
    from PIL import Image

    sheet = Image.open(tmp_path / "out" / "contact_sheet.png")
    assert sheet.height >= 2 * 4 * 48  # two episodes x (RGB, depth, segmentation, keypoints)
    manifest = load_manifest(tmp_path / "out")
    assert manifest["config"]["episode"]["width"] == 80 and manifest["config"]["cameras"] == ["ego"]
    ep = load_episode(tmp_path / "out", manifest["episodes"][0])
    assert ep.sequence.video.shape[1:] == (48, 80, 3) and ep.depth.dtype == np.float32
    with pytest.raises(SystemExit):
        main([str(tmp_path / "bad"), "-n", "1", "--tasks", "juggle"])
    assert "tasks:" in capsys.readouterr().err



def test_a_killed_worker_is_replaced_and_its_episode_retried_once(tmp_path: Path) -> None:
    from worker_faults import kill_worker_always, kill_worker_once

    from hoi_ros.sim.dataset import WorkerDied, episode_plan

    cfg = DatasetConfig(tasks=("push",), episode=TINY)
    write_dataset(tmp_path / "a", 2, seed=5, cfg=cfg, progress=False)
    write_dataset(tmp_path / "b", 2, seed=5, cfg=cfg, workers=2, progress=False, episode_job=kill_worker_once)
    assert (tmp_path / "b" / "killed_1").exists()  # the worker really was killed once
    digest_a, digest_b = _tree_digest(tmp_path / "a"), _tree_digest(tmp_path / "b")
    digest_b.pop("killed_1")
    assert digest_a == digest_b  # the retried episode is byte-identical
    with pytest.raises(WorkerDied) as info:
        write_dataset(tmp_path / "c", 2, seed=5, cfg=cfg, workers=2, progress=False, episode_job=kill_worker_always)
    sim_seed = episode_plan(5, 1, cfg)[2]
    assert f"episode 1 of dataset seed 5 (simulation seed {sim_seed}): its worker died twice (killed by SIGKILL)" \
        in str(info.value)


def test_distractors_add_an_unnamed_object_without_changing_the_other_draws() -> None:
    """``distractor_probability`` puts a bowl or plate beside that share of the one-object tasks;
    every other draw (task, object, colours, poses, angles) is the one of a dataset without them,
    and the configuration says so only when it is on."""
    from hoi_ros.sim.dataset import DISTRACTOR_TASKS, DISTRACTORS, episode_rng, sample_request
    from hoi_ros.sim.tasks import request_prompt

    with_them = [sample_request(episode_rng(0, i), distractor_probability=1.0) for i in range(40)]
    without = [sample_request(episode_rng(0, i)) for i in range(40)]
    extra = 0
    for a, b in zip(with_them, without):
        assert (a.task, a.objects[0].display_name, a.push_angle, a.rotate_angle) == \
            (b.task, b.objects[0].display_name, b.push_angle, b.rotate_angle)
        if a.task in DISTRACTOR_TASKS:
            extra += 1
            assert len(a.objects) == len(a.object_poses) == 2 and a.objects[1].name in DISTRACTORS
            assert abs(a.object_poses[1][0][0] - 0.25) <= 0.02  # where place/tool_use put their targets
            assert request_prompt(a) == request_prompt(b)
        else:
            assert len(a.objects) == len(b.objects)
    assert extra > 10
    half = [sample_request(episode_rng(0, i), distractor_probability=0.5) for i in range(200)]
    one_object_tasks = [r for r in half if r.task in DISTRACTOR_TASKS]
    assert 0.35 < sum(len(r.objects) == 2 for r in one_object_tasks) / len(one_object_tasks) < 0.65
    assert "distractor_probability" not in DatasetConfig().to_dict()
    assert DatasetConfig(distractor_probability=0.4).to_dict()["distractor_probability"] == 0.4
    with pytest.raises(ValueError, match=r"^distractor_probability"):
        DatasetConfig(distractor_probability=1.5)
