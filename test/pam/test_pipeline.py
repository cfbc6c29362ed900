"""PAMPipeline: sim request → conditions → first frame → video, through the generator seam."""

from __future__ import annotations

import dataclasses
import threading
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch

from hoi_ros.core.camera import Camera
from hoi_ros.core.generation import GenerationCancelled, Generator, RequestError
from hoi_ros.core.sequence import HOISequence
from hoi_ros.pam.conditions import SUBSETS
from hoi_ros.pam.config import load_config
from hoi_ros.pam.pipeline import PAMPipeline, PAMRequest, request_from_sim

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")
TINY = load_config(Path(__file__).resolve().parents[2] / "config/models/pam/tiny_for_tests.yaml")
T, H, W = TINY.clip.num_frames, TINY.clip.height, TINY.clip.width


@cache
def _pipeline() -> PAMPipeline:
    pipe = PAMPipeline.from_config(TINY, default_steps=2)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # stands in for trained ControlNets: the zero projections become non-zero
        for cn in (pipe.image_model.controlnet, pipe.video_model.controlnet):
            for p in cn.parameters():
                p.add_(0.2 * torch.randn(p.shape, generator=g))
    return pipe


def _request(seed: int = 0, subset: str = "all", steps: int = 2) -> PAMRequest:
    rng = np.random.default_rng(0)
    cam = Camera.from_fov(W, H, 50.0)
    seq = HOISequence(hand_joints=rng.normal(size=(T, 21, 3)).astype(np.float32),
                      object_points=rng.normal(size=(T, 8, 3)).astype(np.float32), camera=cam, fps=8.0,
                      prompt="grasp the mug")
    depth = rng.uniform(0.3, 0.9, size=(T, H, W)).astype(np.float32)
    seg = rng.integers(0, 3, size=(T, H, W))
    kmap = rng.integers(0, 255, size=(T, H, W, 3), dtype=np.uint8)
    return PAMRequest(depth=depth, segmentation=seg, keypoint_map=kmap, sequence=seq, prompt="grasp the mug",
                      num_frames=T, num_inference_steps=steps, seed=seed, condition_subset=subset)


def test_pipeline_is_a_generator_with_shapes_and_per_seed_determinism() -> None:
    pipe = _pipeline()
    assert isinstance(pipe, Generator)
    a, b, c = (pipe.generate(_request(seed=s)) for s in (3, 3, 4))
    assert a.video is not None and a.video.shape == (T, H, W, 3) and a.video.dtype == np.uint8
    assert np.array_equal(a.video, b.video) and not np.array_equal(a.video, c.video)
    assert a.num_frames == T and a.metadata["generator"] == "pam" and a.metadata["condition_subset"] == "all"
    assert a.metadata["weights_trained"] is False  # random bases, fresh ControlNets: labelled untrained


def test_condition_subsets_switch_the_conditions() -> None:
    pipe = _pipeline()
    videos = {s: pipe.generate(_request(subset=s)).video for s in SUBSETS}
    assert len({v.tobytes() for v in videos.values()}) == len(SUBSETS)


def test_progress_and_cancel() -> None:
    pipe = _pipeline()
    seen: list[tuple[str, int, int]] = []
    pipe.generate(_request(steps=3), progress=lambda *a: seen.append(a))
    stages = [s for s, _, _ in seen]
    assert stages[0] == "encoding" and stages[-1] == "decoding"
    assert [(st, tot) for s, st, tot in seen if s == "denoising"] == [(i, 6) for i in range(7)]
    cancel = threading.Event()

    def stop(stage: str, step: int, total: int) -> None:
        if stage == "denoising" and step == 1:
            cancel.set()

    with pytest.raises(GenerationCancelled):
        pipe.generate(_request(steps=3), progress=stop, cancel=cancel)


def test_bad_requests_are_answered_by_field() -> None:
    pipe = _pipeline()
    bad_depth = _request().depth.copy()
    bad_depth[0, 0, 0] = np.nan
    cases = {
        "depth": dataclasses.replace(_request(), depth=bad_depth),
        "condition_subset": _request(subset="rgb"),
        "keypoint_map": dataclasses.replace(_request(), keypoint_map=np.zeros((T, H, W), np.uint8)),
        "num_frames": dataclasses.replace(_request(), num_frames=T + 4),
        "prompt": dataclasses.replace(_request(), prompt=" "),
    }
    for field, req in cases.items():
        with pytest.raises(RequestError) as err:
            pipe.generate(req)
        assert err.value.field == field


