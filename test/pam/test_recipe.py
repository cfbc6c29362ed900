"""The small PAM's recipe end to end on the tiny config: data, cache, four stages, shipped folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import yaml

from hoi_ros.core.generation import ConditionRequest
from hoi_ros.pam.config import build_video_base, load_config
from hoi_ros.pam.pipeline import PAMPipeline
from hoi_ros.pam.recipe import PAMRecipe, run_recipe

ROOT = Path(__file__).resolve().parents[2]


def write_recipe(tmp_path: Path) -> Path:
    recipe = {
        "output_dir": str(tmp_path / "out"),
        "model": str(ROOT / "config/models/pam/tiny_for_tests.yaml"),
        "threads": 1,
        "parallel": True,
        "data": {"config": str(ROOT / "config/recipes/sim_dataset_pam_small.yaml"), "workers": 1,
                 "train": {"seed": 0, "episodes": 2}, "val": {"seed": 1000, "episodes": 1},
                 "test": {"seed": 2000, "episodes": 1}},
        "stages": {s: {"steps": 2, "batch_size": 1, "save_every": 1}
                   for s in ("image_base", "image", "video_base", "video")},
        "ship": {"models_dir": str(tmp_path / "models" / "pam_test")},
    }
    file = tmp_path / "recipe.yaml"
    file.write_text(yaml.safe_dump(recipe))
    return file


def test_recipe_trains_every_stage_and_ships_a_folder_the_pipeline_loads(tmp_path: Path) -> None:
    result = run_recipe(write_recipe(tmp_path))
    folder = Path(result["shipped"])
    for part in ("vae", "image_transformer", "image_controlnet", "video_transformer", "video_controlnet"):
        assert (folder / part / "config.json").is_file(), part
        assert list((folder / part).glob("*.safetensors")), part
    assert not list(folder.rglob("*.bin")) and not list(folder.rglob("*.pt"))
    info = json.loads((folder / "training.json").read_text())
    assert set(info["stages"]) == {"image_base", "image", "video_base", "video"}
    out = tmp_path / "out" / "runs"
    # The ControlNet stages trained on the trained bases: their copied blocks are the trained base's.
    from safetensors.torch import load_file

    base = load_file(next((out / "video_base" / "transformer").glob("*.safetensors")))
    fresh = build_video_base(load_config(ROOT / "config/models/pam/tiny_for_tests.yaml").video).state_dict()
    trained = {k: v for k, v in base.items() if k.startswith("transformer_blocks.0.")}
    assert any(not torch.equal(v, fresh[k]) for k, v in trained.items())
    pipe = PAMPipeline.from_pretrained(folder)
    assert pipe.weights_trained
    for k, v in trained.items():  # shipped in float16, loaded as float32
        assert torch.equal(pipe.video_model.base.state_dict()[k], v.half().float()), k
    stored = load_file(next((folder / "video_transformer").glob("*.safetensors")))
    assert not any(t.dtype == torch.float32 for t in stored.values())  # float32 weights stored as float16
    assert sum(t.dtype == torch.float16 for t in stored.values()) > 10
    req = ConditionRequest(source={"task": "push", "object": "box"}, num_frames=0, num_inference_steps=2, seed=0)
    seq = pipe.generate(req)
    assert seq.video is not None and seq.video.shape[0] == pipe.cfg.clip.num_frames
    assert np.isfinite(seq.hand_joints).all()
    # A rerun finds every stage done and ships the same weights.
    again = run_recipe(write_recipe(tmp_path))
    assert Path(again["shipped"]) == folder


def test_recipe_config_names_its_fields(tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(yaml.safe_dump({"stages": {"image": {}}, "learning": 1}))
    try:
        PAMRecipe.from_yaml(file)
    except ValueError as exc:
        assert "learning" in str(exc)
    else:
        raise AssertionError("an unknown field was accepted")
