"""Training (App. A, Alg. 1) on the tiny config: the closed-loop step, overfitting one batch, exact
resumption, sim and precomputed data, and two-process DDP (gloo) keeping the ranks identical."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors import safe_open
from safetensors.torch import load_file

from hoi_ros.svimo.config import LoopConfig, SViMoConfig
from hoi_ros.svimo.data import build_dataset
from hoi_ros.svimo.losses import LossWeights
from hoi_ros.svimo.train import TrainConfig, build_models, check_sample, load_train_config, train
from hoi_ros.svimo.train_step import SViMoTrainModule, draw_noise, scale_grad

ROOT = Path(__file__).resolve().parents[2]
TINY_TRAIN = ROOT / "config/recipes/svimo_train_tiny_synthetic.yaml"


def tiny(tmp: Path, **overrides) -> tuple[TrainConfig, SViMoConfig]:
    base = {"output_dir": str(tmp), "log_every": 1, "num_threads": 1}
    return load_train_config(TINY_TRAIN, {**base, **overrides})


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def tensors(path: Path) -> dict[str, torch.Tensor]:
    """A safetensors file's tensors, or a trained model folder's under the train module's names."""
    from hoi_ros.svimo.weights import svimo_tensors

    return svimo_tensors(path) if path.is_dir() else load_file(str(path))


# ---------------------------------------------------------------------- the step itself
@pytest.fixture(scope="module")
def step_inputs(make_step_inputs) -> dict:
    return make_step_inputs((200, 700))


def _module(step_inputs: dict, loop: LoopConfig) -> SViMoTrainModule:
    model_cfg = SViMoConfig.from_dict({**step_inputs["model_cfg"].to_dict(), "loop": vars(loop)})
    dit, vid = build_models(model_cfg, step_inputs["cfg"])
    return SViMoTrainModule(dit, vid, model_cfg, LossWeights())


def _run(module: SViMoTrainModule, step_inputs: dict, warmup: bool, guidance_fn=None) -> dict:
    b = step_inputs["batch"]
    return module(step_inputs["latents"], b["hand"], b["obj"], step_inputs["noise"], warmup, guidance_fn)


def test_guidance_reaches_the_dit_and_gradient_constraint_reaches_g(step_inputs: dict, monkeypatch) -> None:
    """Alg. 1 lines 6-9: z̃₀ᴹ from VID (no grad) is what G_θ receives; ω₂·L_VID's gradient reaches
    G_θ only through the gradient constraint; guidance off gives zeros and never calls Proj/VAE."""
    full = _module(step_inputs, LoopConfig())
    seen: dict[str, torch.Tensor] = {}
    marker = torch.full((2, 3, 4, 4, 6), 0.25)

    def guidance_fn(hand: torch.Tensor, obj: torch.Tensor) -> torch.Tensor:
        seen["hand"] = hand
        return marker

    dit_inputs: list[tuple] = []
    monkeypatch.setattr(full.dit, "forward", lambda *a, _f=full.dit.forward: dit_inputs.append(a) or _f(*a))
    losses = _run(full, step_inputs, warmup=False, guidance_fn=guidance_fn)
    assert seen["hand"].shape == (2, 9, 21, 3) and not seen["hand"].requires_grad
    torch.testing.assert_close(dit_inputs[0][3], marker)  # the guidance latent argument of G_θ
    assert set(losses) >= {"loss", "l_svimo", "l_vid", "l_hand", "l_obj"}
    torch.testing.assert_close(losses["loss"], losses["l_svimo"] + 0.05 * losses["l_vid"])

    def dit_grad_of_vid_loss(module: SViMoTrainModule, fn) -> float:
        module.zero_grad(set_to_none=True)
        _run(module, step_inputs, warmup=False, guidance_fn=fn)["l_vid"].backward()
        return sum(float(p.grad.abs().sum()) for p in module.dit.parameters() if p.grad is not None)

    assert dit_grad_of_vid_loss(full, guidance_fn) > 0
    detached = _module(step_inputs, LoopConfig(interaction_guidance=False, gradient_constraint=False))
    assert dit_grad_of_vid_loss(detached, None) == 0
    assert all(p.grad is not None for p in detached.vid.hand_out.parameters())  # VID still learns its readout
    with pytest.raises(ValueError, match="guidance_fn"):
        _run(full, step_inputs, warmup=False)
    dit_inputs.clear()
    off = _module(step_inputs, LoopConfig(interaction_guidance=False, gradient_constraint=True))
    monkeypatch.setattr(off.dit, "forward", lambda *a, _f=off.dit.forward: dit_inputs.append(a) or _f(*a))
    _run(off, step_inputs, warmup=False, guidance_fn=lambda h, o: pytest.fail("guidance computed while off"))
    assert not dit_inputs[0][3].any()


