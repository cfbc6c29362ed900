"""Checkpoints without pickles: safetensors for tensors, JSON for the rest.

:func:`save_checkpoint` / :func:`load_checkpoint` write and read several modules as one
safetensors file, each under its prefix (SViMo's ``dit.*`` and ``vid.*``). A training checkpoint
folder ``<output>/checkpoints/step_XXXXXXXX/`` holds

- ``model.safetensors``: ``dit.*`` and ``vid.*`` (:func:`load_checkpoint`
  reads it; the generator still loads it with ``checkpoint=...``, deprecated: the released form of
  trained weights is a diffusers-style model folder, :mod:`hoi_ros.diffusion.components`);
- ``optimizer.safetensors`` + ``optimizer.json``: AdamW moments, step counters, hyper-parameters;
- ``rng_rank<r>.safetensors`` + ``rng_rank<r>.json``: the run's generator and the torch / numpy /
  Python global states of every rank;
- ``trainer.json``: step and world size, written last (a folder without it is incomplete).

Resuming from one reproduces the uninterrupted run bit for bit (``test/svimo/test_train.py``).
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from hoi_ros.core.io import atomic_path


def save_state_dict(path: str | os.PathLike, state: dict[str, torch.Tensor], metadata: dict[str, str]) -> Path:
    """Write a (gathered) state dict ``{"dit.x": ..., "vid.y": ...}`` as safetensors, atomically."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    out = Path(path)
    with atomic_path(out) as tmp:
        save_file(tensors, str(tmp), metadata={k: str(v) for k, v in metadata.items()})
    return out


def save_rng(path_stem: Path, gen: torch.Generator) -> None:
    """The run's generator + torch (CPU, CUDA), numpy and Python global RNG states."""
    tensors = {"generator": gen.get_state(), "torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda_{i}"] = s
    save_file(tensors, str(path_stem.with_suffix(".safetensors")))
    np_state = np.random.get_state()  # noqa: NPY002
    py_state = random.getstate()
    meta = {
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }
    path_stem.with_suffix(".json").write_text(json.dumps(meta))


def load_rng(path_stem: Path, gen: torch.Generator) -> None:
    """Inverse of :func:`save_rng`."""
    with safe_open(str(path_stem.with_suffix(".safetensors")), framework="pt") as f:
        gen.set_state(f.get_tensor("generator"))
        torch.set_rng_state(f.get_tensor("torch_cpu"))
        cuda = sorted(k for k in f.keys() if k.startswith("torch_cuda_"))
        if cuda and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([f.get_tensor(k) for k in cuda])
    meta = json.loads(path_stem.with_suffix(".json").read_text())
    n = meta["numpy"]
    state = (n[0], np.asarray(n[1], dtype=np.uint32), n[2], n[3], n[4])
    np.random.set_state(state)  # noqa: NPY002
    p = meta["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))


def save_optimizer(folder: Path, optimizer: torch.optim.Optimizer) -> None:
    """``optimizer.state_dict()`` as safetensors (tensors) + JSON (groups and scalars)."""
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{idx}.{key}"] = value.detach().contiguous().cpu()
            else:
                scalars[f"{idx}.{key}"] = value
    save_file(tensors, str(folder / "optimizer.safetensors"))
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in sd["param_groups"]]
    (folder / "optimizer.json").write_text(json.dumps({"param_groups": groups, "scalars": scalars}))


def load_optimizer(folder: Path, optimizer: torch.optim.Optimizer) -> None:
    """Inverse of :func:`save_optimizer` (the optimizer must have the same parameter groups)."""
    meta = json.loads((folder / "optimizer.json").read_text())
    state: dict[int, dict[str, Any]] = {}
    with safe_open(str(folder / "optimizer.safetensors"), framework="pt") as f:
        for name in f.keys():
            idx, key = name.split(".", 1)
            state.setdefault(int(idx), {})[key] = f.get_tensor(name)
    for name, value in meta["scalars"].items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    groups = []
    for g in meta["param_groups"]:
        g = dict(g)
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def latest_checkpoint(output_dir: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint folder of a run, or None."""
    folders = sorted((Path(output_dir) / "checkpoints").glob("step_*"))
    complete = [f for f in folders if (f / "trainer.json").is_file()]
    return complete[-1] if complete else None


# ---------------------------------------------------------------------- module checkpoints
def save_checkpoint(
    path: str | os.PathLike, modules: dict[str, torch.nn.Module], metadata: dict[str, str] | None = None
) -> Path:
    """Write ``{prefix.tensor: value}`` of several modules (e.g. ``{"dit": G, "vid": M}``) as one
    safetensors file, atomically. ``metadata`` (str -> str) goes into the header, e.g.
    ``{"trained": "true", "steps": "35000"}``."""
    tensors = {
        f"{prefix}.{k}": v.detach().contiguous().cpu()
        for prefix, module in modules.items()
        for k, v in module.state_dict().items()
    }
    out = Path(path)
    with atomic_path(out) as tmp:
        save_file(tensors, str(tmp), metadata={k: str(v) for k, v in (metadata or {}).items()})
    return out


@torch.no_grad()
def load_prefixed(tensors: Any, modules: dict[str, torch.nn.Module], source: str = "checkpoint") -> None:
    """Load ``{prefix.name: tensor}`` (a dict, or an open safetensors file) into ``modules``, strict per
    prefix: a missing or unexpected tensor raises ``ValueError`` naming the prefix."""
    keys = list(tensors.keys())
    get = tensors.get_tensor if hasattr(tensors, "get_tensor") else tensors.__getitem__
    for prefix, module in modules.items():
        own = {k[len(prefix) + 1 :]: k for k in keys if k.startswith(prefix + ".")}
        expected = set(module.state_dict())
        missing, extra = sorted(expected - set(own)), sorted(set(own) - expected)
        if missing or extra:
            raise ValueError(
                f"{source}: {prefix} does not match the config (missing {missing[:5]}, unexpected {extra[:5]})"
            )
        module.load_state_dict({k: get(full) for k, full in own.items()}, strict=True)


def load_checkpoint(path: str | os.PathLike, modules: dict[str, torch.nn.Module]) -> dict[str, str]:
    """Load a :func:`save_checkpoint` file into ``modules`` (strict per prefix); returns its metadata."""
    file = Path(path).expanduser()
    if file.suffix != ".safetensors" or not file.is_file():
        raise ValueError(f"checkpoint: {file} is not a .safetensors file")
    with safe_open(file, framework="pt") as f:
        metadata = dict(f.metadata() or {})
        load_prefixed(f, modules)
    return metadata
