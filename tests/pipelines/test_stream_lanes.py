"""Which CUDA stream each lane of the device fast schedule runs on (CPU), and that order mode records events (GPU).

In order mode on CUDA the stage-one foreground is copied to pinned memory
with ``non_blocking=True``; the host must wait for an event recorded after
that copy before it reads the ROI. Before the fix order mode had no streams,
``StreamLanes.record`` returned ``None`` and ``host_wait(None)`` waited for
nothing; the plan below must give every lane a stream on CUDA.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.torch


def test_order_mode_on_cuda_puts_every_lane_on_one_dedicated_stream():
    from spine_rt.pipelines.schedules.lanes import LANES, ORDER_STREAM, lane_streams

    plan = lane_streams("cuda", two_streams=False)
    assert set(plan) == set(LANES)  # every lane has a stream, so record() gives real events
    assert set(plan.values()) == {ORDER_STREAM}


def test_two_streams_on_cuda_give_each_lane_its_own_stream():
    from spine_rt.pipelines.schedules.lanes import LANES, lane_streams

    plan = lane_streams("cuda", two_streams=True)
    assert sorted(plan.values()) == sorted(LANES)


@pytest.mark.parametrize("two_streams", [True, False])
def test_cpu_tensors_have_no_streams_and_no_events(two_streams):
    import torch

    from spine_rt.pipelines.schedules.lanes import StreamLanes, lane_streams

    assert lane_streams("cpu", two_streams) == {}
    lanes = StreamLanes(torch.device("cpu"), two_streams)
    assert lanes.record("one") is None


@pytest.mark.gpu
def test_order_mode_on_cuda_records_real_events_on_a_non_default_stream():
    import torch

    from spine_rt.pipelines.schedules.lanes import StreamLanes

    device = torch.device("cuda:0")
    lanes = StreamLanes(device, two_streams=False)
    lanes.start()
    stream = lanes.stream("one")
    assert stream is not None and stream == lanes.stream("copy") == lanes.stream("two")
    assert stream.cuda_stream != torch.cuda.default_stream(device).cuda_stream
    with lanes.lane("one"):
        assert torch.cuda.current_stream(device) == stream
        big = torch.ones((4096, 4096), device=device)
        host = torch.empty_like(big, device="cpu").pin_memory()
        host.copy_(big * 2, non_blocking=True)
        event = lanes.record("one")
    assert isinstance(event, torch.cuda.Event)
    from spine_rt.pipelines.schedules.lanes import host_wait

    host_wait(event)
    assert float(host[-1, -1]) == 2.0  # read only after the event: the copy has landed
    lanes.join()
