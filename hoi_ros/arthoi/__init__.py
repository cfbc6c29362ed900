"""ArtHOI: articulated hand-object interactions recovered from a monocular video, home of the method.

Paper: ``shared/papers/arthoi-articulated-hoi-dynamics-distillation.md``. Flow-based part
segmentation, then the object's articulation (Stage I) and the hand's motion (Stage II),
optimised in turn. Its result is an :class:`hoi_ros.core.sequence.HOISequence` whose objects carry
an articulation (:mod:`hoi_ros.core.articulation`: parts, revolute/prismatic joints, per-frame
joint state); the articulated sim scenes it is measured on belong to :mod:`hoi_ros.sim`.

Layer: a model; imports ``core``, ``diffusion``, ``data`` and ``sim`` helpers through their public
modules, never another model (docs/architecture.md). Nothing is implemented here yet.
"""