def test_motion_noise_moves_only_the_named_vid_calls(step_inputs: dict, monkeypatch) -> None:
    """loop_motion_noise: the named VID calls see (h_s, o_s, s) with s ≥ t; the others (h_t, o_t, t)."""
    b = step_inputs["batch"]
    g = torch.Generator().manual_seed(3)
    lat = step_inputs["latents"]
    noise = draw_noise(g, 1000, lat["video_latents"].shape, lat["motion_latents"].shape, b["hand"].shape,
                       b["obj"].shape, motion_noise=True)
    assert noise.s is not None and bool((noise.s >= noise.t).all()) and bool((noise.s <= 999).all())
    assert noise.eps_hand_s.shape == b["hand"].shape and noise.eps_obj_s.shape == b["obj"].shape
    plain = draw_noise(torch.Generator().manual_seed(3), 1000, lat["video_latents"].shape,
                       lat["motion_latents"].shape, b["hand"].shape, b["obj"].shape)
    torch.testing.assert_close(plain.eps_obj, noise.eps_obj)  # the paper's draws come first, unchanged
    noise.t, noise.s = torch.tensor([200, 700]), torch.tensor([900, 700])
    for paths, expect in ((("guidance",), [900, 200]), (("readout",), [200, 900]), ((), [200, 200])):
        model_cfg = step_inputs["model_cfg"]
        dit, vid = build_models(model_cfg, step_inputs["cfg"])
        module = SViMoTrainModule(dit, vid, model_cfg, LossWeights(), motion_noise_paths=paths)
        levels: list[int] = []
        monkeypatch.setattr(module.vid, "forward",
                            lambda *a, _f=module.vid.forward, _l=levels: _l.append(int(a[-1][0])) or _f(*a))
        module(lat, b["hand"], b["obj"], noise, False, lambda h, o: torch.zeros(2, 3, 4, 4, 6))
        assert levels == expect, paths
    with pytest.raises(ValueError, match="unknown"):
        SViMoTrainModule(dit, vid, model_cfg, LossWeights(), motion_noise_paths=("video",))
    with pytest.raises(ValueError, match="motion_noise=True"):
        SViMoTrainModule(dit, vid, model_cfg, LossWeights(), motion_noise_paths=("readout",))(
            lat, b["hand"], b["obj"], step_inputs["noise"], False, lambda h, o: torch.zeros(2, 3, 4, 4, 6))
    with pytest.raises(ValueError, match="loop_motion_noise"):
        tiny(Path("/nonexistent"), loop_motion_noise=["everything"])


