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


def test_the_device_schedule_asks_the_runners_what_they_take_not_their_backend_name():
    """Capabilities decide (``accepts_torch_tensors``, and on CUDA ``accepts_streams``), whatever the name."""
    from spine_rt.errors import InputError
    from spine_rt.pipelines import StageRunners
    from spine_rt.pipelines.schedules.lanes import choose_pipelining

    class Runner:
        def __init__(self, tensors: bool, streams: bool) -> None:
            self.accepts_torch_tensors, self.accepts_streams = tensors, streams

    def stage(name, runner, device, backend="tensorrt"):
        return StageRunners(name, (runner,), (0,), ("x",), ("y",), (8, 8), backend=backend, device=device)

    both = Runner(True, True)
    assert choose_pipelining("auto", "fast", stage("stage1", both, "cuda:0", "anything"),
                             stage("stage2", both, "cuda:0", "anything")).mode == "two-stream"
    no_streams = Runner(True, False)
    choice = choose_pipelining("auto", "fast", stage("stage1", no_streams, "cuda:0"),
                               stage("stage2", no_streams, "cuda:0"))
    assert choice.mode == "off" and "CUDA stream" in choice.reason
    with pytest.raises(InputError, match="CUDA stream"):
        choose_pipelining("sequential", "fast", stage("stage1", no_streams, "cuda:0"),
                          stage("stage2", no_streams, "cuda:0"))
    # on the CPU no stream is passed: torch tensors are enough
    assert choose_pipelining("sequential", "fast", stage("stage1", no_streams, "cpu"),
                             stage("stage2", no_streams, "cpu")).mode == "sequential"
    with pytest.raises(InputError, match="do not take torch tensors"):
        choose_pipelining("sequential", "fast", stage("stage1", Runner(False, True), "cpu", "torch"),
                          stage("stage2", both, "cpu", "torch"))
