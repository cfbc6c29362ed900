"""MuJoCo simulation of a hand grasping real objects (PAM Stage I substitute), rendered as PAM's
conditions (depth, segmentation, hand keypoints) and as training data. See ``docs/sim.md``.

Entry points: :func:`hoi_ros.sim.request.build_request` / :class:`hoi_ros.sim.tasks.TaskRequest`,
:func:`hoi_ros.sim.tasks.simulate`, :func:`hoi_ros.sim.episode.run_episode`,
:func:`hoi_ros.sim.dataset.write_dataset` (``python -m hoi_ros.sim.dataset``) and
:class:`hoi_ros.data.sim.SimHOIDataset`.
"""