def test_constraint_paths_and_scale_shape_only_the_constraints_gradient_into_g(step_inputs: dict) -> None:
    """Line 9's gradient into G_θ is linear in λ, splits into its video and motion paths, and λ = 0 is the
    switch off; VID's own gradient is the same in every case; λ = 1 on both paths is the plain tensor."""
    b, lat, model_cfg = step_inputs["batch"], step_inputs["latents"], step_inputs["model_cfg"]
    dit, vid = build_models(model_cfg, step_inputs["cfg"])

    def grads(paths: tuple[str, ...], lam: float) -> tuple[torch.Tensor, torch.Tensor]:
        module = SViMoTrainModule(dit, vid, model_cfg, LossWeights(), constraint_paths=paths)
        module.zero_grad(set_to_none=True)
        module(lat, b["hand"], b["obj"], step_inputs["noise"], False, lambda h, o: torch.zeros(2, 3, 4, 4, 6),
               constraint_scale=lam)["l_vid"].backward()

        def flat(params) -> torch.Tensor:
            return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten() for p in params])

        return flat(dit.parameters()), flat(vid.parameters())

    both = ("video", "motion")
    g_full, v_full = grads(both, 1.0)
    assert g_full.abs().sum() > 0
    for paths, lam in ((both, 0.5), (both, 0.0), (("video",), 1.0), (("motion",), 1.0), ((), 1.0)):
        g, v = grads(paths, lam)
        torch.testing.assert_close(v, v_full)  # VID learns its readout the same way
        if paths == both:
            torch.testing.assert_close(g, lam * g_full, rtol=1e-5, atol=1e-9)
    g_video, _ = grads(("video",), 1.0)
    g_motion, _ = grads(("motion",), 1.0)
    assert g_video.abs().sum() > 0 and g_motion.abs().sum() > 0
    torch.testing.assert_close(g_video + g_motion, g_full, rtol=1e-4, atol=1e-8)
    assert float(grads((), 1.0)[0].abs().sum()) == 0.0
    x = torch.ones(3, requires_grad=True)
    assert scale_grad(x, 1.0) is x and not scale_grad(x, 0.0).requires_grad
    with pytest.raises(ValueError, match="constraint_scale"):
        grads(both, 1.5)
    with pytest.raises(ValueError, match="constraint_paths"):
        SViMoTrainModule(dit, vid, model_cfg, LossWeights(), constraint_paths=("audio",))


def test_constraint_ramp_is_linear_over_the_joint_phase() -> None:
    cfg, _ = tiny(Path("/nonexistent"), warmup_steps=5, joint_steps=10, constraint_ramp_steps=4)
    assert [cfg.constraint_scale(s) for s in (5, 6, 8, 9, 14)] == [0.25, 0.5, 1.0, 1.0, 1.0]
    plain, _ = tiny(Path("/nonexistent"), warmup_steps=5, joint_steps=10)
    assert plain.constraint_scale(5) == 1.0 and plain.constraint_paths == ["video", "motion"]
    with pytest.raises(ValueError, match="constraint_paths"):
        tiny(Path("/nonexistent"), constraint_paths=["audio"])
    with pytest.raises(ValueError, match="constraint_ramp_steps"):
        tiny(Path("/nonexistent"), constraint_ramp_steps=-1)


def test_guidance_dropout_zeroes_the_marked_samples_guidance_only(step_inputs: dict, monkeypatch) -> None:
    """guidance_dropout: the marked samples' z̃₀ᴹ reaches G_θ as zeros, the others' unchanged; the mask is
    drawn last, so the paper's draws (and the motion-noise draws) are the same with it on."""
    b, lat = step_inputs["batch"], step_inputs["latents"]
    shapes = (lat["video_latents"].shape, lat["motion_latents"].shape, b["hand"].shape, b["obj"].shape)
    plain = draw_noise(torch.Generator().manual_seed(5), 1000, *shapes, motion_noise=True)
    noise = draw_noise(torch.Generator().manual_seed(5), 1000, *shapes, motion_noise=True, guidance_dropout=0.5)
    assert plain.drop_guidance is None and noise.drop_guidance is not None and noise.drop_guidance.shape == (2,)
    for name in ("t", "eps_video", "eps_obj", "s", "eps_obj_s"):
        torch.testing.assert_close(getattr(plain, name), getattr(noise, name))
    always = draw_noise(torch.Generator().manual_seed(5), 1000, *shapes, guidance_dropout=0.999999)
    assert bool(always.drop_guidance.all())
    module = _module(step_inputs, LoopConfig())
    seen: list[torch.Tensor] = []
    monkeypatch.setattr(module.dit, "forward", lambda *a, _f=module.dit.forward: seen.append(a[3]) or _f(*a))
    marker = torch.full((2, 3, 4, 4, 6), 0.25)
    step_inputs["noise"].drop_guidance = torch.tensor([True, False])
    try:
        _run(module, step_inputs, warmup=False, guidance_fn=lambda h, o: marker)
    finally:
        step_inputs["noise"].drop_guidance = None
    assert not seen[0][0].any()
    torch.testing.assert_close(seen[0][1], marker[1])
    with pytest.raises(ValueError, match="guidance_dropout"):
        tiny(Path("/nonexistent"), guidance_dropout=1.0)


