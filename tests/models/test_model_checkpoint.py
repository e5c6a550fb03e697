"""load_checkpoint: the accepted forms, and one-line errors for weights that do not fit."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from spine_rt.errors import InputError  # noqa: E402
from spine_rt.models import build  # noqa: E402
from spine_rt.models.checkpoint import load_checkpoint  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def trained_state():
    torch.manual_seed(0)
    return build("bilunet", "tiny").state_dict()


def fresh_model():
    torch.manual_seed(1)
    return build("bilunet", "tiny")


def assert_loaded(model, state):
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(tensor, state[name], msg=name)


@pytest.mark.parametrize("wrap", ["bare", "state_dict", "model", "data_parallel", "data_parallel_in_state_dict"])
def test_accepted_forms_load(trained_state, wrap):
    prefixed = {f"module.{name}": tensor for name, tensor in trained_state.items()}
    checkpoint = {
        "bare": trained_state,
        "state_dict": {"state_dict": trained_state, "epoch": 3},
        "model": {"model": trained_state, "optimizer": {"lr": 1e-3}},
        "data_parallel": prefixed,
        "data_parallel_in_state_dict": {"state_dict": prefixed},
    }[wrap]
    model = fresh_model()
    assert load_checkpoint(model, checkpoint) is model
    assert_loaded(model, trained_state)


def test_loads_from_a_file(tmp_path, trained_state):
    path = tmp_path / "weights.pt"
    torch.save({"state_dict": trained_state, "epoch": 10}, path)
    model = fresh_model()
    load_checkpoint(model, path)
    assert_loaded(model, trained_state)
    load_checkpoint(fresh_model(), str(path))


def test_missing_and_unexpected_keys_are_named_in_one_line(trained_state):
    state = dict(trained_state)
    removed = [name for name in state if name.startswith("head.")]
    for name in removed:
        del state[name]
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(InputError) as error:
        load_checkpoint(fresh_model(), state)
    message = str(error.value)
    assert "\n" not in message
    assert f"{len(removed)} missing (head.0.weight, head.0.bias, head.2.weight, ...)" in message
    assert "1 unexpected (extra.weight)" in message


def test_non_strict_skips_missing_and_unexpected(trained_state):
    state = {name: tensor for name, tensor in trained_state.items() if not name.startswith("head.")}
    state["extra.weight"] = torch.zeros(1)
    model = load_checkpoint(fresh_model(), state, strict=False)
    torch.testing.assert_close(model.state_dict()["down.0.0.weight"], trained_state["down.0.0.weight"])


def test_shape_mismatch_is_reported_even_when_not_strict():
    torch.manual_seed(0)
    six_classes = build("bilunet", "tiny", num_classes=6).state_dict()
    for strict in (True, False):
        with pytest.raises(InputError, match=r"wrong shape \(head\.0\.weight: checkpoint \(6, 4, 3, 3\) vs model \(5, 4, 3, 3\)"):
            load_checkpoint(fresh_model(), six_classes, strict=strict)


def test_unreadable_and_missing_files(tmp_path):
    with pytest.raises(InputError, match="checkpoint not found"):
        load_checkpoint(fresh_model(), tmp_path / "nope.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="cannot read checkpoint"):
        load_checkpoint(fresh_model(), garbage)


def test_not_a_state_dict():
    with pytest.raises(InputError, match="not a state dict"):
        load_checkpoint(fresh_model(), {"epoch": 3, "lr": 0.1})
