"""Direct transcriptions of SEEDS.md's SSHSNet stage-two facts, written against the authors' key names.

Test helpers only: each formula is spelled out with ``einsum`` and functional
convolutions on a state dict in the SSHSNet authors' layout (keys.json), so
that spine-rt's modules (their reshapes, their renamed weights) are checked
against an independent reading of the same facts. float64 throughout.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

ATROUS_RATES = (12, 24, 36)


def cross_tri_attention(f2: torch.Tensor, f3: torch.Tensor, query_w, query_b, key_w, key_b, value_w, value_b,
                        g1: float, g2: float, g3: float) -> torch.Tensor:
    """SEEDS' cross tri-attention on ``F2`` (stage-one features) and ``F3`` (3D decoder), both ``(B, C, X, Y, Z)``.

    1. ``Q, K, V`` = 1x1x1 convs of ``F2``; slices folded into the features:
       ``A = softmax_q(sum_{c,z} Q[c,z,p] K[c,z,q])`` over the ``X*Y`` positions;
       ``F3' = g1 * V A^T + F3``.
    2. ``X = F3`` as ``(Z, C*X*Y)``: ``E = X X^T``; ``S = softmax(rowmax(E) - E)``; ``F2' = g2 * S X + F2``.
    3. ``X = cat(F2', F3')``: ``E = X X^T`` over channels; ``out = g3 * softmax(rowmax(E) - E) X + X``.
    """
    batch, channels, size_x, size_y, size_z = f3.shape
    q = F.conv3d(f2, query_w, query_b).reshape(batch, -1, size_x * size_y, size_z)  # (B, k, P, Z)
    k = F.conv3d(f2, key_w, key_b).reshape(batch, -1, size_x * size_y, size_z)
    v = F.conv3d(f2, value_w, value_b).reshape(batch, channels, size_x * size_y, size_z)
    attention = torch.softmax(torch.einsum("bcpz,bcqz->bpq", q, k), dim=-1)
    f3_new = g1 * torch.einsum("bcqz,bpq->bcpz", v, attention).reshape(f3.shape) + f3

    energy = torch.einsum("bcxyz,bcxyw->bzw", f3, f3)
    slices = torch.softmax(energy.amax(dim=-1, keepdim=True) - energy, dim=-1)
    f2_new = g2 * torch.einsum("bzw,bcxyw->bcxyz", slices, f3) + f2

    x = torch.cat([f2_new, f3_new], dim=1).reshape(batch, 2 * channels, -1)
    energy = torch.einsum("bcn,bdn->bcd", x, x)
    channel = torch.softmax(energy.amax(dim=-1, keepdim=True) - energy, dim=-1)
    out = g3 * torch.einsum("bcd,bdn->bcn", channel, x) + x
    return out.reshape(batch, 2 * channels, size_x, size_y, size_z)


def _bn(x: torch.Tensor, state: dict, name: str) -> torch.Tensor:
    return F.batch_norm(x, state[f"{name}.running_mean"], state[f"{name}.running_var"], state[f"{name}.weight"],
                        state[f"{name}.bias"], False, 0.0, 1e-5)


def _separable(x: torch.Tensor, state: dict, name: str, padding, dilation=1) -> torch.Tensor:
    depthwise = state[f"{name}.0.weight"]
    x = F.conv3d(x, depthwise, padding=padding, dilation=dilation, groups=depthwise.shape[0])
    return F.conv3d(x, state[f"{name}.1.weight"])


def _encoder(x: torch.Tensor, state: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """SEEDS' anisotropic 3D SE-ResNeXt-50: stem (7,7,1)/(2,2,1) + maxpool (3,3,1)/(2,2,1); layers 1-3
    (3,3,1), layers 2-3 stride (2,2,1); layer 4 3x3x3 stride 1; SE gate before the residual addition."""
    x = F.relu(_bn(F.conv3d(x, state["encoder.conv1.weight"], stride=(2, 2, 1), padding=(3, 3, 0)),
                   state, "encoder.bn1"))
    x = F.max_pool3d(x, (3, 3, 1), (2, 2, 1), (1, 1, 0))
    low = x
    for layer, stride, padding in ((1, 1, (1, 1, 0)), (2, (2, 2, 1), (1, 1, 0)), (3, (2, 2, 1), (1, 1, 0)),
                                   (4, 1, 1)):
        block = 0
        while f"encoder.layer{layer}.{block}.conv1.weight" in state:
            name = f"encoder.layer{layer}.{block}"
            step = stride if block == 0 else 1
            grouped = state[f"{name}.conv2.weight"]
            out = F.relu(_bn(F.conv3d(x, state[f"{name}.conv1.weight"]), state, f"{name}.bn1"))
            out = F.relu(_bn(F.conv3d(out, grouped, stride=step, padding=padding,
                                      groups=grouped.shape[0] // grouped.shape[1]), state, f"{name}.bn2"))
            out = _bn(F.conv3d(out, state[f"{name}.conv3.weight"]), state, f"{name}.bn3")
            gate = out.mean(dim=(2, 3, 4), keepdim=True)
            gate = F.relu(F.conv3d(gate, state[f"{name}.selayer.conv1.weight"], state[f"{name}.selayer.conv1.bias"]))
            gate = torch.sigmoid(F.conv3d(gate, state[f"{name}.selayer.conv2.weight"],
                                          state[f"{name}.selayer.conv2.bias"]))
            shortcut = x
            if f"{name}.downsample.0.weight" in state:
                shortcut = _bn(F.conv3d(x, state[f"{name}.downsample.0.weight"], stride=step), state,
                               f"{name}.downsample.1")
            x = F.relu(out * gate + shortcut)
            block += 1
        if layer == 1:
            low = x
    return low, x


def _decoder(low: torch.Tensor, high: torch.Tensor, state: dict) -> torch.Tensor:
    """SEEDS' 3D DeepLabv3+: ASPP (1x1x1, separable 3^3 at 12/24/36, image pooling) -> 1x1x1 -> separable
    3^3 -> trilinear x(4,4,1) (align_corners) ; skip 1x1x1 to 48 ch; separable (3,3,1)."""
    p = "assp.aspp.0.convs"
    branches = [F.relu(_bn(F.conv3d(high, state[f"{p}.0.0.weight"]), state, f"{p}.0.1"))]
    for index, rate in enumerate(ATROUS_RATES, start=1):
        branches.append(F.relu(_bn(_separable(high, state, f"{p}.{index}.0", rate, rate), state, f"{p}.{index}.1")))
    pooled = F.relu(_bn(F.conv3d(high.mean(dim=(2, 3, 4), keepdim=True), state[f"{p}.4.1.weight"]), state, f"{p}.4.2"))
    branches.append(pooled.expand(-1, -1, *high.shape[2:]))
    x = F.relu(_bn(F.conv3d(torch.cat(branches, 1), state["assp.aspp.0.project.0.weight"]), state,
                   "assp.aspp.0.project.1"))
    x = F.relu(_bn(_separable(x, state, "assp.aspp.1", 1), state, "assp.aspp.2"))
    x = F.interpolate(x, scale_factor=(4, 4, 1), mode="trilinear", align_corners=True)
    skip = F.relu(_bn(F.conv3d(low, state["assp.block1.0.weight"]), state, "assp.block1.1"))
    x = torch.cat([x, skip], 1)
    return F.relu(_bn(_separable(x, state, "assp.block2.0", (1, 1, 0)), state, "assp.block2.1"))


def stage_two(state: dict, image: torch.Tensor, stage_one_features: torch.Tensor) -> torch.Tensor:
    """The authors' stage two on a state dict with their key names (without ``module.``): logits
    ``(B, classes, X, Y, Z)`` for ``image`` ``(B, 21, X, Y, Z)`` and features ``(B, 512, X/4, Y/4, Z)``."""
    low, high = _encoder(image, state)
    f3 = _decoder(low, high, state)
    f2 = F.relu(_bn(F.conv3d(stage_one_features, state["conv1.weight"], padding=(1, 1, 0)), state, "bn1"))
    gate = "dual_att_module_feature.sam.SpatialGate"
    fused = cross_tri_attention(
        f2, f3, state[f"{gate}.query_conv.weight"], state[f"{gate}.query_conv.bias"],
        state[f"{gate}.key_conv.weight"], state[f"{gate}.key_conv.bias"],
        state[f"{gate}.value_conv.weight"], state[f"{gate}.value_conv.bias"],
        state[f"{gate}.gamma"], state["dual_att_module_feature.za.gamma"], state["dual_att_module_feature.chan.gamma"])
    x = F.relu(_bn(F.conv3d(fused, state["conv2.weight"], padding=(1, 1, 0)), state, "bn2"))
    logits = F.conv3d(x, state["segmentation.weight"], state["segmentation.bias"])
    return F.interpolate(logits, size=image.shape[2:], mode="trilinear", align_corners=True)