def test_warmup_trains_vid_only(step_inputs: dict) -> None:
    module = _module(step_inputs, LoopConfig())
    losses = _run(module, step_inputs, warmup=True)
    assert set(losses) == {"loss", "l_vid", "l_hand", "l_obj"}
    losses["loss"].backward()
    assert all(p.grad is None for p in module.dit.parameters())
    assert all(p.grad is not None for p in module.vid.parameters())


# ---------------------------------------------------------------------- whole runs
def test_guidance_switches_leave_a_run_without_guidance_unchanged(tmp_path: Path) -> None:
    """w/o VID has no guidance call and no gradient constraint: ``loop_motion_noise: [guidance]``,
    ``guidance_dropout`` and the constraint's shaping must not change its run (the recipe shares one
    ``train:`` section between the shipped model and its ablation)."""
    model = load_train_config(TINY_TRAIN)[1].to_dict()
    model["loop"] = {"interaction_guidance": False, "gradient_constraint": False}
    common = {"model": model, "data": {"kind": "synthetic", "num_samples": 2}, "batch_size": 1,
              "warmup_steps": 1, "joint_steps": 3, "checkpoint_every": 1000}
    logs = []
    for name, extra in (("plain", {}), ("noised", {"loop_motion_noise": ["guidance"]}),
                        ("dropout", {"guidance_dropout": 0.5}),
                        ("shaped", {"constraint_paths": ["video"], "constraint_ramp_steps": 2})):
        cfg, model_cfg = tiny(tmp_path / name, **extra, **common)
        res = train(cfg, model_cfg, resume=None)
        logs.append([{k: v for k, v in e.items() if k != "time"} for e in read_log(res.loss_log)])
    assert len(logs[0]) == 4 and logs[0] == logs[1] == logs[2] == logs[3]


def test_guidance_dropout_reaches_a_run_with_guidance(tmp_path: Path) -> None:
    """``train`` hands ``guidance_dropout`` to the joint steps of a run with the loop on: the warm-up
    logs the same losses, the joint phase different ones."""
    common = {"data": {"kind": "synthetic", "num_samples": 2}, "batch_size": 2, "warmup_steps": 1,
              "joint_steps": 2, "checkpoint_every": 1000}
    logs = []
    for name, p in (("plain", 0.0), ("dropout", 0.5)):
        cfg, model_cfg = tiny(tmp_path / name, guidance_dropout=p, **common)
        logs.append(read_log(train(cfg, model_cfg, resume=None).loss_log))
    assert logs[0][0]["loss"] == logs[1][0]["loss"]
    assert [e["loss"] for e in logs[0][1:]] != [e["loss"] for e in logs[1][1:]]


def test_one_batch_overfits(tmp_path: Path) -> None:
    """One sample, batch 1, 300 joint steps: the loss falls by more than 10x (t and ε stay random)."""
    cfg, model_cfg = tiny(tmp_path, data={"kind": "synthetic", "num_samples": 1}, batch_size=1, warmup_steps=0,
                          joint_steps=300, lr=3e-3, checkpoint_every=1000)
    result = train(cfg, model_cfg, resume=None)
    log = read_log(result.loss_log)
    assert len(log) == 300 and result.final_checkpoint is not None
    first = np.mean([e["loss"] for e in log[:10]])
    final = np.mean([e["loss"] for e in log[-20:]])
    assert final < first / 10, (first, final)
    vid_first, vid_final = np.mean([e["l_vid"] for e in log[:10]]), np.mean([e["l_vid"] for e in log[-20:]])
    assert vid_final < vid_first / 3, (vid_first, vid_final)
    from hoi_ros.diffusion.components import checkpoint_metadata

    assert result.final_checkpoint.is_dir()  # a diffusers-style folder (model_index.json + components)
    meta = checkpoint_metadata(result.final_checkpoint)
    assert meta["trained"] == "true" and meta["steps"] == "300" and meta["variant"] == "SViMo w/ VID"
    assert SViMoConfig.from_dict(yaml.safe_load(meta["model_config"])) == model_cfg


