"""Weights of G_θ: initialisation from CogVideoX-5B-I2V (§3.3, App. C.1) and SViMo checkpoints.

SViMo "extends a pretrained image-to-video foundation model": the video stream and every shared
weight (text projection, time embedding, attention, feed-forward, LayerNorms, the learned
positional table) load from a diffusers-format ``CogVideoXTransformer3DModel`` folder as they are.
The tensors SViMo adds (App. C.1: "the input and output projection layers, and triple modality
modulation modules") start as copies of their video-stream counterparts:

===========================================  ==============================================
SViMo tensor                                 source in CogVideoX-I2V
===========================================  ==============================================
``motion_patch_embed.{weight,bias}``         ``patch_embed.proj.{weight,bias}``
``transformer_blocks.i.motion_norm{1,2}.*``  rows ``[0, 3d)`` of ``transformer_blocks.i.norm{1,2}.linear.*``
                                             (the video shift, scale, gate; the text ones follow)
``motion_norm_out.*``                        ``norm_out.*``
``motion_proj_out.*``                        ``proj_out.*``
===========================================  ==============================================

Right after loading, G_θ computes CogVideoX's arithmetic on the token sequence ``[text; video; motion]``,
the motion tokens carrying the video tokens' positions frame by frame (tested against diffusers' forward
for a rotary-only model and, with ``dit.learned_text_positions: true``, for the learned table of
CogVideoX-5B-I2V; without that switch the table's text rows are not added and the model is not
CogVideoX's). A :class:`WeightReport` lists every tensor as loaded, copied
(with its source) or newly initialised, plus the checkpoint tensors left unused.

Only safetensors files are read (never pickles), only from a local folder.

Trained SViMo weights are a diffusers-style folder (:func:`save_svimo` / :func:`load_svimo`)::

    model_index.json                   components + the checkpoint metadata (trained, steps, variant, ...)
    transformer/config.json            G_θ (:class:`~hoi_ros.svimo.dit.SViMoTransformer`)
    transformer/diffusion_pytorch_model.safetensors
    vid/config.json                    M_φ (:class:`~hoi_ros.svimo.vid.VID`)
    vid/diffusion_pytorch_model.safetensors
    vae/...                            the VAE folder, when it ships with the weights

:func:`load_svimo` still reads the single-file checkpoint of earlier releases (``dit.*`` +
``vid.*`` in one safetensors file, :func:`hoi_ros.diffusion.checkpointing.save_checkpoint`) with a
``DeprecationWarning``; :func:`convert_checkpoint` turns one into a folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from hoi_ros.diffusion.checkpointing import load_checkpoint, load_prefixed
from hoi_ros.diffusion.components import (
    WEIGHTS_INDEX_NAME,
    WEIGHTS_NAME,
    checkpoint_metadata,
    is_component_folder,
    load_component,
    save_components,
)
from hoi_ros.svimo.dit import DiTConfig, SViMoTransformer
from hoi_ros.svimo.vid import VID, VIDConfig

# (config.json key, DiTConfig attribute or a callable of it) that must agree.
_CONFIG_CHECKS: tuple[tuple[str, str], ...] = (
    ("num_layers", "num_layers"),
    ("num_attention_heads", "num_attention_heads"),
    ("attention_head_dim", "attention_head_dim"),
    ("text_embed_dim", "text_embed_dim"),
    ("time_embed_dim", "time_embed_dim"),
    ("patch_size", "patch_size"),
    ("max_text_seq_length", "max_text_seq_length"),
    ("sample_frames", "sample_frames"),
    ("sample_height", "sample_height"),
    ("sample_width", "sample_width"),
    ("use_rotary_positional_embeddings", "use_rotary_positional_embeddings"),
    ("use_learned_positional_embeddings", "use_learned_positional_embeddings"),
    ("attention_bias", "attention_bias"),
)


@dataclass
class WeightReport:
    """What happened to every tensor of G_θ when it was initialised from a checkpoint."""

    source: str
    loaded: list[str] = field(default_factory=list)
    copied: dict[str, str] = field(default_factory=dict)  # SViMo name -> source name (+ row slice)
    new: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)  # checkpoint tensors SViMo does not use

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "loaded": self.loaded,
            "copied": self.copied,
            "new": self.new,
            "unused": self.unused,
        }

    def summary(self) -> str:
        return (
            f"{len(self.loaded)} loaded, {len(self.copied)} copied from the video stream, "
            f"{len(self.new)} newly initialised, {len(self.unused)} checkpoint tensors unused ({self.source})"
        )

    def to_text(self) -> str:
        """Every tensor, one a line: ``loaded NAME``, ``copied NAME <- SOURCE``, ``new NAME``."""
        lines = [self.summary()]
        lines += [f"loaded  {k}" for k in self.loaded]
        lines += [f"copied  {k} <- {v}" for k, v in self.copied.items()]
        lines += [f"new     {k}" for k in self.new]
        lines += [f"unused  {k}" for k in self.unused]
        return "\n".join(lines)


def copy_source(name: str, dim: int) -> tuple[str, slice | None] | None:
    """Source tensor (and row slice) a motion-stream tensor is copied from, or None if not motion.

    ``dim`` is the transformer width d (the modulation linear outputs 6d rows: shift, scale, gate of
    the video stream, then of the text stream; CogVideoXLayerNormZero's chunk order).
    """
    if name.startswith("motion_patch_embed."):
        return "patch_embed.proj." + name.split(".", 1)[1], None
    if name.startswith("motion_norm_out."):
        return "norm_out." + name.split(".", 1)[1], None
    if name.startswith("motion_proj_out."):
        return "proj_out." + name.split(".", 1)[1], None
    parts = name.split(".")
    if len(parts) == 5 and parts[0] == "transformer_blocks" and parts[2] in ("motion_norm1", "motion_norm2"):
        which = parts[2].removeprefix("motion_")
        return f"transformer_blocks.{parts[1]}.{which}.linear.{parts[4]}", slice(0, 3 * dim)
    return None


def _resolve_folder(path: str | os.PathLike) -> Path:
    folder = Path(path).expanduser()
    if (folder / "transformer").is_dir() and not (folder / "config.json").is_file():
        folder = folder / "transformer"  # a whole pipeline folder
    if not folder.is_dir():
        raise ValueError(f"pretrained: {folder} is not a local folder (nothing is downloaded)")
    return folder


def _weight_files(folder: Path) -> dict[str, Path]:
    """Tensor name -> safetensors file, from a single file or a sharded index."""
    index = folder / WEIGHTS_INDEX_NAME
    if index.is_file():
        weight_map = json.loads(index.read_text())["weight_map"]
        return {k: folder / v for k, v in weight_map.items()}
    single = folder / WEIGHTS_NAME
    if single.is_file():
        with safe_open(single, framework="pt") as f:
            return dict.fromkeys(f.keys(), single)
    if any(folder.glob("*.bin")) or any(folder.glob("*.pt")):
        raise ValueError(f"pretrained: {folder} holds pickle weights only; convert them to safetensors first")
    raise ValueError(f"pretrained: no {WEIGHTS_NAME} or {WEIGHTS_INDEX_NAME} in {folder}")


def check_pretrained_config(dit: SViMoTransformer, folder: Path) -> dict[str, Any]:
    """Compare the checkpoint's ``config.json`` with the DiT config; ValueError naming the field."""
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise ValueError(f"pretrained: {cfg_path} is missing")
    pre = json.loads(cfg_path.read_text())
    cfg = dit.cfg
    for key, attr in _CONFIG_CHECKS:
        if key in pre and pre[key] != getattr(cfg, attr):
            raise ValueError(f"dit.{attr}: {getattr(cfg, attr)!r} differs from the checkpoint's {key}={pre[key]!r}")
    if pre.get("in_channels") != 2 * cfg.latent_channels:
        raise ValueError(
            f"dit.latent_channels: an image-to-video checkpoint needs in_channels = 2 x latent_channels = "
            f"{2 * cfg.latent_channels}, the checkpoint has in_channels={pre.get('in_channels')!r}"
        )
    if pre.get("out_channels", cfg.latent_channels) != cfg.latent_channels:
        raise ValueError(
            f"dit.latent_channels: {cfg.latent_channels} differs from the checkpoint's "
            f"out_channels={pre['out_channels']}"
        )
    if pre.get("patch_size_t") is not None:
        raise ValueError("pretrained: CogVideoX 1.5 checkpoints (patch_size_t) are not supported; use CogVideoX 1.0")
    return pre


@torch.no_grad()
def init_from_cogvideox(dit: SViMoTransformer, path: str | os.PathLike) -> WeightReport:
    """Initialise G_θ in place from a local diffusers CogVideoX-I2V transformer folder.

    ``path`` is the ``transformer`` folder (or the pipeline folder containing it) with
    ``config.json`` and safetensors weights (one file or sharded). ``dit`` must be materialised
    (not on the meta device); tensors are cast to its dtype and device.
    """
    folder = _resolve_folder(path)
    check_pretrained_config(dit, folder)
    files = _weight_files(folder)
    report = WeightReport(source=str(folder))
    dim = dit.cfg.inner_dim
    state = dit.state_dict(keep_vars=True)
    if any(t.is_meta for t in state.values()):
        raise ValueError("dit: materialise the model before loading weights (it is on the meta device)")
    handles: dict[Path, Any] = {}
    used: set[str] = set()
    with contextlib.ExitStack() as stack:

        def read(name: str, rows: slice | None) -> torch.Tensor:
            file = files[name]
            if file not in handles:
                handles[file] = stack.enter_context(safe_open(file, framework="pt"))
            if rows is None:
                return handles[file].get_tensor(name)
            return handles[file].get_slice(name)[rows]

        for name, target in state.items():
            src = copy_source(name, dim)
            if src is None:
                src_name, rows, kind = name, None, "loaded"
            else:
                (src_name, rows), kind = src, "copied"
            if src_name not in files:
                report.new.append(name)
                continue
            value = read(src_name, rows)
            if tuple(value.shape) != tuple(target.shape):
                raise ValueError(
                    f"pretrained: {src_name} has shape {tuple(value.shape)}, SViMo's {name} needs "
                    f"{tuple(target.shape)}"
                )
            target.copy_(value.to(dtype=target.dtype, device=target.device))
            used.add(src_name)
            if kind == "loaded":
                report.loaded.append(name)
            else:
                report.copied[name] = src_name if rows is None else f"{src_name}[{rows.start}:{rows.stop}]"
    report.unused = sorted(set(files) - used)
    return report


# ---------------------------------------------------------------------- trained SViMo weights
MODEL_CLASS = "SViMoGenerator"  # model_index.json's _class_name: what the folder is read by
TRANSFORMER_FOLDER = "transformer"
VID_FOLDER = "vid"
VAE_FOLDER = "vae"
# Config fields that may differ between the saved weights and the YAML (runtime switches).
_RUNTIME_FIELDS = ("gradient_checkpointing", "train_positional_table")


def save_svimo(
    folder: str | os.PathLike,
    dit: SViMoTransformer,
    vid: VID,
    metadata: dict[str, Any] | None = None,
    vae: str | os.PathLike | None = None,
) -> Path:
    """Write G_θ and M_φ as a diffusers-style folder (module docstring); ``metadata`` (str -> str,
    e.g. ``{"trained": "true", "steps": "6000"}``) goes into ``model_index.json``; ``vae``: a
    diffusers VAE folder copied in as the ``vae`` component."""
    copies = {VAE_FOLDER: vae} if vae is not None else None
    return save_components(folder, MODEL_CLASS, {TRANSFORMER_FOLDER: dit, VID_FOLDER: vid}, metadata, copies)


def _config_differences(name: str, saved: Any, wanted: Any) -> list[str]:
    a, b = dataclasses.asdict(saved), dataclasses.asdict(wanted)
    return [f"{name}.{k}: {a[k]!r} in the checkpoint, {b[k]!r} in the config"
            for k in a if k not in _RUNTIME_FIELDS and a[k] != b[k]]


def load_svimo(
    path: str | os.PathLike, dit_cfg: DiTConfig, vid_cfg: VIDConfig
) -> tuple[SViMoTransformer, VID, dict[str, str]]:
    """G_θ, M_φ and the checkpoint metadata from trained weights.

    ``path``: a folder written by :func:`save_svimo` (``from_pretrained`` of each component; their
    ``config.json`` must agree with ``dit_cfg`` / ``vid_cfg``, else ValueError naming the fields),
    or, deprecated, a single-file checkpoint (``dit.*`` + ``vid.*``), loaded into models built from
    ``dit_cfg`` / ``vid_cfg``. The global torch RNG is left as it was.
    """
    source = Path(path).expanduser()
    if is_component_folder(source):
        dit = load_component(source, TRANSFORMER_FOLDER, SViMoTransformer)
        vid = load_component(source, VID_FOLDER, VID)
        problems = _config_differences("dit", dit.cfg, dit_cfg) + _config_differences("vid", vid.cfg, vid_cfg)
        if problems:
            raise ValueError(f"checkpoint: {source} does not match the config: " + "; ".join(problems))
        return dit, vid, checkpoint_metadata(source)
    if source.is_file() and source.suffix == ".safetensors":
        warnings.warn(
            f"checkpoint: {source} is a single-file SViMo checkpoint (dit.* + vid.*); this format is read "
            "for one more release only. Convert it with hoi_ros.svimo.weights.convert_checkpoint to a "
            "diffusers-style folder (model_index.json + transformer/ + vid/).",
            DeprecationWarning,
            stacklevel=2,
        )
        with torch.random.fork_rng(devices=[]):
            dit, vid = SViMoTransformer(dit_cfg), VID(vid_cfg)
        meta = load_checkpoint(source, {"dit": dit, "vid": vid})
        return dit, vid, meta
    raise ValueError(
        f"checkpoint: {source} is neither a SViMo model folder (with model_index.json) nor a .safetensors file"
    )


def _fresh(dit_cfg: DiTConfig, vid_cfg: VIDConfig) -> tuple[SViMoTransformer, VID]:
    with torch.random.fork_rng(devices=[]):
        return SViMoTransformer(dit_cfg), VID(vid_cfg)


def save_svimo_state(
    folder: str | os.PathLike,
    state: dict[str, torch.Tensor],
    dit_cfg: DiTConfig,
    vid_cfg: VIDConfig,
    metadata: dict[str, Any] | None = None,
    vae: str | os.PathLike | None = None,
) -> Path:
    """A training state dict (``dit.*`` + ``vid.*``, e.g. the train module's) as a :func:`save_svimo`
    folder: the training command's final output."""
    dit, vid = _fresh(dit_cfg, vid_cfg)
    load_prefixed(state, {"dit": dit, "vid": vid})
    return save_svimo(folder, dit, vid, metadata, vae=vae)


def load_svimo_into(path: str | os.PathLike, dit: SViMoTransformer, vid: VID) -> dict[str, str]:
    """Load trained weights (a :func:`save_svimo` folder, or a single-file checkpoint such as a
    training step's ``model.safetensors``) into existing models, strictly; returns the metadata.
    What ``init_checkpoint`` of the training command uses."""
    source = Path(path).expanduser()
    if is_component_folder(source):
        from safetensors.torch import load_file

        for name, module in ((TRANSFORMER_FOLDER, dit), (VID_FOLDER, vid)):
            weights = source / name / "diffusion_pytorch_model.safetensors"
            load_prefixed({f"{name}.{k}": v for k, v in load_file(weights).items()}, {name: module}, str(source))
        return checkpoint_metadata(source)
    return load_checkpoint(source, {"dit": dit, "vid": vid})


def svimo_tensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Every tensor of trained weights under the train module's names (``dit.*``, ``vid.*``), from a
    :func:`save_svimo` folder or a single-file checkpoint (for comparing runs)."""
    from safetensors.torch import load_file

    source = Path(path).expanduser()
    if is_component_folder(source):
        return {f"{prefix}.{k}": v for prefix, name in (("dit", TRANSFORMER_FOLDER), ("vid", VID_FOLDER))
                for k, v in load_file(source / name / "diffusion_pytorch_model.safetensors").items()}
    return load_file(source)


def convert_checkpoint(
    source: str | os.PathLike,
    folder: str | os.PathLike,
    dit_cfg: DiTConfig,
    vid_cfg: VIDConfig,
    vae: str | os.PathLike | None = None,
) -> Path:
    """Trained weights (a single-file checkpoint, ``dit.*`` + ``vid.*``, or a :func:`save_svimo`
    folder) as a :func:`save_svimo` folder with ``vae`` copied in: the same tensors, bit for bit, and
    the same metadata (what the recipe ships)."""
    dit, vid = _fresh(dit_cfg, vid_cfg)
    meta = load_svimo_into(source, dit, vid)
    return save_svimo(folder, dit, vid, meta, vae=vae)
