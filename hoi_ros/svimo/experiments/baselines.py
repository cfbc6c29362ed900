"""Baselines of the embedded default's evaluation (SViMo Table 2 and Table 3 at small scale).

- :class:`MotionDiffusion` — the **MDM-like motion-only diffusion** of Table 2 (Tevet et al.,
  "Human Motion Diffusion Model"): an x₀-predicting transformer denoiser of the 3D motion
  ``(h, o)`` conditioned on the prompt only, **without vision**. It is VID's denoiser (§3.4, Eq. 6:
  per frame one hand token and one object token, timestep embedding, self-attention, cross-attention,
  FFN, linear x₀ heads; :mod:`hoi_ros.svimo.vid`) with the visual memory replaced by the prompt's
  MiniLM token features (projected to ``d_model``), so the comparison with SViMo isolates what
  vision adds. SViMo §4.3 notes that MDM compresses image + text through CLIP into one 512-d vector;
  cross-attention to all text tokens is the stronger text conditioning, i.e. a stronger baseline.
  Same motion normalisation (``(p − offset)/scale``), noise schedule (Eq. 1), loss (App. B.2,
  Eq. 12 + 13), data, batch size, learning rate and step count as SViMo's training, and the same
  sampler (Eq. 3 / DDIM with x₀ estimates) at evaluation.
- :func:`static_baseline` — the trivial baseline: the **ground-truth first frame held still** (hand
  pose, object points and video frame repeated over all frames). It is given the true 3D state of
  frame 0, which no generative model receives (they see one RGB image).
- SViMo **w/o VID** (Table 3) is not a new model: it is SViMo trained by the same recipe with the
  ``loop:`` switches off (:class:`hoi_ros.svimo.config.LoopConfig`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from hoi_ros.core.config import dataclass_from_dict
from hoi_ros.svimo.losses import vid_loss
from hoi_ros.svimo.vid import _DenoiserLayer, _sincos, timestep_embedding


@dataclass
class MDMConfig:
    """Sizes of the MDM-like baseline (``baselines.mdm`` of ``config/recipes/svimo_*.yaml``)."""

    num_joints: int = 21
    num_object_points: int = 128
    num_frames: int = 17
    text_embed_dim: int = 384
    d_model: int = 192
    num_layers: int = 4
    num_heads: int = 4
    ff_mult: int = 4
    dropout: float = 0.0
    time_embed_dim: int = 128
    coord_scale: float = 0.1
    coord_offset: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])

    def __post_init__(self) -> None:
        for name in ("num_joints", "num_object_points", "num_frames", "text_embed_dim", "d_model", "num_layers",
                     "num_heads", "ff_mult", "time_embed_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"mdm.{name}: must be a positive integer, got {value!r}")
        if self.d_model % self.num_heads:
            raise ValueError(f"mdm.d_model: {self.d_model} is not divisible by num_heads {self.num_heads}")
        if self.num_object_points % 2:
            raise ValueError(f"mdm.num_object_points: must be even (App. B.2 halves), got {self.num_object_points}")
        if len(self.coord_offset) != 3 or not float(self.coord_scale) > 0:
            raise ValueError("mdm.coord_offset/coord_scale: 3 numbers and a positive scale")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> MDMConfig:
        return dataclass_from_dict(cls, data, "mdm")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class MotionDiffusion(nn.Module):
    """MDM-like x₀ denoiser ``(ĥ₀, ô₀) = M(h_t, o_t, P, t)`` (see the module docstring)."""

    def __init__(self, cfg: MDMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.text_proj = nn.Linear(cfg.text_embed_dim, d)
        self.text_norm = nn.LayerNorm(d)
        self.hand_in = nn.Linear(cfg.num_joints * 3, d)
        self.obj_in = nn.Linear(cfg.num_object_points * 3, d)
        self.type_embed = nn.Parameter(torch.zeros(2, d))
        self.time_mlp = nn.Sequential(nn.Linear(cfg.time_embed_dim, d), nn.SiLU(), nn.Linear(d, d))
        self.layers = nn.ModuleList(
            _DenoiserLayer(d, cfg.num_heads, cfg.ff_mult, cfg.dropout) for _ in range(cfg.num_layers)
        )
        self.norm_out = nn.LayerNorm(d)
        self.hand_out = nn.Linear(d, cfg.num_joints * 3)
        self.obj_out = nn.Linear(d, cfg.num_object_points * 3)
        self.register_buffer("coord_offset", torch.tensor(cfg.coord_offset, dtype=torch.float32), persistent=False)
        self.gradient_checkpointing = False

    def to_diffusion(self, points: torch.Tensor) -> torch.Tensor:
        """Metres → diffusion space (the same normalisation as VID)."""
        return (points - self.coord_offset.to(points)) / self.cfg.coord_scale

    def from_diffusion(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.cfg.coord_scale + self.coord_offset.to(x)

    def forward(self, hand_t: torch.Tensor, obj_t: torch.Tensor, text_embeds: torch.Tensor,
                timestep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``hand_t [B,T,J,3]``, ``obj_t [B,T,K,3]`` (diffusion space), ``text_embeds [B,L,d_text]``,
        ``timestep [B]`` → x₀ estimates of the same shapes."""
        b, t = hand_t.shape[:2]
        if hand_t.shape[2:] != (self.cfg.num_joints, 3) or obj_t.shape != (b, t, self.cfg.num_object_points, 3):
            raise ValueError(f"hand_t/obj_t: got {tuple(hand_t.shape)} and {tuple(obj_t.shape)}")
        timestep = timestep.reshape(-1).expand(b) if timestep.numel() == 1 else timestep.reshape(b)
        memory = self.text_norm(self.text_proj(text_embeds.float()))
        temb = self.time_mlp(timestep_embedding(timestep, self.cfg.time_embed_dim))
        pos = _sincos(torch.arange(t, device=hand_t.device), self.cfg.d_model)
        hand_tok = self.hand_in(hand_t.reshape(b, t, -1)) + self.type_embed[0]
        obj_tok = self.obj_in(obj_t.reshape(b, t, -1)) + self.type_embed[1]
        x = torch.cat([hand_tok + pos, obj_tok + pos], dim=1) + temb[:, None]
        for layer in self.layers:
            if self.gradient_checkpointing and torch.is_grad_enabled():
                x = checkpoint(layer, x, memory, use_reentrant=False)
            else:
                x = layer(x, memory)
        x = self.norm_out(x)
        return (self.hand_out(x[:, :t]).reshape(b, t, self.cfg.num_joints, 3),
                self.obj_out(x[:, t:]).reshape(b, t, self.cfg.num_object_points, 3))


