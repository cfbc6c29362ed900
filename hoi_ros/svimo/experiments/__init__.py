"""SViMo's experiment tooling: the embedded default's recipe, its model card, the baselines
(MDM-like, static, per-task template), held-out evaluation and the parameter-count command.
Not needed to run a trained model (:mod:`hoi_ros.svimo.pipeline`)."""
