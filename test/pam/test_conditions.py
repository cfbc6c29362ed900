"""PAM's condition images and their latents: H×W×3 per frame → (T−1)/4+1 × H/8 × W/8 × 3C."""

from __future__ import annotations

from pathlib import Path

import torch

from hoi_ros.diffusion.vae import build_vae
from hoi_ros.pam.conditions import (
    CONDITIONS,
    PALETTE,
    condition_images,
    depth_image,
    encode_conditions,
    segmentation_image,
)
from hoi_ros.pam.config import load_config

TINY = load_config(Path(__file__).resolve().parents[2] / "config/models/pam/tiny_for_tests.yaml")


def test_depth_image_is_near_bright_and_misses_black() -> None:
    d = torch.tensor([[[0.0, 0.5, 1.0]]])
    img = depth_image(d)
    assert img.shape == (1, 1, 3, 3) and img.dtype == torch.uint8
    assert img[0, 0, 0].tolist() == [0, 0, 0]
    assert img[0, 0, 1, 0] == 255 and img[0, 0, 2, 0] == round(0.2 * 255)
    assert not depth_image(torch.zeros(1, 2, 2)).any()


def test_segmentation_image_uses_the_palette() -> None:
    lab = torch.tensor([[0, 1, 2, len(PALETTE)]])
    img = segmentation_image(lab)
    assert img.shape == (1, 4, 3)
    assert img[0, 0].tolist() == [0, 0, 0] and img[0, 1].tolist() == PALETTE[1].tolist()
    assert img[0, 3].tolist() == PALETTE[1].tolist()  # labels past the palette cycle over the colours


def test_conditions_encode_to_concatenated_latents() -> None:
    clip = TINY.clip
    t, h, w = clip.num_frames, clip.height, clip.width
    item = {"depth": torch.rand(1, t, h, w), "segmentation": torch.randint(0, 3, (1, t, h, w)),
            "keypoint_map": torch.randint(0, 255, (1, t, h, w, 3), dtype=torch.uint8)}
    images = condition_images(item)
    assert all(images[c].shape == (1, t, h, w, 3) and images[c].dtype == torch.uint8 for c in CONDITIONS)
    vae = build_vae(TINY.vae)
    lat = encode_conditions(images, vae.encode)
    c = vae.latent_channels
    assert lat.shape == (1, (t - 1) // 4 + 1, 3 * c, h // 8, w // 8)
    assert torch.equal(lat[:, :, c : 2 * c], vae.encode(images["segmentation"]))  # CONDITIONS order


def test_subsets_are_the_seams_condition_subsets() -> None:
    from hoi_ros.core.generation import CONDITION_SUBSETS
    from hoi_ros.pam.conditions import SUBSETS

    assert tuple(SUBSETS) == CONDITION_SUBSETS
