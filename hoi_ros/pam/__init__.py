"""PAM (pose → appearance → motion): the sim-to-real video engine, home of its models.

Paper: ``shared/papers/pam-pose-appearance-motion-engine.md``. Stage I (poses) is the simulator's
rollout (:mod:`hoi_ros.sim`), whose per-frame depth, segmentation and hand-keypoint maps PAM is
conditioned on; they reach a model through :mod:`hoi_ros.data.sim` (``fields=("depth",
"segmentation", "keypoint_map")``). Stage II (first frame from conditions: an image diffusion
transformer with a ControlNet) and Stage III (video from the first frame and the condition
sequences: CogVideoX image-to-video with a video ControlNet) will live here, built on the shared
:mod:`hoi_ros.diffusion` layer (VAE, text encoders, schedulers, offload, checkpoints, accelerate
training loop, video metrics) and served through :class:`hoi_ros.core.generation.Generator`.

Layer: a model; imports ``core``, ``diffusion`` and ``data``, never another model
(docs/architecture.md). Nothing is implemented here yet.
"""
