"""Models as diffusers components, and diffusers-style model folders.

A model here is a ``diffusers.ModelMixin`` + ``ConfigMixin`` whose ``__init__`` takes JSON-serialisable
keyword arguments (``@register_to_config``), so ``save_pretrained(folder)`` writes ``config.json`` +
``diffusion_pytorch_model.safetensors`` and ``from_pretrained(folder)`` reads them back. Each model
also keeps its validated config dataclass (:func:`accepts_config_dataclass` lets the dataclass be
passed positionally, as the YAML configs build it).

A whole model is a folder in diffusers' pipeline layout::

    model_index.json          {"_class_name": ..., "<component>": [module, class], "_checkpoint_metadata": {...}}
    <component>/config.json
    <component>/diffusion_pytorch_model.safetensors

:func:`save_components` writes one, :func:`load_component` reads one component back (local folders
and safetensors only; nothing is downloaded, no pickle is read), :func:`checkpoint_metadata` gives
the string metadata a single-file checkpoint keeps in its safetensors header (``trained``, ``steps``,
``variant``, ...).

Importing it loads diffusers only (no :mod:`hoi_ros.core`), so a model module that must import
without the rest of the package (``hoi_ros.svimo.dit``) can use it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import diffusers
from diffusers import ModelMixin

MODEL_INDEX_NAME = "model_index.json"
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"
WEIGHTS_INDEX_NAME = "diffusion_pytorch_model.safetensors.index.json"
METADATA_KEY = "_checkpoint_metadata"

InitT = TypeVar("InitT", bound=Callable[..., None])
ModelT = TypeVar("ModelT", bound=ModelMixin)


def accepts_config_dataclass(config_cls: type) -> Callable[[InitT], InitT]:
    """Decorate a ``@register_to_config`` ``__init__`` so that it also takes one positional
    instance of ``config_cls``, a dataclass whose fields are exactly the init's keyword arguments.

    Put it *outside* ``register_to_config``: the dataclass is expanded into keyword arguments
    before diffusers records them, so ``config.json`` holds plain values. The signature that
    diffusers reads (``inspect.signature`` follows ``__wrapped__``) stays the keyword one.
    """
    names = {f.name for f in dataclasses.fields(config_cls)}

    def wrap(init: InitT) -> InitT:
        @functools.wraps(init)
        def inner(self: Any, *args: Any, **kwargs: Any) -> None:
            if args and isinstance(args[0], config_cls):
                if len(args) > 1 or kwargs:
                    raise TypeError(f"{type(self).__name__}: pass either a {config_cls.__name__} or keyword arguments")
                kwargs = dataclasses.asdict(args[0])
                args = ()
            unknown = sorted(k for k in kwargs if k not in names and not k.startswith("_"))  # _x: diffusers'
            if unknown:
                raise TypeError(f"{type(self).__name__}: unknown argument(s) {unknown}")
            init(self, *args, **kwargs)

        return inner  # type: ignore[return-value]

    return wrap


def public_config(model: ModelMixin) -> dict[str, Any]:
    """A model's init arguments as recorded by diffusers (without ``_class_name``, ``_name_or_path``, ...)."""
    return {k: v for k, v in dict(model.config).items() if not k.startswith("_")}


# ---------------------------------------------------------------------- folders
def is_component_folder(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a diffusers-style model folder (it holds ``model_index.json``)."""
    return (Path(path).expanduser() / MODEL_INDEX_NAME).is_file()


def read_model_index(folder: str | os.PathLike) -> dict[str, Any]:
    """The folder's ``model_index.json``; ValueError if there is none."""
    file = Path(folder).expanduser() / MODEL_INDEX_NAME
    if not file.is_file():
        raise ValueError(f"checkpoint: {file.parent} has no {MODEL_INDEX_NAME} (not a diffusers-style model folder)")
    return json.loads(file.read_text())


def checkpoint_metadata(folder: str | os.PathLike) -> dict[str, str]:
    """The string metadata of a folder written by :func:`save_components` (``{}`` if it has none)."""
    return {str(k): str(v) for k, v in (read_model_index(folder).get(METADATA_KEY) or {}).items()}


def save_components(
    folder: str | os.PathLike,
    class_name: str,
    components: Mapping[str, ModelMixin],
    metadata: Mapping[str, Any] | None = None,
    copies: Mapping[str, str | os.PathLike] | None = None,
) -> Path:
    """Write a diffusers-style model folder.

    Args:
        folder: created if missing; existing component subfolders are overwritten.
        class_name: ``_class_name`` of ``model_index.json`` (what the folder is a model of).
        components: name -> model; each is saved with ``save_pretrained(folder / name)`` (safetensors).
        metadata: string metadata kept in ``model_index.json`` (see :func:`checkpoint_metadata`).
        copies: name -> an existing diffusers component folder (``config.json`` + safetensors)
            copied in as it is (e.g. a trained VAE); its class comes from its ``config.json``.
    """
    out = Path(folder).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    index: dict[str, Any] = {"_class_name": class_name, "_diffusers_version": diffusers.__version__}
    for name, model in components.items():
        model.save_pretrained(out / name, safe_serialization=True)
        for file in (out / name).iterdir():  # diffusers writes its weights 0600
            file.chmod(0o644)
        index[name] = [type(model).__module__, type(model).__name__]
    for name, src in (copies or {}).items():
        src = Path(src).expanduser()
        config = json.loads((src / CONFIG_NAME).read_text())
        files = [CONFIG_NAME] + sorted(p.name for p in src.glob("*.safetensors*"))
        if not any(f.endswith(".safetensors") for f in files):
            raise ValueError(f"copies.{name}: no safetensors weights in {src}")
        (out / name).mkdir(exist_ok=True)
        for f in files:
            shutil.copyfile(src / f, out / name / f)
        index[name] = ["diffusers", config["_class_name"]]
    if metadata:
        index[METADATA_KEY] = {str(k): str(v) for k, v in metadata.items()}
    from hoi_ros.core.io import write_bytes_atomic  # here: importing this module needs no hoi_ros.core

    write_bytes_atomic(out / MODEL_INDEX_NAME, (json.dumps(index, indent=2, sort_keys=True) + "\n").encode())
    return out


def load_component(folder: str | os.PathLike, name: str, cls: type[ModelT]) -> ModelT:
    """``cls.from_pretrained(folder / name)``: local, safetensors only, every tensor present.

    ``model_index.json`` must list ``name`` as ``cls``; a missing, unexpected or mis-shaped tensor is
    a ValueError (diffusers would only warn about some of them).
    """
    root = Path(folder).expanduser()
    entry = read_model_index(root).get(name)
    if not isinstance(entry, list) or len(entry) != 2 or entry[1] != cls.__name__:
        raise ValueError(f"checkpoint: {root / MODEL_INDEX_NAME} lists {name!r} as {entry!r}, expected {cls.__name__}")
    sub = root / name
    if not (sub / WEIGHTS_NAME).is_file() and not (sub / WEIGHTS_INDEX_NAME).is_file():
        raise ValueError(f"checkpoint: no {WEIGHTS_NAME} in {sub} (only safetensors are read)")
    model, info = cls.from_pretrained(sub, use_safetensors=True, local_files_only=True, output_loading_info=True)
    problems = {k: info.get(k) for k in ("missing_keys", "unexpected_keys", "mismatched_keys") if info.get(k)}
    if problems:
        raise ValueError(f"checkpoint: {sub} does not match {cls.__name__}: {problems}")
    return model
