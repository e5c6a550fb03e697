"""MBNet: segmentation + regression steps, the value scaling stored in the checkpoint."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture(scope="module")
def xray_data():
    from spine_rt.train.xray_data import load_xray_training_data

    return load_xray_training_data(phantoms=3, image_size=(128, 128))


def test_mbnet_loss_falls_on_a_fixed_batch(xray_data):
    from spine_rt.train.mbnet import MBNetRecipe
    from spine_rt.train.loop import make_optimizer, resolve_training_device, train_step

    device = resolve_training_device("cpu")
    task = MBNetRecipe(preset="tiny", batch_size=2).task(xray_data, device, seed=0)
    batch = task.sample_batch()
    images, masks, targets = batch
    assert images.shape == (2, 3, 128, 128) and masks.shape == (2, 128, 128) and targets.shape == (2, 18)
    assert float(targets.min()) >= 0 and float(targets.max()) <= 1
    optimizer = make_optimizer(task.model, 1e-3)
    scaler = device.grad_scaler()
    steps = [train_step(task, batch, optimizer, scaler, device, 12.0) for _ in range(12)]
    losses = [loss for loss, _ in steps]
    assert set(steps[0][1]) == {"cross_entropy", "mse"}
    assert np.mean(losses[-3:]) < np.mean(losses[:3]), losses


def test_mbnet_checkpoint_holds_the_value_scaling(xray_data, tmp_path):
    from spine_rt.models import build
    from spine_rt.models.checkpoint import load_checkpoint
    from spine_rt.train.checkpoints import read_training_checkpoint
    from spine_rt.train.mbnet import MBNetRecipe
    from spine_rt.train.loop import TrainingOptions
    from spine_rt.anatomy.xray_values import MinMaxScaling

    result = MBNetRecipe(preset="tiny", batch_size=2).train(xray_data, tmp_path, TrainingOptions(iterations=2, progress=False))
    checkpoint = read_training_checkpoint(result.last_checkpoint, "mbnet")
    scaling = MinMaxScaling.from_dict(checkpoint["value_scaling"])
    assert scaling.names[0] == "PI" and len(scaling.minimum) == 18
    values = np.stack([x.values for x in xray_data.training])
    assert np.allclose(scaling.minimum, values.min(axis=0))
    assert "value_mae" in checkpoint["validation"]["extra"]
    load_checkpoint(build("mbnet", "tiny", **checkpoint["config"]["overrides"]), result.last_checkpoint)
