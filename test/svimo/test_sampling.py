"""Alg. 2 sampling with the closed loop (Eq. 3, Eq. 7) and the SViMoGenerator, on the tiny config."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from hoi_ros.core import GenerationCancelled, GenerationRequest, HOIGenerator, HOISequence
from hoi_ros.diffusion.checkpointing import save_checkpoint
from hoi_ros.diffusion.image import prepare_image
from hoi_ros.diffusion.schedulers import SamplerConfig, build_scheduler
from hoi_ros.svimo.config import LoopConfig, SViMoConfig
from hoi_ros.svimo.pipeline import SViMoGenerator
from hoi_ros.svimo.sampling import SViMoSampler, project_motion

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "config/models/svimo/tiny_for_tests.yaml"


@pytest.fixture(scope="module")
def gen() -> SViMoGenerator:
    return SViMoGenerator.from_config(TINY)


def image(seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((40, 50, 3)) * 255).astype(np.uint8)


def request(**kw) -> GenerationRequest:
    base = dict(image=image(), prompt="pick up the spoon and stir the bowl", num_frames=9, num_inference_steps=3,
                seed=7, guidance_scale=1.0)
    return GenerationRequest(**{**base, **kw})


def conditions(gen: SViMoGenerator, scale: float = 1.0) -> dict:
    z_image = gen.vae.encode(prepare_image(image(), 16, 24)[None, None])
    text = gen.text_encoder.encode(["stir the bowl"])
    neg = gen.text_encoder.encode([""]) if scale > 1 else None
    return dict(image_latents=z_image, text_embeds=text, num_frames=9, negative_embeds=neg, guidance_scale=scale)


def sampler(gen: SViMoGenerator, loop: LoopConfig | None = None, **sampler_kw) -> SViMoSampler:
    cfg = dataclasses.replace(gen.cfg.sampler, **sampler_kw)
    return SViMoSampler(gen.dit, gen.vid, gen.vae, gen.camera, cfg, loop or gen.cfg.loop)


class Spy:
    """Records the arguments of every call of a module's forward / a bound method, then calls it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, obj: object, name: str) -> None:
        self.calls: list[tuple] = []
        self.results: list = []
        original = getattr(obj, name)

        def wrapper(*args, **kwargs):
            out = original(*args, **kwargs)
            self.calls.append(args)
            self.results.append(out)
            return out

        monkeypatch.setattr(obj, name, wrapper)


def test_ddpm_step_is_eq3() -> None:
    """The DDPM scheduler given x₀ computes the posterior of Eq. 3 (mean and variance)."""
    sched = build_scheduler(SamplerConfig(num_inference_steps=1000))
    sched.set_timesteps(1000)
    abar = sched.alphas_cumprod
    t = 500
    a_t = abar[t] / abar[t - 1]
    x0, zt = torch.randn(4, 5), torch.randn(4, 5)
    mean = (a_t.sqrt() * (1 - abar[t - 1]) / (1 - abar[t])) * zt + (abar[t - 1].sqrt() * (1 - a_t) / (1 - abar[t])) * x0
    var = (1 - abar[t - 1]) / (1 - abar[t]) * (1 - a_t)
    out = sched.step(x0, t, zt, generator=torch.Generator().manual_seed(0)).prev_sample
    noise = torch.randn((4, 5), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, mean + var.sqrt() * noise)
    assert abar[-1] == 0  # zero terminal SNR (CogVideoX-5B-I2V's schedule)


def test_sampling_deterministic_per_seed(gen: SViMoGenerator) -> None:
    s = sampler(gen, num_inference_steps=2)
    cond = conditions(gen)
    a = s.sample(**cond, generator=torch.Generator().manual_seed(1))
    b = s.sample(**cond, generator=torch.Generator().manual_seed(1))
    c = s.sample(**cond, generator=torch.Generator().manual_seed(2))
    for x, y, z in zip(
        (a.video_latents, a.motion_latents, a.hand, a.obj),
        (b.video_latents, b.motion_latents, b.hand, b.obj),
        (c.video_latents, c.motion_latents, c.hand, c.obj),
    ):
        assert torch.equal(x, y)
        assert not torch.allclose(x, z)
    assert a.video_latents.shape == (1, 3, 4, 4, 6) and a.hand.shape == (1, 9, 21, 3) and a.obj.shape == (1, 9, 16, 3)