def test_resume_is_exact(tmp_path: Path) -> None:
    """Stopping after 3 steps and resuming gives the same weights, optimizer state and losses as 6
    uninterrupted steps (2 warm-up + 4 joint; the checkpoint falls in the joint phase)."""
    kw = dict(warmup_steps=2, joint_steps=4, checkpoint_every=3, batch_size=2)
    cfg_a, model_cfg = tiny(tmp_path / "a", **kw)
    train(cfg_a, model_cfg, resume=None)
    cfg_b, _ = tiny(tmp_path / "b", **kw)
    assert train(cfg_b, model_cfg, resume=None, max_steps=3).final_checkpoint is None
    result = train(cfg_b, model_cfg, resume="auto")
    assert result.step == 6
    a, b = tensors(tmp_path / "a/model"), tensors(tmp_path / "b/model")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    oa = tensors(tmp_path / "a/checkpoints/step_00000006/optimizer.safetensors")
    ob = tensors(tmp_path / "b/checkpoints/step_00000006/optimizer.safetensors")
    assert oa.keys() == ob.keys() and all(torch.equal(oa[k], ob[k]) for k in oa)
    la, lb = read_log(tmp_path / "a/loss_log.jsonl"), read_log(tmp_path / "b/loss_log.jsonl")
    assert [e["step"] for e in lb] == list(range(1, 7))
    assert [e["loss"] for e in la] == [e["loss"] for e in lb]
    assert [e["phase"] for e in la] == ["warmup"] * 2 + ["joint"] * 4
    # The weights moved away from the initialisation, and the generator samples from them.
    init = build_models(model_cfg, cfg_a)[0].state_dict()
    assert not torch.equal(init["proj_out.weight"], a["dit.proj_out.weight"])
    from hoi_ros.core import GenerationRequest
    from hoi_ros.svimo.pipeline import SViMoGenerator

    gen = SViMoGenerator(model_cfg, checkpoint=tmp_path / "a/model")
    assert torch.equal(gen.dit.proj_out.weight, a["dit.proj_out.weight"])
    image = (np.random.default_rng(0).random((16, 24, 3)) * 255).astype(np.uint8)
    seq = gen.generate(GenerationRequest(image=image, prompt="lift the ball", num_frames=9, num_inference_steps=1,
                                         seed=0, guidance_scale=1.0))
    assert seq.metadata["weights_trained"] is True and seq.hand_joints.shape == (9, 21, 3)


def test_a_finished_run_extended_to_a_longer_joint_phase_equals_the_longer_run(tmp_path: Path) -> None:
    """A run that finished (2 warm-up + 2 joint steps), resumed with joint_steps raised to 4, ends with
    the weights and losses of a 2 + 4 run from scratch (constant rates): how a longer recipe continues
    the shorter one's checkpoints."""
    long_cfg, model_cfg = tiny(tmp_path / "long", warmup_steps=2, joint_steps=4, checkpoint_every=2, batch_size=2)
    train(long_cfg, model_cfg, resume=None)
    short_cfg, _ = tiny(tmp_path / "ext", warmup_steps=2, joint_steps=2, checkpoint_every=2, batch_size=2)
    assert train(short_cfg, model_cfg, resume=None).step == 4
    more_cfg, _ = tiny(tmp_path / "ext", warmup_steps=2, joint_steps=4, checkpoint_every=2, batch_size=2)
    assert train(more_cfg, model_cfg, resume="auto").step == 6
    a, b = tensors(tmp_path / "long/model"), tensors(tmp_path / "ext/model")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    la, lb = read_log(tmp_path / "long/loss_log.jsonl"), read_log(tmp_path / "ext/loss_log.jsonl")
    assert [e["step"] for e in lb] == list(range(1, 7)) and [e["loss"] for e in la] == [e["loss"] for e in lb]


