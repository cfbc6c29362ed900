"""ArtHOI's configuration: one dataclass per stage, read from YAML (``config/models/arthoi/``).

Defaults are the paper's values (appendix A) except where a field says otherwise; every deviation
is a field, so the paper's value is one YAML line away.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hoi_ros.core.config import dataclass_from_dict


@dataclass
class SegmentationConfig:
    """Flow-based part segmentation (§3.1; thresholds from App. A)."""

    flow_method: str = "dis"  # dis | farneback | torchscript (paper: CoTracker)
    flow_weights: str | None = None  # local TorchScript file for flow_method torchscript
    dynamic_px: float = 5.0  # tau_f for dynamic points (App. A: 5 px)
    static_px: float = 2.0  # static points (App. A: 2 px)
    quasi_static_percentile: float = 10.0  # App. A: 10th percentile of motion in the dynamic region
    quasi_static_min_px: float = 1.0  # App. A: at least 1.0 px
    binding_radius_m: float = 0.05  # r of Eq. 3 (App. A: 0.05 m)
    min_track_fraction: float = 0.8  # a static point is tracked through at least this share of frames
    grid_stride_px: int = 2  # query points: every n-th object pixel of frame 0
    segmenter: str = "grabcut"  # grabcut | sam (paper: SAM ViT-H)
    sam_checkpoint: str | None = None  # local SAM weights for segmenter sam
    sam_model_type: str = "vit_h"
    grabcut_iterations: int = 5
    forward_backward_check: bool = True  # lose tracks that get covered (needs the backward flows)
    hidden_gaussians: str = "static"  # static | neighbours: weights of Gaussians hidden at frame 0
    part_thickness_m: float = 0.02  # hidden Gaussians this close to a seen moving one belong to it
    qs_pixel_radius: float = 1.5  # a Gaussian is quasi-static when it projects this close to a P^qs point


@dataclass
class RenderConfig:
    """The differentiable Gaussian renderer (pure torch on the CPU)."""

    scale: float = 0.5  # render at this fraction of the video's resolution
    num_gaussians: int = 1200  # canonical Gaussians sampled on the object's surface
    sigma_m: float | None = None  # isotropic 3D standard deviation (m); None: sigma_spacing x the
    sigma_spacing: float = 0.7  # mean nearest-neighbour spacing of the surface points (no holes)
    opacity: float = 0.9
    background: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass
class StageIConfig:
    """Stage I, object articulation (Eq. 4-8; App. A)."""

    lambda_r: float = 1.0
    lambda_tr: float = 2.0
    lambda_a: float = 0.05
    lambda_s: float = 1.0
    beta_silhouette: float = 1.0  # beta^o of Eq. 6 (the paper does not give it)
    # Adam's step, App. A: 1e-4. With the constant-velocity start of each frame it follows the sim's
    # doors within the 200 iterations (about 110 per frame on the door); config/models/arthoi/
    # fast.yaml sets 3e-3: the same errors on the five sim scenes (within 0.5 deg) in about half
    # Stage I's time (docs/arthoi.md).
    lr: float = 1e-4
    iterations: int = 200  # per frame (App. A), an upper bound with early stop
    early_stop_rel: float = 1e-4  # stop when the loss improved less than this (relative) ...
    early_stop_patience: int = 20  # ... over this many iterations
    grad_clip: float = 1.0  # App. A
    use_articulation_loss: bool = True  # ablation "w/o L_a"
    use_smoothness_loss: bool = True  # ablation "w/o L_s"
    use_tracking_loss: bool = True
    revolute_min_deg: float = 5.0  # a joint that turns less than this over the sequence is prismatic


@dataclass
class StageIIConfig:
    """Stage II, the hand (Eq. 9-12; App. A weights and optimiser; :mod:`hoi_ros.arthoi.stage2`)."""

    enabled: bool = True
    lambda_k: float = 1e4  # App. A
    lambda_p: float = 1.0  # App. A
    lambda_s: float = 1e4  # App. A
    beta_silhouette: float = 0.01  # beta^h of Eq. 10 (the paper does not give it); summed over pixels
    lr: float = 1e-3  # App. A (body pose)
    iterations: int = 1000  # App. A
    grad_clip: float = 1.0  # App. A
    # L_p (Eq. 12): rotations in radians; the root translation in units of this length (metres).
    prior_length_m: float = 0.05
    hand_model: str = "offsets"  # offsets (per-joint offsets) | kinematic (per-bone rotations)
    joint_prior_length_m: float = 0.01  # L_p unit of a per-joint offset (hand_model offsets)
    shared_bone_lengths: bool = False  # one length per bone for the sequence (the hand's shape)
    smoothness_fps: float = 30.0  # L_s measured as at this frame rate (App. A/C: 30 fps)
    # Contact keypoints (Fig. 3c, Eq. 11's K_t)
    lift: str = "ray"  # ray | depth (the paper's: the object's depth at the keypoint's pixel)
    fingertips_only: bool = True  # candidates: the five fingertips (else every joint)
    fingertip_radius_m: float = 0.01  # a fingertip keypoint touching a surface is this far from it
    contact_radius_m: float = 0.03  # the lifted point must lie this close to the keypoint along its ray
    ray_step_m: float = 0.002  # sampling step along the ray (lift ray)
    moving_min_m: float = 0.0015  # the moving part moves (per frame) more than this: hand contact
    contact_refresh: int = 100  # re-lift the contact points from the current hand every n iterations
    contact_start: int = 0  # first iteration with L_k (its points lifted from the hand at that point)
    silhouette_threshold: float = 0.5
    # The hand proxy rendered for the silhouette term (Eq. 10)
    finger_sigma_m: float = 0.007
    palm_sigma_m: float = 0.012
    proxy_opacity: float = 0.9
    occlusion_softness_m: float = 0.01  # soft depth test against the object in front
    crop_margin_px: int = 6
    use_contact_loss: bool = True  # ablation "w/o L_k"
    use_smoothness_loss: bool = True  # ablation "w/o L_s"
    use_silhouette_loss: bool = True
    # The whole-body path (hoi_ros.arthoi.body): the user's SMPL-X .npz, and L_fs's weight (App. A)
    smplx_model_path: str | None = None
    lambda_fs: float = 10.0  # App. A


@dataclass
class ArtHOIConfig:
    """Everything ArtHOI reads."""

    segmentation: SegmentationConfig = field(default_factory=SegmentationConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    stage1: StageIConfig = field(default_factory=StageIConfig)
    stage2: StageIIConfig = field(default_factory=StageIIConfig)
    seed: int = 0
    # decoupled: Stage I then Stage II (the paper's method); joint: both at once (Table 5's
    # "Joint Opt." ablation, hoi_ros.arthoi.joint)
    optimisation: str = "decoupled"

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ArtHOIConfig:
        data = dict(data or {})
        known = {"segmentation", "render", "stage1", "stage2", "seed", "optimisation"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"arthoi: unknown section(s) {unknown}")
        render = dict(data.get("render") or {})
        if "background" in render:
            render["background"] = tuple(render["background"])
        return cls(segmentation=dataclass_from_dict(SegmentationConfig, data.get("segmentation"), "segmentation"),
                   render=dataclass_from_dict(RenderConfig, render or None, "render"),
                   stage1=dataclass_from_dict(StageIConfig, data.get("stage1"), "stage1"),
                   stage2=dataclass_from_dict(StageIIConfig, data.get("stage2"), "stage2"),
                   seed=int(data.get("seed", 0)), optimisation=str(data.get("optimisation", "decoupled")))

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> ArtHOIConfig:
        return cls.from_dict(yaml.safe_load(Path(path).read_text()))

    def __post_init__(self) -> None:
        if self.optimisation not in ("decoupled", "joint"):
            raise ValueError(f"arthoi.optimisation: expected 'decoupled' or 'joint', got {self.optimisation!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
