"""PAM (pose → appearance → motion): the sim-to-real HOI video engine.

Paper: ``shared/papers/pam-pose-appearance-motion-engine.md``; guide: ``docs/pam.md``.

- Stage I (poses) is the simulator's rollout (:mod:`hoi_ros.sim`), whose per-frame depth,
  segmentation and hand-keypoint maps PAM is conditioned on (:mod:`~hoi_ros.pam.conditions`;
  datasets through :mod:`hoi_ros.data.sim` with ``fields=("depth", "segmentation", "keypoint_map")``).
- Stage II (first frame from conditions): Flux + ControlNet, :mod:`~hoi_ros.pam.image_controlnet`,
  with Flux's VAE (:mod:`~hoi_ros.pam.image_vae`) and pooled CLIP text (:mod:`~hoi_ros.pam.pooled_text`)
  from local folders at full scale.
- Stage III (video from the first frame and the condition sequences): CogVideoX-I2V + a video
  ControlNet, :mod:`~hoi_ros.pam.video_controlnet`; its loss :mod:`~hoi_ros.pam.video_loss`.
- :mod:`~hoi_ros.pam.config` (YAML configs, tiny and paper scale on one code path),
  :mod:`~hoi_ros.pam.models` (building both controlled models), :mod:`~hoi_ros.pam.pipeline`
  (``PAMPipeline``, a :class:`hoi_ros.core.generation.Generator`), :mod:`~hoi_ros.pam.train`
  (one training command per stage: a base or a ControlNet), :mod:`~hoi_ros.pam.generate` (sim request → video
  on the command line), :mod:`~hoi_ros.pam.params` (parameter counts on the meta device),
  :mod:`~hoi_ros.pam.recipe` (the small PAM trained here and shipped in ``models/pam_small``),
  :mod:`~hoi_ros.pam.evaluate` (held-out table with baselines and the condition ablation),
  ``bench/pam_controlnets.py`` (forward/backward time and memory of each ControlNet).

Layer: a model; imports ``core``, ``diffusion``, ``data`` and ``sim`` (Stage I), never another model
(docs/architecture.md).
"""
