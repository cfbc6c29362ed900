"""Frozen text encoders (SViMo §3.3): the bundled MiniLM (real, offline) and a local tiny T5."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hoi_ros.diffusion.text import TextEncoderConfig, build_text_encoder

PROMPTS = ["pick up the cup with the right hand", "stir the bowl with a spoon"]


def test_minilm_token_features_offline() -> None:
    enc = build_text_encoder(TextEncoderConfig(backend="minilm", max_length=16))
    out = enc.encode(PROMPTS)
    assert enc.dim == 384 and enc.max_length == 16
    assert out.shape == (2, 16, 384) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    # Real pretrained features: the two prompts differ, and encoding is deterministic.
    assert not torch.allclose(out[0], out[1])
    assert torch.equal(out, enc.encode(PROMPTS))
    assert not any(p.requires_grad for p in enc.model.parameters())


def test_minilm_pretrained_semantics() -> None:
    # Mean-pooled MiniLM features (the sentence embedding the model was trained for) rank a
    # paraphrase above an unrelated sentence; a randomly initialised BERT would not do so reliably.
    enc = build_text_encoder(TextEncoderConfig(backend="minilm", max_length=24))
    prompts = ["a hand picks up a cup", "someone grasps a mug with their hand", "the stock market fell today"]
    tok = enc.tokenizer(prompts, padding="max_length", max_length=24, truncation=True, return_tensors="pt")
    feats = enc.encode(prompts)
    mask = tok["attention_mask"][..., None].float()
    emb = torch.nn.functional.normalize((feats * mask).sum(1) / mask.sum(1), dim=-1)
    assert emb[0] @ emb[1] > emb[0] @ emb[2] + 0.2


def _tiny_t5(tmp_path: Path) -> Path:
    from transformers import T5Config, T5EncoderModel, T5Tokenizer

    words = "a the hand grasp cup pick up put spoon bowl stir with right left".split()
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + [(f"▁{w}", -1.0 - i) for i, w in enumerate(words)]
    vocab += [(c, -20.0) for c in "abcdefghijklmnopqrstuvwxyz▁"]
    root = tmp_path / "cogvideox_like"
    T5Tokenizer(vocab=vocab, extra_ids=0).save_pretrained(root / "tokenizer")
    torch.manual_seed(0)
    cfg = T5Config(vocab_size=len(vocab), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4)
    T5EncoderModel(cfg).save_pretrained(root / "text_encoder")
    return root


def test_t5_from_local_folder(tmp_path: Path) -> None:
    root = _tiny_t5(tmp_path)
    cfg = TextEncoderConfig(backend="t5", path=str(root), subfolder="text_encoder",
                            tokenizer_subfolder="tokenizer", max_length=12)
    enc = build_text_encoder(cfg)
    out = enc.encode(PROMPTS)
    assert enc.dim == 32 and out.shape == (2, 12, 32)
    assert not torch.allclose(out[0], out[1])
    ids = enc.tokenizer(PROMPTS[:1], padding="max_length", max_length=12, truncation=True)["input_ids"][0]
    assert ids[:3] == enc.tokenizer.convert_tokens_to_ids(["▁pick", "▁up", "▁the"])


def test_text_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="backend"):
        TextEncoderConfig(backend="clip")
    with pytest.raises(ValueError, match="path"):
        TextEncoderConfig(backend="t5")
    with pytest.raises(ValueError, match="not a local folder"):
        build_text_encoder(TextEncoderConfig(backend="t5", path=str(tmp_path / "missing")))
    with pytest.raises(ValueError, match="max_length"):
        build_text_encoder(TextEncoderConfig(backend="minilm", max_length=1000))
    with pytest.raises(ValueError, match="prompts"):
        build_text_encoder(TextEncoderConfig(backend="minilm", max_length=8)).encode("a string")
