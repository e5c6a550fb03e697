"""Packages shared by the export tests: exported once per session with tiny presets and small patches."""

from __future__ import annotations

import pytest

#: small patches keep the tiny networks fast on 2 CPU cores
SSHSNET_PATCHES = {"stage1": (64, 64), "stage2": (32, 32, 4)}
XRAY_PATCH = {"xray": (64, 64)}


@pytest.fixture(scope="session")
def sshsnet_package(tmp_path_factory):
    """sshsnet, tiny, random init, FP32 + FP16, one fold per stage."""
    pytest.importorskip("torch")
    from spine_rt.export import export_package

    out = tmp_path_factory.mktemp("sshsnet") / "pkg"
    return export_package("sshsnet", out=out, preset="tiny", precisions="fp32,fp16", random_init=True,
                          patch_sizes=SSHSNET_PATCHES, seed=0)


@pytest.fixture(scope="session")
def bilunet_checkpoints(tmp_path_factory):
    """Two different tiny BiLuNet checkpoints (``{"state_dict": ...}`` and a bare state dict)."""
    torch = pytest.importorskip("torch")
    from spine_rt.models import build

    folder = tmp_path_factory.mktemp("checkpoints")
    paths = []
    for index in range(2):
        torch.manual_seed(10 + index)
        state = build("bilunet", "tiny").state_dict()
        path = folder / f"bilunet_fold{index}.pt"
        torch.save({"state_dict": state, "epoch": 3} if index == 0 else state, path)
        paths.append(path)
    return paths
