"""spine_rt.train: the training recipes of SEEDS.md (``spine-rt train``).

* :class:`~spine_rt.train.stage_one.StageOneRecipe` - the two
  stage-one branches with cross pseudo supervision and CutMix;
* :class:`~spine_rt.train.stage_two.StageTwoRecipe` - stage two on
  class-balanced patches with a frozen stage one
  (:class:`~spine_rt.train.stage_two.FrozenStageOne`);
* :class:`~spine_rt.train.mbnet.MBNetRecipe` - MBNet segmentation +
  regression of the 18 inspection values;
* data: :func:`~spine_rt.train.mr_data.load_mr_training_data` (NIfTI pairs
  or phantoms, ``labels.json``, spacing), :func:`~spine_rt.train.xray_data.load_xray_training_data`;
* :class:`~spine_rt.train.loop.TrainingOptions` and
  :func:`~spine_rt.train.loop.run_training` (epochs, Adam, clipping,
  mixed precision, checkpoints, resume);
* :func:`~spine_rt.train.checkpoints.network_from_checkpoint` - a trained network back from ``last.pt``/``best.pt``.

Importing :mod:`spine_rt.train` imports neither torch nor MONAI; the names
above are loaded on first use (``spine_rt.train.StageOneRecipe``).
"""

from __future__ import annotations

from spine_rt.lazy_exports import lazy_exports

#: public name -> module that defines it (imported on first access)
_LAZY: dict[str, str] = {
    "StageOneRecipe": "spine_rt.train.stage_one",
    "StageTwoRecipe": "spine_rt.train.stage_two",
    "FrozenStageOne": "spine_rt.train.stage_two",
    "MBNetRecipe": "spine_rt.train.mbnet",
    "TrainingOptions": "spine_rt.train.loop",
    "TrainingResult": "spine_rt.train.loop",
    "run_training": "spine_rt.train.loop",
    "load_mr_training_data": "spine_rt.train.mr_data",
    "load_xray_training_data": "spine_rt.train.xray_data",
    "network_from_checkpoint": "spine_rt.train.checkpoints",
    "read_training_checkpoint": "spine_rt.train.checkpoints",
    "ValidationDice": "spine_rt.train.validation",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
