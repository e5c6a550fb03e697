"""Stage two with a frozen stage one: the loss falls, stage one stays fixed, windows cover the scan."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]

PATCH = (32, 32, 12)


@pytest.fixture(scope="module")
def stage_one_checkpoint(phantom_data, tmp_path_factory):
    import torch

    from spine_rt.train.stage_one import StageOneRecipe
    from spine_rt.train.loop import TrainingOptions

    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("stage1")
    result = StageOneRecipe(preset="tiny", crop_size=(32, 32), batch_size=2).train(
        phantom_data, folder, TrainingOptions(iterations=1, progress=False))
    return result.last_checkpoint


def test_stage_two_loss_falls_and_stage_one_stays_frozen(phantom_data, stage_one_checkpoint):
    import torch

    from spine_rt.train.loop import make_optimizer, resolve_training_device, train_step
    from spine_rt.train.stage_two import FrozenStageOne, StageTwoRecipe

    stage_one = FrozenStageOne.from_checkpoint(stage_one_checkpoint)
    before = {k: v.clone() for k, v in stage_one.pair.state_dict().items()}
    device = resolve_training_device("cpu")
    task = StageTwoRecipe(preset="tiny", patch_size=PATCH, batch_size=2).task(phantom_data, stage_one, device, seed=0)
    image, features, labels = task.sample_batch()
    assert image.shape == (2, 21, *PATCH) and features.shape == (2, 64, 8, 8, 12) and labels.shape == (2, *PATCH)
    optimizer = make_optimizer(task.model, 1e-3)
    scaler = device.grad_scaler()
    losses = [train_step(task, (image, features, labels), optimizer, scaler, device, 12.0)[0] for _ in range(14)]
    assert np.mean(losses[-4:]) < 0.9 * np.mean(losses[:4]), losses
    for name, value in stage_one.pair.state_dict().items():
        assert torch.equal(value, before[name]), name
    assert all(not p.requires_grad for p in stage_one.pair.parameters())
    volume = phantom_data.validation[0]
    prediction = task.predict_volume(volume)
    assert prediction.shape == volume.shape and prediction.max() < 20


def test_stage_two_checkpoint_records_its_stage_one(phantom_data, stage_one_checkpoint, tmp_path):
    from spine_rt.models import build
    from spine_rt.models.checkpoint import load_checkpoint
    from spine_rt.train.checkpoints import file_sha256, read_training_checkpoint
    from spine_rt.train.stage_two import FrozenStageOne, StageTwoRecipe
    from spine_rt.train.loop import TrainingOptions

    stage_one = FrozenStageOne.from_checkpoint(stage_one_checkpoint)
    result = StageTwoRecipe(preset="tiny", patch_size=PATCH, batch_size=2).train(
        phantom_data, stage_one, tmp_path, TrainingOptions(iterations=2, progress=False))
    checkpoint = read_training_checkpoint(result.last_checkpoint, "stage2")
    assert checkpoint["stage_one"]["sha256"] == file_sha256(stage_one_checkpoint)
    overrides = checkpoint["config"]["overrides"]
    assert overrides == {"num_classes": 20, "in_channels": 21, "patch_size": list(PATCH),
                         "stage_one_feature_channels": 64}
    load_checkpoint(build("stage2", "tiny", **overrides), result.last_checkpoint)


def test_stage_two_refuses_a_batch_of_one_and_bad_patches():
    from spine_rt.errors import InputError
    from spine_rt.train.stage_two import StageTwoRecipe

    with pytest.raises(InputError, match="at least 2"):
        StageTwoRecipe(batch_size=1)
    with pytest.raises(InputError, match="multiples of 16"):
        StageTwoRecipe(patch_size=(40, 32, 12))
