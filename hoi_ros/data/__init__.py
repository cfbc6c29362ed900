"""Data for the models: sim episodes and sequence files → model tensors (one sample layout).

- :mod:`hoi_ros.data.sim`: a sim dataset folder at a model's frames, fps and size, computing only
  the optional fields (rendered motion video, keypoint map, depth, segmentation) a model asks for.
- :mod:`hoi_ros.data.point_order`: a canonical order of an object's surface points (index i the
  same place on every object), for models that read the points through one token per frame.
- :mod:`hoi_ros.data.samples`: the sample layout, sequence-folder and latent-cache datasets,
  caching, collation, per-sample cameras, VAE training clips.

Layer: imports :mod:`hoi_ros.core` only (reads the sim's files through
:mod:`hoi_ros.core.episodes`, so MuJoCo is never loaded here).
"""
