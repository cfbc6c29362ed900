"""What every diffusion model here shares, on diffusers' parts.

- :mod:`~hoi_ros.diffusion.vae` (CogVideoX-style video VAE, frozen use) and
  :mod:`~hoi_ros.diffusion.vae_train` (training a small one);
- :mod:`~hoi_ros.diffusion.text` (T5 from a local path, or the bundled all-MiniLM-L6-v2);
- :mod:`~hoi_ros.diffusion.schedulers` (noise schedule and sampler config),
  :mod:`~hoi_ros.diffusion.loss_weighting` (CogVideoX's x₀ loss weighting for v-prediction),
  :mod:`~hoi_ros.diffusion.cogvideox_rope` (CogVideoX's 3D rotary embedding for a latent grid);
- :mod:`~hoi_ros.diffusion.dtypes`, :mod:`~hoi_ros.diffusion.offload`,
  :mod:`~hoi_ros.diffusion.image` (reference-image preprocessing);
- :mod:`~hoi_ros.diffusion.checkpointing` (module checkpoints and resumable training state,
  safetensors only) and :mod:`~hoi_ros.diffusion.components` (diffusers-style model folders:
  ``model_index.json`` + one ``from_pretrained`` folder per component) and
  :mod:`~hoi_ros.diffusion.training` (the accelerate set-up);
- :mod:`~hoi_ros.diffusion.video_metrics` (PSNR, SSIM, temporal consistency).

Layer: imports :mod:`hoi_ros.core` only; the models (SViMo, PAM, ArtHOI) build on it.
"""
