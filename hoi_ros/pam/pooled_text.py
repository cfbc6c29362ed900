"""Flux's pooled text embedding: CLIP's ``pooler_output`` (FLUX.1-dev: CLIP ViT-L/14, 768 wide).

FLUX.1-dev conditions on two text encoders: T5-XXL token features (``encoder_hidden_states``, the
package's text seam, :mod:`hoi_ros.diffusion.text`) and a pooled CLIP text embedding
(``pooled_projections``). :class:`PooledTextEncoder` loads the CLIP text model and its tokenizer from
a **local** folder (FLUX.1-dev's ``text_encoder`` / ``tokenizer`` subfolders); without one
(``image.pooled_text_path`` unset, the small PAM) the pooled vector is the mean of the token
features (:func:`mean_pooled`).
"""

from __future__ import annotations

from pathlib import Path

import torch

from hoi_ros.diffusion.dtypes import torch_dtype
from hoi_ros.diffusion.frozen import FrozenModel


def mean_pooled(tokens: torch.Tensor) -> torch.Tensor:
    """``[B, L, D]`` → ``[B, D]``: the stand-in pooled embedding when no CLIP is configured."""
    return tokens.mean(dim=1)


class PooledTextEncoder(FrozenModel):
    """A frozen ``CLIPTextModel`` + tokenizer: ``encode(prompts) -> [B, dim]`` (``pooler_output``)."""

    def __init__(self, path: str, subfolder: str = "text_encoder", tokenizer_path: str | None = None,
                 tokenizer_subfolder: str = "tokenizer", max_length: int = 77, dtype: str = "float32") -> None:
        from transformers import AutoTokenizer, CLIPTextModel

        def local(p: str, sub: str, name: str) -> Path:
            folder = Path(p).expanduser() / sub if sub else Path(p).expanduser()
            if not folder.is_dir():
                raise ValueError(f"image.{name}: {folder} is not a local folder (nothing is downloaded)")
            return folder

        self.model = CLIPTextModel.from_pretrained(str(local(path, subfolder, "pooled_text_path")),
                                                   local_files_only=True, use_safetensors=True,
                                                   dtype=torch_dtype(dtype))
        tok = local(tokenizer_path or path, tokenizer_subfolder, "pooled_text_path (tokenizer)")
        self.tokenizer = AutoTokenizer.from_pretrained(str(tok), local_files_only=True)
        self.model.eval().requires_grad_(False)
        self.max_length = int(max_length)
        self.dim = int(self.model.config.hidden_size)

    @torch.no_grad()
    def encode(self, prompts: list[str]) -> torch.Tensor:
        """Pooled embeddings ``[B, dim]`` (padded / truncated to ``max_length`` tokens, as Flux does)."""
        tok = self.tokenizer(list(prompts), padding="max_length", max_length=self.max_length, truncation=True,
                             return_tensors="pt")
        return self.model(input_ids=tok["input_ids"].to(self.device)).pooler_output
