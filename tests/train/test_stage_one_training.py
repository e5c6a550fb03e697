"""Stage one (CPS + CutMix): the loss falls on a fixed batch, checkpoints load, resume continues exactly."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]

RECIPE = dict(preset="tiny", crop_size=(32, 32), batch_size=2)


def _options(**changes):
    from spine_rt.train.loop import TrainingOptions

    return TrainingOptions(**{"epochs": 1, "iterations": 2, "progress": False, **changes})


def test_cps_loss_falls_on_a_fixed_batch(phantom_data):
    import torch

    from spine_rt.train.loop import make_optimizer, resolve_training_device, train_step
    from spine_rt.train.stage_one import StageOneRecipe

    device = resolve_training_device("cpu")
    task = StageOneRecipe(**RECIPE).task(phantom_data, device, seed=0)
    batch = task.sample_batch()
    assert batch.images.shape == (2, 3, 32, 32) and batch.labels.dtype == torch.int64
    assert batch.masks.shape == (2, 1, 32, 32)
    share = batch.masks.float().mean(dim=(1, 2, 3))
    assert bool(((share >= 0.25) & (share <= 0.5)).all())
    optimizer = make_optimizer(task.model, 1e-3)
    scaler = device.grad_scaler()
    losses, parts = [], []
    for _ in range(16):
        loss, named = train_step(task, batch, optimizer, scaler, device, 12.0)
        losses.append(loss)
        parts.append(named)
    assert set(parts[0]) == {"supervised", "cps"} and parts[0]["cps"] > 0
    assert np.mean(losses[-4:]) < 0.9 * np.mean(losses[:4]), losses


@pytest.mark.parametrize("lr_schedule", ["constant", "poly"])
def test_checkpoint_loads_into_build_and_resume_continues(phantom_data, tmp_path, lr_schedule):
    import torch

    from spine_rt.models import build
    from spine_rt.models.checkpoint import load_checkpoint
    from spine_rt.train.checkpoints import network_from_checkpoint, read_training_checkpoint
    from spine_rt.train.stage_one import StageOneRecipe

    recipe = StageOneRecipe(**RECIPE)

    class Interrupted(Exception):
        pass

    def stop_after_first_epoch(record):
        raise Interrupted  # a run of two epochs killed after the first one's checkpoint

    with pytest.raises(Interrupted):
        recipe.train(phantom_data, tmp_path / "run", _options(epochs=2, lr_schedule=lr_schedule),
                     on_epoch=stop_after_first_epoch)
    first_checkpoint = tmp_path / "run" / "last.pt"
    checkpoint = read_training_checkpoint(first_checkpoint, "stage1")
    assert checkpoint["epoch"] == 1 and checkpoint["iterations"] == 2 and checkpoint["seed"] == 0
    assert checkpoint["config"] == {"network": "stage1_pair", "preset": "tiny", "overrides": {"num_classes": 20}}
    assert checkpoint["labels"]["6"] == "L1" and checkpoint["preprocessing"]["spacing_mm"]["stage2"] == [3.0, 3.0, 4.4]
    assert set(checkpoint["validation"]["per_class"]) == set(list(phantom_data.label_map.values())[1:])
    load_checkpoint(build("stage1_pair", "tiny"), first_checkpoint)  # the bare load path of the exporter
    assert isinstance(network_from_checkpoint(tmp_path / "run" / "best.pt"), torch.nn.Module)
    assert (tmp_path / "run" / "labels.json").is_file() and (tmp_path / "run" / "training_log.json").is_file()

    resumed = recipe.train(phantom_data, tmp_path / "run", _options(epochs=2, lr_schedule=lr_schedule), resume=checkpoint)
    assert resumed.epochs_run == 1 and [h["epoch"] for h in resumed.history] == [1, 2]
    after = read_training_checkpoint(resumed.last_checkpoint)
    assert after["epoch"] == 2 and after["iterations"] == 4

    straight = recipe.train(phantom_data, tmp_path / "straight", _options(epochs=2, lr_schedule=lr_schedule))
    reference = read_training_checkpoint(straight.last_checkpoint)["state_dict"]
    for name, value in after["state_dict"].items():
        assert torch.equal(value, reference[name]), name  # resume = an uninterrupted run, bit for bit
    rates = [record["learning_rate"] for record in straight.history]
    assert after["training"]["lr_schedule"] == lr_schedule
    if lr_schedule == "constant":
        assert rates == [1e-3, 1e-3]
    else:  # the last step of each epoch: steps 1 and 3 of 4
        assert rates == pytest.approx([1e-3 * 0.75 ** 0.9, 1e-3 * 0.25 ** 0.9])


def test_learning_rate_schedules():
    from spine_rt.errors import InputError
    from spine_rt.train.loop import TrainingOptions, scheduled_learning_rate

    assert scheduled_learning_rate(1e-3, "constant", 7, 10) == 1e-3
    poly = [scheduled_learning_rate(1e-3, "poly", step, 10) for step in range(11)]
    assert poly[0] == 1e-3 and poly[10] == 0.0 and poly[5] == pytest.approx(1e-3 * 0.5 ** 0.9)
    assert all(a > b for a, b in zip(poly, poly[1:]))
    with pytest.raises(InputError, match="lr_schedule"):
        TrainingOptions(lr_schedule="cosine")
    with pytest.raises(InputError, match="schedule"):
        scheduled_learning_rate(1e-3, "step", 0, 10)


def test_output_folder_of_a_finished_run_is_not_overwritten(phantom_data, tmp_path):
    from spine_rt.errors import InputError
    from spine_rt.train.stage_one import StageOneRecipe

    recipe = StageOneRecipe(**RECIPE, augment=False)
    recipe.train(phantom_data, tmp_path, _options(iterations=1))
    with pytest.raises(InputError, match="already holds a training run"):
        recipe.train(phantom_data, tmp_path, _options(iterations=1))
    recipe.train(phantom_data, tmp_path, _options(iterations=1), overwrite=True)


@pytest.mark.gpu
def test_mixed_precision_on_cuda(phantom_data, tmp_path):
    from spine_rt.train.stage_one import StageOneRecipe

    result = StageOneRecipe(**RECIPE).train(phantom_data, tmp_path, _options(device="cuda", iterations=3))
    checkpoint = result.history[-1]
    assert checkpoint["loss"] > 0
    import torch

    stored = torch.load(result.last_checkpoint, weights_only=True)
    assert stored["training"]["mixed_precision"] is True and stored["grad_scaler"]


def test_cps_rampup_rises_to_the_full_weight():
    from spine_rt.train.stage_one import StageOneRecipe, cps_rampup

    assert cps_rampup(0, 0) == 1.0 and cps_rampup(5, 0) == 1.0
    shares = [cps_rampup(i, 100) for i in range(0, 101, 10)]
    assert shares[0] == pytest.approx(np.exp(-5.0)) and shares[-1] == 1.0
    assert all(a < b for a, b in zip(shares, shares[1:]))
    from spine_rt.errors import InputError

    with pytest.raises(InputError):
        StageOneRecipe(cps_rampup_iterations=-1)
