"""Seeds of a training run: one derived seed per epoch, so a resumed run repeats a straight one.

Every epoch starts from ``epoch_seed(seed, epoch)``: the numpy generator of
the samplers, torch's generator (dropout, initial weights come from
``seed`` itself) and the MONAI transforms are reseeded from it. A run
resumed after epoch ``k`` therefore draws exactly the batches of epoch
``k + 1`` of an uninterrupted run. On the CPU a seeded run is repeatable
bit for bit; on CUDA, kernels chosen by cuDNN may differ slightly.
"""

from __future__ import annotations

import numpy as np
import torch


def epoch_seed(seed: int, epoch: int) -> int:
    """A 32-bit seed for ``epoch`` of a run seeded with ``seed`` (independent streams per epoch)."""
    return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1)[0])


def seed_torch(seed: int) -> None:
    """Seed torch's CPU and CUDA generators."""
    torch.manual_seed(int(seed))
