"""Parametric bodies from the user's own licensed model files: MANO hands and SMPL-X bodies.

- :mod:`~hoi_ros.bodies.model_files`: arrays from a local ``.npz`` (``allow_pickle=False``) and
  the restricted unpickler behind ``python -m hoi_ros.bodies.convert`` (official ``.pkl`` -> ``.npz``).
- :mod:`~hoi_ros.bodies.mano`: ``MANOModel`` / ``mano_joints``, joints in the package's 21-joint order.
- :mod:`~hoi_ros.bodies.graspxl`: GraspXL-style trajectories -> ``HOISequence`` (PAM's pose files),
  ``load_pose_file``.
- :mod:`~hoi_ros.bodies.smplx_body`: ``SMPLXModel`` (body and both hands' joints) and ArtHOI's
  foot-sliding loss.

A shared layer: it imports only :mod:`hoi_ros.core` (docs/architecture.md). Names are loaded on
first use, so the converter runs without importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ModelFileError": "model_files",
    "RestrictedUnpickler": "model_files",
    "load_model_arrays": "model_files",
    "read_pickled_model": "model_files",
    "convert_pickle": "model_files",
    "MANOModel": "mano",
    "mano_joints": "mano",
    "MANO_TO_PACKAGE": "mano",
    "read_graspxl": "graspxl",
    "load_pose_file": "graspxl",
    "SMPLXModel": "smplx_body",
    "foot_sliding_loss": "smplx_body",
    "LAMBDA_FS": "smplx_body",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'hoi_ros.bodies' has no attribute {name!r}")
    return getattr(importlib.import_module(f"hoi_ros.bodies.{_EXPORTS[name]}"), name)