def test_closed_loop_guidance_is_fed_to_the_dit(gen: SViMoGenerator, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every step: VID(zₜ) → Proj → VAE E → z̃₀ᴹ is exactly the guidance latent the DiT receives (Eq. 7),
    and VID then reads the motion from the DiT's x₀ outputs (Alg. 2 line 7)."""
    cond = conditions(gen)
    encode = Spy(monkeypatch, gen.vae, "encode")
    dit = Spy(monkeypatch, gen.dit, "forward")
    vid = Spy(monkeypatch, gen.vid, "forward")
    s = sampler(gen)
    s.sample(**cond, generator=torch.Generator().manual_seed(3))
    steps = gen.cfg.sampler.num_inference_steps
    assert len(dit.calls) == steps and len(vid.calls) == 2 * steps and len(encode.calls) == steps
    abar = build_scheduler(gen.cfg.sampler).alphas_cumprod
    guid = [call[3] for call in dit.calls]
    for i in range(steps):
        frames = encode.calls[i][0]
        assert frames.dtype == torch.uint8 and frames.shape == (1, 9, 16, 24, 3)
        assert frames.any(), "the rendered motion video is empty"
        # The frames are the projection of VID's estimate from the same step.
        hand0, obj0 = vid.results[2 * i]
        expect = project_motion(gen.vid.from_diffusion(hand0), gen.vid.from_diffusion(obj0), gen.camera, s.labels)
        assert torch.equal(frames, expect)
        torch.testing.assert_close(guid[i], encode.results[i])
        # VID's second call of the step sees the DiT's x₀ (through the v output).
        zv, zm, t = dit.calls[i][0], dit.calls[i][2], dit.calls[i][5]
        out_v = dit.results[i][0]
        x0v = abar[t].sqrt().view(-1, 1, 1, 1, 1) * zv - (1 - abar[t]).sqrt().view(-1, 1, 1, 1, 1) * out_v
        torch.testing.assert_close(vid.calls[2 * i + 1][2], x0v)
        assert not torch.equal(vid.calls[2 * i + 1][3], zm)
    assert not torch.allclose(guid[0], guid[1])


def test_guidance_follows_vid_output(gen: SViMoGenerator, monkeypatch: pytest.MonkeyPatch) -> None:
    """Shift VID's hand head: the guidance latent the DiT receives changes; switch guidance off: zeros,
    and the VAE is not called inside the loop."""
    cond = conditions(gen)

    def first_guidance(loop: LoopConfig) -> tuple[torch.Tensor, int]:
        dit = Spy(monkeypatch, gen.dit, "forward")
        encode = Spy(monkeypatch, gen.vae, "encode")
        sampler(gen, loop, num_inference_steps=1).sample(**cond, generator=torch.Generator().manual_seed(0))
        monkeypatch.undo()
        return dit.calls[0][3], len(encode.calls)

    base, n_enc = first_guidance(LoopConfig())
    assert n_enc == 1
    with torch.no_grad():
        gen.vid.hand_out.bias.add_(0.5)
    try:
        moved, _ = first_guidance(LoopConfig())
    finally:
        with torch.no_grad():
            gen.vid.hand_out.bias.sub_(0.5)
    assert not torch.allclose(base, moved)
    off, n_enc = first_guidance(LoopConfig(interaction_guidance=False, gradient_constraint=True))
    assert n_enc == 0 and not off.any()


def test_ddim_fast_sampler_and_cfg(gen: SViMoGenerator, monkeypatch: pytest.MonkeyPatch) -> None:
    cond = conditions(gen, scale=4.0)
    dit = Spy(monkeypatch, gen.dit, "forward")
    fast = sampler(gen, name="ddim", num_inference_steps=2)
    a = fast.sample(**cond, generator=torch.Generator().manual_seed(5))
    assert len(dit.calls) == 2 and dit.calls[0][0].shape[0] == 2  # CFG: [negative; prompt] in one batch
    b = fast.sample(**cond, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.video_latents, b.video_latents) and torch.equal(a.hand, b.hand)
    no_cfg = fast.sample(**{**cond, "guidance_scale": 1.0}, generator=torch.Generator().manual_seed(5))
    assert not torch.allclose(a.video_latents, no_cfg.video_latents)
    with pytest.raises(ValueError, match="negative_embeds"):
        fast.sample(**{**cond, "negative_embeds": None})


def test_generator_returns_a_sequence(gen: SViMoGenerator) -> None:
    assert isinstance(gen, HOIGenerator)
    assert gen.limits.max_frames == 9 and gen.limits.default_steps == 4
    stages: list[tuple[str, int, int]] = []
    seq = gen.generate(request(), progress=lambda *a: stages.append(a))
    assert isinstance(seq, HOISequence)
    assert seq.video.shape == (9, 16, 24, 3) and seq.video.dtype == np.uint8
    assert seq.hand_joints.shape == (9, 21, 3) and seq.object_points.shape == (9, 16, 3)
    assert seq.object_point_labels.tolist() == [0] * 8 + [1] * 8
    assert (seq.camera.width, seq.camera.height, seq.fps) == (24, 16, 8.0)
    assert seq.metadata["weights_trained"] is False and "untrained" in seq.metadata["weights"]
    assert [s for s in stages if s[0] == "denoising"] == [("denoising", i, 3) for i in (1, 2, 3)]
    assert stages[-1] == ("decoding", 1, 1)
    again = gen.generate(request())
    assert np.array_equal(seq.video, again.video) and np.array_equal(seq.hand_joints, again.hand_joints)
    other = gen.generate(request(seed=8))
    assert not np.array_equal(seq.hand_joints, other.hand_joints)
    short = gen.generate(request(num_frames=4, num_inference_steps=1))
    assert short.num_frames == 4 and short.video.shape[0] == 4 and short.metadata["generated_frames"] == 9


def test_generator_cancel_and_validation(gen: SViMoGenerator) -> None:
    cancel = threading.Event()
    seen: list[tuple] = []

    def progress(stage: str, step: int, total: int) -> None:
        seen.append((stage, step))
        if stage == "denoising" and step == 1:
            cancel.set()

    with pytest.raises(GenerationCancelled):
        gen.generate(request(num_inference_steps=5), progress=progress, cancel=cancel)
    assert ("denoising", 1) in seen and ("denoising", 2) not in seen
    with pytest.raises(ValueError, match="num_frames"):
        gen.generate(request(num_frames=10))
    with pytest.raises(ValueError, match="guidance_scale"):
        gen.generate(request(guidance_scale=0.5))
    with pytest.raises(ValueError, match="image"):
        gen.generate(request(image=np.zeros((8, 8), dtype=np.uint8)))


def test_generator_from_checkpoint(gen: SViMoGenerator, tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "svimo.safetensors", {"dit": gen.dit, "vid": gen.vid}, {"trained": "true"})
    loaded = SViMoGenerator(SViMoConfig.from_yaml(TINY), checkpoint=path)
    seq = loaded.generate(request(num_inference_steps=1))
    assert seq.metadata["weights_trained"] is True
    ref = gen.generate(request(num_inference_steps=1))
    assert np.array_equal(seq.hand_joints, ref.hand_joints)


def test_dpm_fast_sampler_runs_the_closed_loop(gen: SViMoGenerator, monkeypatch: pytest.MonkeyPatch) -> None:
    """sampler.name dpm (CogVideoX's DPM-Solver): the same schedule (ᾱ of Eq. 1), trailing timesteps,
    the guidance and the readout at every step, deterministic per seed, finite."""
    dpm = build_scheduler(SamplerConfig(name="dpm"))
    torch.testing.assert_close(dpm.alphas_cumprod[:-1].float(), build_scheduler(SamplerConfig()).alphas_cumprod[:-1])
    dpm.set_timesteps(5)
    assert dpm.timesteps.tolist() == [999, 799, 599, 399, 199]  # trailing spacing
    cond = conditions(gen)
    dit = Spy(monkeypatch, gen.dit, "forward")
    guidance = Spy(monkeypatch, gen.vae, "encode")
    fast = sampler(gen, name="dpm", num_inference_steps=3)
    a = fast.sample(**cond, generator=torch.Generator().manual_seed(5))
    assert len(dit.calls) == 3 and len(guidance.calls) == 3  # Alg. 2 lines 4-6 at each of the 3 steps
    b = fast.sample(**cond, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.video_latents, b.video_latents) and torch.equal(a.hand, b.hand)
    assert all(torch.isfinite(x).all() and x.dtype == torch.float32
               for x in (a.video_latents, a.motion_latents, a.hand, a.obj))
    ddim = sampler(gen, name="ddim", num_inference_steps=3).sample(**cond, generator=torch.Generator().manual_seed(5))
    assert not torch.allclose(a.video_latents, ddim.video_latents)


def test_given_motion_replaces_the_vid_guidance(gen: SViMoGenerator, monkeypatch: pytest.MonkeyPatch) -> None:
    """Table 3's "VModel w/ Pred. Mot.": with guidance_motion the DiT gets that motion's rendered latents
    at every step (encoded once) and VID's guidance call is not made."""
    cond = conditions(gen)
    s = sampler(gen, num_inference_steps=2)
    first = s.sample(**cond, generator=torch.Generator().manual_seed(3))
    hand, obj = first.hand, first.obj  # any (h, o) in metres: here one model's output
    dit = Spy(monkeypatch, gen.dit, "forward")
    enc = Spy(monkeypatch, gen.vae, "encode")
    monkeypatch.setattr("hoi_ros.svimo.sampling.interaction_guidance",
                        lambda *a, **k: pytest.fail("VID guidance computed"))
    out = s.sample(**cond, generator=torch.Generator().manual_seed(3), guidance_motion=(hand, obj))
    assert len(enc.calls) == 1 and len(dit.calls) == 2
    torch.testing.assert_close(dit.calls[0][3], enc.results[0].float())
    torch.testing.assert_close(dit.calls[1][3], enc.results[0].float())
    torch.testing.assert_close(out.guidance_latents, enc.results[0].float())
    off = sampler(gen, LoopConfig(interaction_guidance=False, gradient_constraint=False), num_inference_steps=2)
    with pytest.raises(ValueError, match="guidance_motion"):
        off.sample(**cond, guidance_motion=(hand, obj))
