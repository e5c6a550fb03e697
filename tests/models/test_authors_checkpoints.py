"""The SSHSNet authors' checkpoints: every key of keys.json maps onto spine-rt's networks and back, their
files load with or without ``module.``, bad layouts give one clear line, and the cross tri-attention and the
whole of stage two agree with direct transcriptions of SEEDS.md's formulas on the authors' key names."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from authors_checkpoint_states import as_authors_checkpoint, keys_json_entries, random_authors_state  # noqa: E402
from sshsnet_transcriptions import cross_tri_attention, stage_two  # noqa: E402

from spine_rt.errors import InputError  # noqa: E402
from spine_rt.models import build, load_checkpoint, load_checkpoint_format  # noqa: E402
from spine_rt.models.authors_checkpoints import (  # noqa: E402
    SSHSNET_AUTHORS_STAGE_ONE,
    SSHSNET_AUTHORS_STAGE_TWO,
    find_layout,
)
from spine_rt.models.cross_tri_attention import CrossTriAttention  # noqa: E402

pytestmark = pytest.mark.torch

STAGES = [
    ("stage1", SSHSNET_AUTHORS_STAGE_ONE, "stage1_pair", {"stem_pool": "ceil"}, 886),
    ("stage2", SSHSNET_AUTHORS_STAGE_TWO, "stage2", {}, 464),
]


@pytest.mark.parametrize("stage, layout, network, config, count", STAGES, ids=["stage1", "stage2"])
def test_every_authors_key_maps_onto_spine_rt_and_back(stage, layout, network, config, count):
    entries = keys_json_entries(stage)
    assert len(entries) == count
    authors = {name.removeprefix("module."): shape for name, shape, _ in entries}
    assert find_layout(authors) is layout
    ours = {name: tuple(tensor.shape) for name, tensor in build(network, "full", **config).state_dict().items()}

    mapped = {}
    for name, shape in authors.items():
        target = layout.to_spine_rt(name)
        assert target is not None, f"no rule for {name}"
        assert target not in mapped, f"{name} and {mapped[target]} both map to {target}"
        assert ours.get(target) == shape, f"{name} -> {target}: {shape} vs {ours.get(target)}"
        assert layout.to_foreign(target) == name
        mapped[target] = name
    assert set(mapped) == set(ours)  # none left over, none missing
    for name in ours:
        assert layout.to_foreign(name) in authors


@pytest.mark.parametrize("prefix", ["module.", ""], ids=["data-parallel", "bare"])
def test_authors_files_load_with_or_without_module_prefix(tmp_path, prefix):
    torch.manual_seed(0)
    pair = build("stage1_pair", "tiny", stem_pool="ceil").eval()
    second = build("stage2", "tiny", patch_size=(32, 32, 4)).eval()
    for network, layout in ((pair, SSHSNET_AUTHORS_STAGE_ONE), (second, SSHSNET_AUTHORS_STAGE_TWO)):
        file = tmp_path / f"M0.9{layout.network}.pkl"
        torch.save(as_authors_checkpoint(network, layout, prefix), file)
        config = {"stem_pool": "ceil"} if network is pair else {"patch_size": (32, 32, 4)}
        fresh = build(layout.network, "tiny", **config)
        assert load_checkpoint_format(fresh, file) == layout.name
        for name, tensor in network.state_dict().items():
            torch.testing.assert_close(fresh.state_dict()[name], tensor, rtol=0, atol=0)
    assert load_checkpoint(build("stage1_pair", "tiny"), pair.state_dict()) is not None  # spine-rt's own still load
    assert load_checkpoint_format(build("stage1_pair", "tiny", stem_pool="ceil"), pair.state_dict()) == "spine-rt"


def test_authors_stage_one_needs_the_ceil_stem_and_the_right_stage():
    torch.manual_seed(0)
    authors = as_authors_checkpoint(build("stage1_pair", "tiny", stem_pool="ceil"), SSHSNET_AUTHORS_STAGE_ONE)
    with pytest.raises(InputError, match=r"stem_pool='ceil'") as error:
        load_checkpoint(build("stage1_pair", "tiny"), authors)
    assert "\n" not in str(error.value)
    with pytest.raises(InputError, match=r"authors' stage one.*does not fit StageTwoNet"):
        load_checkpoint(build("stage2", "tiny", patch_size=(32, 32, 4)), authors)


def test_an_unknown_layout_is_one_line_naming_the_first_differing_keys():
    torch.manual_seed(0)
    pair = build("stage1_pair", "tiny", stem_pool="ceil")
    foreign = {name.replace("encoder", "backbone"): tensor for name, tensor in pair.state_dict().items()}
    with pytest.raises(InputError) as error:
        load_checkpoint(pair, foreign)
    message = str(error.value)
    assert "\n" not in message
    assert "missing (branch1.encoder.stem.0.weight, branch1.encoder.stem.1.weight" in message
    assert "unexpected (branch1.backbone.stem.0.weight" in message
    assert ("neither spine-rt's names nor a recognised layout (sshsnet-authors-stage1, sshsnet-authors-stage2)"
            in message)
    # an authors' file with one renamed key: recognised, and the stray key is named
    authors = as_authors_checkpoint(pair, SSHSNET_AUTHORS_STAGE_ONE)
    authors["module.branch1.decoder.aspp.0.extra.weight"] = torch.zeros(1)
    with pytest.raises(InputError, match=r"1 keys follow no rule of that layout \(branch1\.decoder\.aspp\.0\.extra"):
        load_checkpoint(pair, authors)


def test_cross_tri_attention_matches_the_seeds_formulas():
    torch.manual_seed(0)
    grid, channels, key_channels = (6, 5, 3), 8, 4
    module = CrossTriAttention(channels, key_channels, grid).double().eval()
    with torch.no_grad():
        for gamma, value in ((module.in_plane.gamma, 0.7), (module.slice.gamma, -0.4), (module.channel.gamma, 0.3)):
            gamma.fill_(value)
    f2 = torch.randn(2, channels, *grid, dtype=torch.float64)
    f3 = torch.randn(2, channels, *grid, dtype=torch.float64)
    plane = module.in_plane
    expected = cross_tri_attention(f2, f3, plane.query.weight, plane.query.bias, plane.key.weight, plane.key.bias,
                                   plane.value.weight, plane.value.bias, 0.7, -0.4, 0.3)
    with torch.no_grad():
        got = module(f2, f3)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)
    # the formulas are sensitive to the order of F2 and F3: swapping them is caught
    assert not torch.allclose(module(f3, f2), expected)


def test_stage_two_with_authors_weights_matches_a_transcription_of_their_network():
    """The whole authors' stage two (full widths, small patch), their weights loaded by name into spine-rt's
    network, against a functional transcription that reads the authors' keys directly."""
    patch = (32, 32, 4)
    state = random_authors_state(keys_json_entries("stage2"), seed=5)
    network = build("stage2", "full", patch_size=patch).eval()
    assert load_checkpoint_format(network, state) == "sshsnet-authors-stage2"
    generator = torch.Generator().manual_seed(6)
    image = torch.randn(2, 21, *patch, generator=generator)
    features = torch.randn(2, 512, patch[0] // 4, patch[1] // 4, patch[2], generator=generator)
    authors = {name.removeprefix("module."): tensor.double() if tensor.is_floating_point() else tensor
               for name, tensor in state.items()}
    with torch.no_grad():
        expected = stage_two(authors, image.double(), features.double())
        got = network(image, features).double()
    scale = expected.abs().max()
    assert scale > 1e-3 and expected.std() > 1e-3 * scale  # not a degenerate output
    relative = ((got - expected).abs().max() / scale).item()
    print(f"stage two vs transcription: max abs {(got - expected).abs().max().item():.3e}, relative {relative:.3e}")
    assert relative < 1e-4