@dataclass
class MDMTrainResult:
    """What :func:`train_mdm` returns."""

    checkpoint: Path
    loss_log: Path
    steps: int
    seconds: float
    last: dict[str, float]


def build_mdm(cfg: MDMConfig, seed: int) -> MotionDiffusion:
    """A seeded :class:`MotionDiffusion`."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MotionDiffusion(cfg)


def train_mdm(
    cfg: MDMConfig,
    samples: list[dict[str, Any]],
    text_features: Callable[[list[str]], torch.Tensor],
    alphas_cumprod: torch.Tensor,
    out_dir: str | Path,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int = 0,
    max_grad_norm: float = 1.0,
    log_every: int = 10,
    progress: bool = True,
) -> MDMTrainResult:
    """Train the MDM-like baseline on ``samples`` (``hand``, ``obj``, ``prompt``) for ``steps`` steps.

    One CPU generator seeded with ``seed`` draws batches, timesteps t ~ U{0..T−1} and ε (Eq. 1);
    the loss is ``L_VID`` of App. B.2 (Eq. 12 + 13) on the x₀ estimates, as for VID. Writes
    ``out_dir/mdm.safetensors`` (+ ``mdm_config.json``) and ``out_dir/loss_log.jsonl``.
    """
    from safetensors.torch import save_file
    from tqdm.auto import tqdm

    from hoi_ros.core.io import atomic_path
    from hoi_ros.svimo.train_step import diffuse

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    model = build_mdm(cfg, seed).train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed * 1000003 + 7)
    prompts = sorted({s["prompt"] for s in samples})
    feats = dict(zip(prompts, text_features(prompts)))
    hands = torch.stack([s["hand"] for s in samples]).float()
    objs = torch.stack([s["obj"] for s in samples]).float()
    texts = torch.stack([feats[s["prompt"]] for s in samples]).float()
    log_path = out / "loss_log.jsonl"
    log_path.write_text("")
    num_t = len(alphas_cumprod)
    last: dict[str, float] = {}
    bar = tqdm(total=steps, desc="mdm train", disable=not progress)
    for step in range(1, steps + 1):
        idx = torch.randint(0, len(samples), (batch_size,), generator=gen)
        h0, o0 = model.to_diffusion(hands[idx]), model.to_diffusion(objs[idx])
        t = torch.randint(0, num_t, (batch_size,), generator=gen)
        eh = torch.randn(h0.shape, generator=gen)
        eo = torch.randn(o0.shape, generator=gen)
        hp, op = model(diffuse(h0, eh, t, alphas_cumprod), diffuse(o0, eo, t, alphas_cumprod), texts[idx], t)
        losses = vid_loss(hp, op, h0, o0)
        losses["vid"].backward()
        if max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
        last = {"loss": float(losses["vid"].detach()), "l_hand": float(losses["hand"].detach()),
                "l_obj": float(losses["object"].detach())}
        if not math.isfinite(last["loss"]):
            raise FloatingPointError(f"mdm loss is {last['loss']} at step {step}")
        bar.update(1)
        bar.set_postfix(loss=f"{last['loss']:.4g}")
        if step % log_every == 0 or step == steps:
            with log_path.open("a") as f:
                f.write(json.dumps({"step": step, **last, "time": time.time()}) + "\n")
    bar.close()
    ckpt = out / "mdm.safetensors"
    with atomic_path(ckpt) as tmp:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp),
                  metadata={"trained": "true", "steps": str(steps), "mdm_config": json.dumps(cfg.to_dict())})
    (out / "mdm_config.json").write_text(json.dumps(cfg.to_dict(), indent=1))
    return MDMTrainResult(checkpoint=ckpt, loss_log=log_path, steps=steps, seconds=time.time() - start, last=last)


def load_mdm(path: str | Path) -> MotionDiffusion:
    """A trained :class:`MotionDiffusion` from :func:`train_mdm`'s safetensors (config in its header)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        cfg = MDMConfig.from_dict(json.loads(meta["mdm_config"]))
        state = {k: f.get_tensor(k) for k in f.keys()}
    model = MotionDiffusion(cfg)
    model.load_state_dict(state, strict=True)
    return model.eval().requires_grad_(False)


