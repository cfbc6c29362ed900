"""Pipelines that chain models: compositions of several models of layer 2 (``docs/architecture.md``).

- :mod:`~hoi_ros.pipelines.sim_pam_arthoi`: closing the loop — an articulated sim episode, its
  conditions rendered into a video by PAM, and ArtHOI run on both the sim's own render and PAM's
  video, each compared to the sim's ground truth
  (``python -m hoi_ros.pipelines.sim_pam_arthoi --sim door``; ``docs/benchmarks.md``).

Layer: pipelines (between the models and the nodes); imports the models (``svimo``, ``pam``,
``arthoi``) and every layer below through their public functions; the nodes may import it, no model
does. It never loads ROS.
"""