def test_cosine_schedule_decays_within_each_phase() -> None:
    """lr_schedule cosine: both rates start each phase (warm-up, joint) at their value and fall along a
    half cosine to lr_min_ratio of it; constant leaves them; unknown names and ratios are refused."""
    cfg, _ = tiny(Path("/nonexistent"), warmup_steps=4, joint_steps=8, lr_schedule="cosine")
    assert [round(cfg.lr_scale(s), 6) for s in (0, 2, 4, 8)] == [1.0, 0.5, 1.0, 0.5]
    assert cfg.lr_scale(3) == pytest.approx(0.5 * (1 + np.cos(np.pi * 3 / 4)))
    floor, _ = tiny(Path("/nonexistent"), warmup_steps=0, joint_steps=8, lr_schedule="cosine", lr_min_ratio=0.2)
    assert floor.lr_scale(0) == 1.0 and floor.lr_scale(4) == pytest.approx(0.6)
    assert min(floor.lr_scale(s) for s in range(8)) > 0.2
    plain, _ = tiny(Path("/nonexistent"), warmup_steps=4, joint_steps=8)
    assert plain.lr_schedule == "constant" and {plain.lr_scale(s) for s in range(12)} == {1.0}
    with pytest.raises(ValueError, match="lr_schedule"):
        tiny(Path("/nonexistent"), lr_schedule="linear")
    with pytest.raises(ValueError, match="lr_min_ratio"):
        tiny(Path("/nonexistent"), lr_schedule="cosine", lr_min_ratio=1.5)


def test_cosine_schedule_reaches_the_optimizer_and_resumes_exactly(tmp_path: Path) -> None:
    """The scheduled rates are the ones the optimizer steps with (its checkpointed groups), a run resumed
    mid-phase matches the uninterrupted one (the checkpoint's scaled rates are not taken as the base),
    and the weights differ from the constant schedule's."""
    kw = dict(warmup_steps=2, joint_steps=4, checkpoint_every=4, batch_size=2, lr=1e-3, vid_lr=2e-3)
    cfg_a, model_cfg = tiny(tmp_path / "a", lr_schedule="cosine", **kw)
    train(cfg_a, model_cfg, resume=None)
    groups = json.loads((tmp_path / "a/checkpoints/step_00000006/optimizer.json").read_text())["param_groups"]
    scale = 0.5 * (1 + np.cos(np.pi * 3 / 4))  # the last update: joint step 3 of 4
    assert [g["lr"] for g in groups] == pytest.approx([1e-3 * scale, 2e-3 * scale])
    cfg_b, _ = tiny(tmp_path / "b", lr_schedule="cosine", **kw)
    train(cfg_b, model_cfg, resume=None, max_steps=4)  # stops after joint step 2 of 4 (rates at 85 %)
    train(cfg_b, model_cfg, resume="auto")
    a, b = tensors(tmp_path / "a/model"), tensors(tmp_path / "b/model")
    assert all(torch.equal(a[k], b[k]) for k in a)
    cfg_c, _ = tiny(tmp_path / "c", **kw)
    train(cfg_c, model_cfg, resume=None)
    c = tensors(tmp_path / "c/model")
    assert not torch.equal(a["dit.proj_out.weight"], c["dit.proj_out.weight"])


def test_stable_decay_keeps_the_rates_then_falls_linearly_at_the_end() -> None:
    """lr_schedule stable_decay: 1 through the warm-up and the joint phase until its last lr_decay_steps,
    then a straight line from 1 towards lr_min_ratio; a decay without steps, or longer than the joint
    phase, is refused."""
    cfg, _ = tiny(Path("/nonexistent"), warmup_steps=4, joint_steps=8, lr_schedule="stable_decay", lr_decay_steps=4)
    assert [cfg.lr_scale(s) for s in range(12)] == pytest.approx([1.0] * 8 + [1.0, 0.75, 0.5, 0.25])
    floor, _ = tiny(Path("/nonexistent"), warmup_steps=0, joint_steps=8, lr_schedule="stable_decay",
                    lr_decay_steps=2, lr_min_ratio=0.2)
    assert [floor.lr_scale(s) for s in (5, 6, 7)] == pytest.approx([1.0, 1.0, 0.6])
    for bad in (dict(lr_schedule="stable_decay"), dict(lr_decay_steps=2),
                dict(lr_schedule="stable_decay", lr_decay_steps=9, joint_steps=8)):
        with pytest.raises(ValueError, match="lr_decay_steps"):
            tiny(Path("/nonexistent"), **bad)