def test_sim_request_to_video() -> None:
    from hoi_ros.sim.request import build_request

    req = request_from_sim(build_request("grasp_lift", "the green mug"), TINY, num_inference_steps=1, seed=1)
    assert req.depth.shape == (T, H, W) and req.keypoint_map.shape == (T, H, W, 3)
    assert req.segmentation.max() >= 1 and req.prompt
    out = _pipeline().generate(req)
    assert out.video.shape == (T, H, W, 3) and out.camera.width == W and out.fps == TINY.clip.fps
    assert np.array_equal(out.hand_joints, req.sequence.hand_joints)


def test_generate_command_writes_sequence_video_and_contact_sheet(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from PIL import Image

    from hoi_ros.pam.generate import main

    cfg = str(Path(__file__).resolve().parents[2] / "config/models/pam/tiny_for_tests.yaml")
    stem = tmp_path / "mug"
    assert main(["--model", cfg, "--task", "grasp_lift", "--object", "the green mug", "--output", str(stem),
                 "--steps", "1"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    seq = HOISequence.load(report["sequence"])
    assert seq.video.shape == (T, H, W, 3) and stem.with_suffix(".mp4").is_file()
    assert Image.open(report["sheet"]).size == (T * W, 5 * H)  # 3 conditions, generated, ground truth
    assert main(["--model", cfg, "--task", "grasp_lift", "--object", "a unicorn", "--output", str(stem)]) == 2
    assert "object" in capsys.readouterr().err


def _tiny_flux_vae(folder: Path) -> Path:
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(8, 8, 8, 8),
                        layers_per_block=1, latent_channels=TINY.image.condition_latent_channels, norm_num_groups=4,
                        scaling_factor=0.3611, shift_factor=0.1159)
    vae.save_pretrained(folder, safe_serialization=True)
    return folder


def test_flux_image_vae_from_a_local_folder(tmp_path: Path) -> None:
    from hoi_ros.pam.image_vae import ImageVAE

    vae = ImageVAE(str(_tiny_flux_vae(tmp_path / "vae")))
    frames = torch.randint(0, 255, (2, 1, H, W, 3), dtype=torch.uint8)
    z = vae.encode(frames)
    assert z.shape == (2, 1, TINY.image.condition_latent_channels, H // 8, W // 8)
    raw = vae.model.encode(frames[:, 0].permute(0, 3, 1, 2).float() / 127.5 - 1.0).latent_dist.mode()
    torch.testing.assert_close(z[:, 0], (raw - 0.1159) * 0.3611)
    assert vae.decode(z).shape == (2, 1, H, W, 3)
    with pytest.raises(ValueError, match=r"image\.vae_path"):
        ImageVAE(str(tmp_path / "missing"))
    cfg = dataclasses.replace(TINY, image=dataclasses.replace(TINY.image, vae_path=str(tmp_path / "vae")))
    pipe = PAMPipeline.from_config(cfg)
    assert isinstance(pipe.image_vae, ImageVAE) and pipe.image_vae is not pipe.vae
    assert pipe.generate(_request(steps=1)).video.shape == (T, H, W, 3)


def test_flux_pooled_clip_text_from_a_local_folder(tmp_path: Path) -> None:
    import shutil

    from transformers import CLIPTextConfig, CLIPTextModel

    from hoi_ros.diffusion.text import bundled_minilm_path
    from hoi_ros.pam.pooled_text import PooledTextEncoder

    # A shape-correct random CLIP text model (16 wide) with the bundled tokenizer's vocabulary.
    torch.manual_seed(0)
    CLIPTextModel(CLIPTextConfig(vocab_size=30522, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                 num_attention_heads=2, max_position_embeddings=77)).save_pretrained(
        tmp_path / "text_encoder", safe_serialization=True)
    (tmp_path / "tokenizer").mkdir()
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(bundled_minilm_path() / name, tmp_path / "tokenizer" / name)
    enc = PooledTextEncoder(str(tmp_path))
    assert enc.encode(["grasp the mug", "push the ball"]).shape == (2, 16)
    image = dataclasses.replace(TINY.image, transformer={**TINY.image.transformer, "pooled_projection_dim": 16})
    with pytest.raises(ValueError, match="pooled"):  # 16-wide Flux pooled input, no CLIP: refused by name
        PAMPipeline.from_config(dataclasses.replace(TINY, image=image))
    pipe = PAMPipeline.from_config(dataclasses.replace(
        TINY, image=dataclasses.replace(image, pooled_text_path=str(tmp_path))))
    assert pipe.pooled_text is not None
    assert pipe.generate(_request(steps=1)).video.shape == (T, H, W, 3)


def test_seam_condition_request_from_a_sim_request() -> None:
    from hoi_ros.core.generation import ConditionRequest

    pipe = _pipeline()
    assert pipe.request_type is ConditionRequest
    seen: list[str] = []
    req = ConditionRequest(source={"task": "grasp_lift", "object": "the green mug"}, num_frames=0,
                           num_inference_steps=1, seed=2, prompt="grasp the green mug", conditions="depth+seg")
    out = pipe.generate(req, progress=lambda stage, step, total: seen.append(stage))
    assert out.video.shape == (T, H, W, 3) and out.metadata["condition_subset"] == "depth+seg"
    assert seen[0] == "rendering" and "denoising" in seen and seen[-1] == "decoding"


def test_seam_bad_sources_are_answered_by_field(tmp_path: Path) -> None:
    from hoi_ros.core.generation import ConditionRequest

    pipe = _pipeline()

    def field(source: dict | str, conditions: str = "all") -> str:
        with pytest.raises(RequestError) as err:
            pipe.generate(ConditionRequest(source=source, num_frames=T, num_inference_steps=1, seed=0,
                                           conditions=conditions))
        return err.value.field

    assert field({"task": "grasp_lift", "object": "a unicorn"}) == "source.object"
    nan_pose = ((float("nan"), 0.0, 0.03), (1.0, 0.0, 0.0, 0.0))
    assert field({"task": "grasp_lift", "object": "mug", "object_pose": nan_pose}) == "source.object_pose.position"
    assert field({"task": "grasp_lift", "object": "mug", "colour": "red"}) == "source"
    assert field(str(tmp_path / "missing.npz"), "hand") == "source"
    seq_file = _request().sequence.save(tmp_path / "poses")
    assert field(str(seq_file)) == "conditions"  # a pose file gives the keypoint map only
    out = pipe.generate(ConditionRequest(source=str(seq_file), num_frames=T, num_inference_steps=1, seed=0,
                                         conditions="hand"))
    assert out.video.shape == (T, H, W, 3)


def test_a_graspxl_trajectory_through_a_mano_model_gives_the_hand_condition(tmp_path: Path) -> None:
    from body_model_fakes import random_mano_arrays

    from hoi_ros.core.generation import ConditionRequest

    mano = tmp_path / "mano_right.npz"
    np.savez(mano, **random_mano_arrays())  # a shape-correct random MANO written here, none shipped
    rng = np.random.default_rng(3)
    quat = rng.normal(size=(6, 4))
    traj = tmp_path / "grasp.npz"
    np.savez(traj, hand_pose=rng.normal(scale=0.2, size=(6, 45)), global_orient=rng.normal(scale=0.3, size=(6, 3)),
             transl=np.tile([0.0, 0.0, 0.1], (6, 1)) + rng.normal(scale=0.01, size=(6, 3)),
             object_position=np.zeros((6, 3)), object_quat_wxyz=quat / np.linalg.norm(quat, axis=1, keepdims=True),
             object_name=np.array("box"), fps=np.array(8.0))
    pipe = _pipeline()
    req = ConditionRequest(source=str(traj), num_frames=0, num_inference_steps=1, seed=0, conditions="hand")
    with pytest.raises(RequestError, match="mano_model_path"):
        pipe.generate(req)
    pipe.mano_model_path = str(mano)
    try:
        out = pipe.generate(req)
    finally:
        pipe.mano_model_path = None  # the pipeline is shared by this module's tests
    assert out.video.shape == (T, H, W, 3) and out.hand_joints.shape == (T, 21, 3)
    assert np.isfinite(out.hand_joints).all() and out.object_points.shape[0] == T