@torch.no_grad()
def sample_mdm(model: MotionDiffusion, text_embeds: torch.Tensor, sampler_cfg: Any, generator: torch.Generator,
               num_inference_steps: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Reverse diffusion (Eq. 3, or DDIM) of (h, o) from noise with the x₀ estimates of ``model``;
    the same schedulers as SViMo's sampler (:func:`hoi_ros.svimo.sampling.build_scheduler`).
    Returns hand ``[B,T,J,3]`` and object points ``[B,T,K,3]`` in metres."""
    from diffusers import DDIMScheduler

    from hoi_ros.diffusion.schedulers import build_scheduler

    c = model.cfg
    b = text_embeds.shape[0]
    steps = int(num_inference_steps or sampler_cfg.num_inference_steps)
    scheds = [build_scheduler(sampler_cfg) for _ in range(2)]
    for s in scheds:
        s.set_timesteps(steps)
    hand = torch.randn((b, c.num_frames, c.num_joints, 3), generator=generator)
    obj = torch.randn((b, c.num_frames, c.num_object_points, 3), generator=generator)
    for t in scheds[0].timesteps:
        tt = t.reshape(1).long().expand(b)
        h0, o0 = model(hand, obj, text_embeds, tt)
        new = []
        for sched, x0, z in zip(scheds, (h0, o0), (hand, obj)):
            if isinstance(sched, DDIMScheduler):
                new.append(sched.step(x0, t, z, eta=sampler_cfg.eta, generator=generator).prev_sample)
            else:
                new.append(sched.step(x0, t, z, generator=generator).prev_sample)
        hand, obj = new
    return model.from_diffusion(hand), model.from_diffusion(obj)


def static_baseline(hand: torch.Tensor, obj: torch.Tensor, video: torch.Tensor | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The ground-truth first frame repeated over all frames (``[B, T, ...]`` tensors)."""
    def hold(x: torch.Tensor) -> torch.Tensor:
        return x[:, :1].expand_as(x).clone()

    return hold(hand), hold(obj), None if video is None else hold(video)


def task_templates(tasks: list[str], hands: torch.Tensor) -> dict[str, torch.Tensor]:
    """The mean hand path ``[T, J, 3]`` of each task over training episodes (``hands [N, T, J, 3]``)."""
    out: dict[str, torch.Tensor] = {}
    for task in sorted(set(tasks)):
        idx = [i for i, t in enumerate(tasks) if t == task]
        out[task] = hands[idx].double().mean(0).float()
    return out


def template_baseline(templates: dict[str, torch.Tensor], tasks: list[str], obj: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """The per-task template: each episode's hand is its (true) task's mean training path, the object
    its ground-truth first frame held still (no model; it knows the task, which SViMo reads from text).
    A task no training episode had gets the mean of the task paths."""
    if not templates:
        raise ValueError("templates: empty (no training episodes)")
    overall = torch.stack(list(templates.values())).mean(0)
    hand = torch.stack([templates.get(t, overall) for t in tasks])
    return hand, obj[:, :1].expand_as(obj).clone()
