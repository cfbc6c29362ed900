"""SViMo (synchronized video-motion diffusion): DiT G_θ, VID M_φ, closed loop, training, sampling.

Submodules are imported on use (``from hoi_ros.svimo.pipeline import SViMoGenerator``) so that
importing the package stays cheap; see ``docs/svimo.md`` for the design.
"""
