"""Convert a body-model pickle, or a GraspXL recording, that the user downloaded to a plain ``.npz``.

Run once, on your own copy of the licensed file::

    python -m hoi_ros.bodies.convert MANO_RIGHT.pkl MANO_RIGHT.npz
    python -m hoi_ros.bodies.convert recording.npy trajectory.npz --object-mesh object.obj

A ``.pkl`` (MANO, SMPL-X) keeps its numeric arrays (sparse matrices dense, chumpy arrays as
values); a ``.npy`` GraspXL recording becomes the trajectory layout of
:mod:`hoi_ros.bodies.graspxl`. Both are read with the restricted unpickler of
:mod:`hoi_ros.bodies.model_files`: a file that names anything but array classes is refused.
The output loads with ``allow_pickle=False``.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

import numpy as np

from hoi_ros.bodies.model_files import convert_pickle, read_pickled_npy, write_model_npz


def _convert_recording(args: argparse.Namespace) -> dict[str, np.ndarray]:
    from hoi_ros.bodies.graspxl import graspxl_recording_arrays, read_obj_vertices

    recording = read_pickled_npy(args.src)
    if not isinstance(recording, dict):
        raise ValueError(f"{args.src}: expected a recorded dict, got {type(recording).__name__}")
    points = None
    if args.object_mesh:
        points = read_obj_vertices(args.object_mesh)
        if len(points) > args.max_object_points:
            keep = np.random.default_rng(0).choice(len(points), size=args.max_object_points, replace=False)
            points = points[np.sort(keep)]
    if points is None and not args.object_name:
        raise ValueError("the trajectory needs the object: pass --object-mesh (its .obj) or --object-name")
    return graspxl_recording_arrays(recording, object_key=args.object_key, object_points=points,
                                    object_name=args.object_name, fps=args.fps)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hoi_ros.bodies.convert", description=__doc__.split("\n")[0])
    parser.add_argument("src", type=Path, help="MANO_*.pkl / SMPLX_*.pkl, or a GraspXL recording .npy")
    parser.add_argument("dst", type=Path, help="output .npz")
    parser.add_argument("--object-mesh", type=Path, help="recording: the object mesh (.obj; its vertices)")
    parser.add_argument("--object-name", help="recording: the object's name (resolved when the file is loaded)")
    parser.add_argument("--object-key", help="recording: which object entry (default: the only one)")
    parser.add_argument("--fps", type=float, help="recording: frames per second")
    parser.add_argument("--max-object-points", type=int, default=2048, help="recording: subsample the mesh vertices")
    args = parser.parse_args(argv)
    if args.dst.suffix.lower() != ".npz":
        parser.error(f"dst: expected a .npz path, got {args.dst}")
    try:
        if args.src.suffix.lower() == ".npy":
            arrays = _convert_recording(args)
            write_model_npz(arrays, args.dst, allow_text=True)  # object_name is a string array
            dropped: dict[str, str] = {}
        else:
            arrays, dropped = convert_pickle(args.src, args.dst)
    except (OSError, ValueError, pickle.UnpicklingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for key, arr in sorted(arrays.items()):
        print(f"  {key}: {arr.dtype} {list(arr.shape)}")
    for key, why in sorted(dropped.items()):
        print(f"  dropped {key}: {why}")
    print(f"wrote {args.dst}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