def test_a_constant_rate_checkpoint_continued_with_a_final_decay_equals_the_decayed_run(tmp_path: Path) -> None:
    """A constant-rate run stopped where the decay would begin (2 + 2 steps), continued with joint_steps
    4 and a 2-step stable_decay, ends with the weights of that schedule trained from scratch, and the
    decayed weights differ from the constant-rate run's: how the shipped runs get their final decay."""
    kw = dict(warmup_steps=2, checkpoint_every=2, batch_size=2, lr=1e-3, vid_lr=2e-3)
    decayed_cfg, model_cfg = tiny(tmp_path / "decayed", joint_steps=4, lr_schedule="stable_decay",
                                  lr_decay_steps=2, **kw)
    train(decayed_cfg, model_cfg, resume=None)
    groups = json.loads((tmp_path / "decayed/checkpoints/step_00000006/optimizer.json").read_text())["param_groups"]
    assert [g["lr"] for g in groups] == pytest.approx([0.5e-3, 1e-3])  # the last update: k = 1 of N = 2
    assert [e["lr_scale"] for e in read_log(tmp_path / "decayed/loss_log.jsonl")] == [1.0] * 4 + [1.0, 0.5]
    short_cfg, _ = tiny(tmp_path / "ext", joint_steps=2, **kw)
    train(short_cfg, model_cfg, resume=None)
    more_cfg, _ = tiny(tmp_path / "ext", joint_steps=4, lr_schedule="stable_decay", lr_decay_steps=2, **kw)
    assert train(more_cfg, model_cfg, resume="auto").step == 6
    a, b = tensors(tmp_path / "decayed/model"), tensors(tmp_path / "ext/model")
    assert all(torch.equal(a[k], b[k]) for k in a)
    constant_cfg, _ = tiny(tmp_path / "constant", joint_steps=4, **kw)
    train(constant_cfg, model_cfg, resume=None)
    c = tensors(tmp_path / "constant/model")
    assert not torch.equal(a["dit.proj_out.weight"], c["dit.proj_out.weight"])


def test_sim_dataset_and_latent_cache(tmp_path: Path) -> None:
    """Training reads the simulator's dataset (hoi_ros.sim) at the model's size, and the offline
    latent cache built from it (data.kind latents)."""
    from hoi_ros.sim.dataset import DatasetConfig, write_dataset
    from hoi_ros.sim.episode import EpisodeConfig
    from hoi_ros.svimo.train import main, precompute

    root = tmp_path / "sim"
    episode = EpisodeConfig(width=48, height=32, fps=8.0, num_object_points=16, depth=False, segmentation=False)
    write_dataset(root, 1, seed=3, cfg=DatasetConfig(episode=episode), progress=False)
    sim = {"kind": "sim", "path": str(root), "only_successful": False}
    cfg, model_cfg = tiny(tmp_path / "run", data=sim, warmup_steps=1, joint_steps=1, batch_size=1)
    sample = build_dataset(cfg.data, model_cfg)[0]
    check_sample(sample, model_cfg)
    assert sample["video"].shape == (9, 16, 24, 3) and sample["video"].dtype == torch.uint8
    result = train(cfg, model_cfg, resume=None)
    assert result.step == 2 and np.isfinite(result.last["loss"])
    cache = precompute(cfg, model_cfg, tmp_path / "latents")
    with safe_open(str(cache / "00000000.safetensors"), framework="pt") as f:
        assert f.get_tensor("video_latents").shape == (3, 4, 4, 6)
        assert f.metadata()["prompt"] == sample["prompt"]
    train_yaml = tmp_path / "latents.yaml"
    train_yaml.write_text(yaml.safe_dump({
        "model": str(ROOT / "config/models/svimo/tiny_for_tests.yaml"), "data": {"kind": "latents", "path": str(cache)},
        "warmup_steps": 0, "joint_steps": 2, "batch_size": 1, "num_threads": 1, "log_every": 1,
    }))
    assert main(["--config", str(train_yaml), "--output", str(tmp_path / "from_cache"), "--no-resume"]) == 0
    assert len(read_log(tmp_path / "from_cache/loss_log.jsonl")) == 2
    with pytest.raises(ValueError, match="num_object_points"):
        check_sample(sample, SViMoConfig.from_dict({**model_cfg.to_dict(), "vid": {
            **model_cfg.vid.to_dict(), "num_object_points": 32}}))


