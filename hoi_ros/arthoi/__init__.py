"""ArtHOI: articulated hand-object interactions recovered from a monocular video (``docs/arthoi.md``).

Paper: ``shared/papers/arthoi-articulated-hoi-dynamics-distillation.md``. Built here: flow-based
part segmentation (§3.1: :mod:`~hoi_ros.arthoi.flow`, :mod:`~hoi_ros.arthoi.segmentation`), a
differentiable Gaussian renderer (:mod:`~hoi_ros.arthoi.gaussians`), Stage I, the object's
articulation (§3.2, Eq. 4-8: :mod:`~hoi_ros.arthoi.stage1`), metrics
(:mod:`~hoi_ros.arthoi.metrics`) and the pipeline on the sim's articulated scenes
(:mod:`~hoi_ros.arthoi.pipeline`, ``python -m hoi_ros.arthoi``), Stage II on the hand's keypoints
(§3.2, Eq. 9-12 without L_fs: :mod:`~hoi_ros.arthoi.stage2`) from an initial estimate
(:mod:`~hoi_ros.arthoi.hand_estimate`: MediaPipe on photo-like video), Table 5's joint
optimisation (:mod:`~hoi_ros.arthoi.joint`), the held-out benchmark with its manifest
(:mod:`~hoi_ros.arthoi.benchmark`) and scene files
(:mod:`~hoi_ros.arthoi.scene_io`) for the ROS action ``/hoi/articulate``
(:mod:`hoi_ros.nodes.articulate_node`). Its result is an :class:`hoi_ros.core.sequence.HOISequence`
whose object carries an :class:`hoi_ros.core.articulation.Articulation`; the articulated sim
scenes it is measured on belong to :mod:`hoi_ros.sim.articulated`.

Layer: a model; imports ``core``, ``diffusion``, ``data`` and ``sim`` helpers through their public
modules, never another model (docs/architecture.md).
"""