def test_two_process_ddp_keeps_ranks_identical(tmp_path: Path) -> None:
    """accelerate launch, 2 CPU processes, DDP over gloo: the ranks draw different batches and noise
    (their losses differ) and end with bit-identical weights."""
    train_yaml = tmp_path / "ddp.yaml"
    train_yaml.write_text(yaml.safe_dump({
        "model": str(ROOT / "config/models/svimo/tiny_for_tests.yaml"), "data": {"kind": "synthetic", "num_samples": 4},
        "output_dir": str(tmp_path / "run"), "batch_size": 1, "warmup_steps": 1, "joint_steps": 3, "lr": 3e-3,
        "log_every": 1, "checkpoint_every": 100, "num_threads": 1, "save_rank_weights": True,
    }))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
           str(ROOT / "config/accelerate/ddp_cpu_2proc.yaml"), "--main_process_port", str(free_port()),
           "-m", "hoi_ros.svimo.train", "--config", str(train_yaml), "--no-resume"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["world_size"] == 2 and summary["step"] == 4
    r0, r1 = tensors(tmp_path / "run/final_rank0.safetensors"), tensors(tmp_path / "run/final_rank1.safetensors")
    assert r0.keys() == r1.keys() and len(r0) > 100
    assert all(torch.equal(r0[k], r1[k]) for k in r0)
    log = read_log(tmp_path / "run/loss_log.jsonl")
    assert any(abs(e["loss"] - e["loss_mean_ranks"]) > 1e-6 for e in log)  # rank 1 saw other data
    cfg, model_cfg = load_train_config(train_yaml)
    init = build_models(model_cfg, cfg)[0].state_dict()
    assert not torch.equal(init["proj_out.weight"], r0["dit.proj_out.weight"])


def test_accelerate_configs_parse_and_train_configs_load() -> None:
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.utils import DeepSpeedPlugin

    zero3 = load_config_from_file(str(ROOT / "config/accelerate/zero3_paper.yaml"))
    assert zero3.distributed_type == "DEEPSPEED"
    # The DeepSpeed file it names exists (relative to the repository root, where it is launched) and is
    # ZeRO-3 with the 16-bit gather every checkpoint needs; bf16 follows the training config ("auto").
    ds_file = ROOT / zero3.deepspeed_config["deepspeed_config_file"]
    assert ds_file.is_file()
    # accelerate refuses these beside a DeepSpeed file (launch: "will be ignored")
    assert not {"zero_stage", "gradient_accumulation_steps", "mixed_precision"} & set(zero3.deepspeed_config)
    assert zero3.mixed_precision in (None, "no")
    plugin = DeepSpeedPlugin(hf_ds_config=str(ds_file), zero3_init_flag=zero3.deepspeed_config["zero3_init_flag"])
    plugin.set_mixed_precision("bf16")
    assert plugin.zero_stage == 3 and plugin.deepspeed_config["bf16"]["enabled"] is True
    assert plugin.deepspeed_config["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"]
    req = (ROOT / "requirements/train.txt").read_text()
    assert "deepspeed==" in req and "deepspeed" not in (ROOT / "requirements/core.txt").read_text()
    for name in ("ddp_cpu_2proc", "ddp_gpu"):
        assert load_config_from_file(str(ROOT / f"config/accelerate/{name}.yaml")).distributed_type == "MULTI_GPU"
    s1, m1 = load_train_config(ROOT / "config/recipes/svimo_train_paper_stage1.yaml")
    s2, m2 = load_train_config(ROOT / "config/recipes/svimo_train_paper_stage2.yaml")
    assert (m1.video.height, m1.video.width, m2.video.height, m2.video.width) == (240, 368, 416, 624)
    assert (s1.warmup_steps, s1.joint_steps, s2.joint_steps) == (5000, 30000, 5000)  # §4.2
    assert (s1.w_svimo, s1.w_vid) == (1.0, 0.05) and s1.mixed_precision == "bf16" and s1.gradient_checkpointing
    assert m1.dit == m2.dit and m1.dit.num_tokens(13, 30, 46) == 9196
    with pytest.raises(ValueError, match="unknown field"):
        load_train_config(TINY_TRAIN, {"warmup": 3})
