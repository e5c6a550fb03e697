"""The fast schedule on torch tensors equals it on numpy arrays; its slab order equals its unsliced order.

Networks: the tiny SSHSNet stages with seeded random weights (batch norms
calibrated, as ``spine-rt export --random-init``), stage one at 64 x 128
(half resolution) and stage two at 64 x 64 x 12. With random weights stage
one's foreground is everywhere, so a second stage one thresholds the centre
slice (a torch module, so it runs on the device too) to give a ROI that
skips windows.

* CPU (``torch``): :class:`FastSchedule` on numpy arrays vs on CPU tensors
  (``device="cpu"``), unsliced and sliced (sequential lanes), ROI on/off, two
  folds, a volume tall enough for several slabs, no foreground at all; the
  order work is queued in; the pipeline option.
* GPU (``gpu``): two streams on cuda:0 vs one stream on cuda:0 (fp32, and
  fp16 + channels-last), and no synchronisation during a call (torch's sync
  debug mode raises on ``.item()``, ``.cpu()``, ``nonzero``, blocking copies).
* TensorRT (``tensorrt`` + ``gpu``): the same with engines of the tiny package.
"""

from __future__ import annotations

import copy
import dataclasses
import shutil

import numpy as np
import pytest
from pipeline_fakes import ipr_affine, model_grid_volume

import spine_rt
from spine_rt.errors import InputError
from spine_rt.io import Image
from spine_rt.pipelines import PipelineOptions, SpineMrPipeline, StageRunners
from spine_rt.pipelines.schedules.fast import FastSchedule

pytestmark = pytest.mark.torch

STAGE_ONE_PATCH = (64, 128)
STAGE_TWO_PATCH = (64, 64, 12)
SPACING = (0.6896, 0.6896, 4.4)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _network(name: str, seed: int):
    import torch

    from spine_rt.export.model_families import network_config
    from spine_rt.export.parity_inputs import parity_inputs
    from spine_rt.export.random_init import calibrate_batch_norms, randomize_for_export
    from spine_rt.models import build

    patch = STAGE_TWO_PATCH if name == "stage2" else STAGE_ONE_PATCH
    network = build(name, "tiny", **({"patch_size": patch} if name == "stage2" else {}))
    randomize_for_export(network, seed=seed)
    calibration = parity_inputs(name, network_config(network), patch, batch=2, seed=seed + 1)
    calibrate_batch_norms(network, [torch.from_numpy(calibration[n]) for n in network.input_names])
    return network.eval()


@pytest.fixture(scope="module")
def networks():
    """Two folds of each stage: ``{"stage1": [a, b], "stage2": [a, b]}``."""
    return {"stage1": [_network("stage1_pair", 11), _network("stage1_pair", 12)],
            "stage2": [_network("stage2", 21), _network("stage2", 22)]}


def threshold_stage_one(classes: int, features: int, threshold: float):
    """A torch stage one: class 5 where the centre slice exceeds ``threshold``, 4x4-pooled features."""
    import torch

    class Threshold(torch.nn.Module):
        def forward(self, slices):
            centre = slices[:, 1:2]
            bright = (centre > threshold).to(slices.dtype)
            probabilities = torch.cat([1 - bright, torch.zeros_like(centre).repeat(1, 4, 1, 1), bright,
                                       torch.zeros_like(centre).repeat(1, classes - 6, 1, 1)], dim=1)
            pooled = torch.nn.functional.avg_pool2d(centre, 4)
            return probabilities, pooled.repeat(1, features, 1, 1)

    return Threshold()


def stages(ones, twos, device="cpu", **options) -> tuple[StageRunners, StageRunners]:
    """One TorchRunner per fold on copies of the networks."""
    from spine_rt.runtime import TensorSpec, TorchRunner

    classes = int(twos[0].config.num_classes)
    feature_channels = int(twos[0].config.stage_one_feature_channels)
    quarter = (STAGE_TWO_PATCH[0] // 4, STAGE_TWO_PATCH[1] // 4, STAGE_TWO_PATCH[2])
    specs_one = [TensorSpec("slices", (None, 3, *STAGE_ONE_PATCH), "float32")]
    specs_two = [TensorSpec("image", (None, 1 + classes, *STAGE_TWO_PATCH), "float32"),
                 TensorSpec("stage_one_features", (None, feature_channels, *quarter), "float32")]
    precision = options.get("precision", "fp32")
    first = StageRunners("stage1", tuple(TorchRunner(copy.deepcopy(m), specs_one, ["probabilities", "features"],
                                                     device=device, **options) for m in ones),
                         tuple(range(len(ones))), ("slices",), ("probabilities", "features"), STAGE_ONE_PATCH,
                         backend="torch", device=device, precision=precision)
    second = StageRunners("stage2", tuple(TorchRunner(copy.deepcopy(m), specs_two, ["logits"], device=device,
                                                      **options) for m in twos),
                          tuple(range(len(twos))), ("image", "stage_one_features"), ("logits",), STAGE_TWO_PATCH,
                          backend="torch", device=device, precision=precision)
    return first, second


def host_schedule(first, second, roi=True, margin_mm=20.0) -> FastSchedule:
    return FastSchedule(first, second, 2, SPACING, 8, 4, roi, margin_mm, 0.5)


def on_device(host: FastSchedule, device: str, two_streams: bool, sliced: bool = True) -> FastSchedule:
    """The same schedule on torch tensors on ``device`` (one or two lanes)."""
    return dataclasses.replace(host, device=device, lanes=2 if two_streams else 1, sliced=sliced)


def normalised(volume: np.ndarray) -> np.ndarray:
    return ((volume - volume.mean()) / volume.std()).astype(np.float32)


def spine_like(shape=(384, 128, 12), seed=4) -> np.ndarray:
    """Noise with one bright block in the upper part: stage one's foreground, so the ROI skips rows below."""
    rng = np.random.default_rng(seed)
    volume = rng.standard_normal(shape).astype(np.float32)
    volume[100:200, 40:60, 3:9] += 5.0
    return volume


def assert_same_prediction(got, expected, what: str) -> None:
    """Labels on >= 99.99 % of voxels, probabilities within 1e-4, the same counts of work."""
    agreement = float((got.label_map() == expected.label_map()).mean())
    assert agreement >= 0.9999, f"{what}: labels agree on {agreement:.6f}"
    if got.probabilities is not None and expected.probabilities is not None:
        np.testing.assert_allclose(got.probabilities, expected.probabilities, atol=1e-4, rtol=0, err_msg=what)
    for key, value in expected.counts.items():
        if key in ("slabs", "slabs_with_stage_two"):  # how the work was cut, not how much ran
            continue
        assert got.counts[key] == value, f"{what}: {key} {got.counts[key]} != {value}"


# ---------------------------------------------------------------- CPU: device schedule vs host schedule
@pytest.mark.parametrize("roi", [True, False])
def test_device_schedule_on_cpu_equals_the_host_schedule(networks, roi):
    first, second = stages(networks["stage1"][:1], networks["stage2"][:1])
    host = host_schedule(first, second, roi=roi)
    volume = normalised(model_grid_volume((160, 128, 12), seed=2))
    expected = host.predict(volume)
    assert len(np.unique(expected.label_map())) > 1
    for sliced in (False, True):
        device = on_device(host, "cpu", two_streams=False, sliced=sliced)
        assert_same_prediction(device.predict(volume), expected, f"sliced={sliced}")


def test_float16_maps_on_torch_tensors_equal_the_host_and_stay_close_to_float32(networks):
    """Stage one's maps held in float16 (``maps_dtype``): the torch-tensor loop gives the host's labels, and both
    stay within float16's rounding of the float32 maps."""
    first, second = stages(networks["stage1"][:1], networks["stage2"][:1])
    exact = host_schedule(first, second)
    half = dataclasses.replace(exact, maps_dtype="float16")
    volume = normalised(model_grid_volume((160, 128, 12), seed=2))
    expected = half.predict(volume)
    assert_same_prediction(on_device(half, "cpu", two_streams=False).predict(volume), expected, "torch float16")
    reference = exact.predict(volume)
    assert float((expected.label_map() == reference.label_map()).mean()) >= 0.999
    np.testing.assert_allclose(expected.probabilities, reference.probabilities, atol=2e-3, rtol=0)


def test_two_folds_on_cpu_equal_the_host_schedule(networks):
    first, second = stages(networks["stage1"], networks["stage2"])
    host = host_schedule(first, second)
    volume = normalised(model_grid_volume((96, 128, 12), seed=3))
    expected = host.predict(volume)
    got = on_device(host, "cpu", two_streams=False).predict(volume)
    assert_same_prediction(got, expected, "two folds")


def test_slabs_with_a_roi_equal_the_unsliced_order_and_the_host(networks):
    classes = int(networks["stage2"][0].config.num_classes)
    features = int(networks["stage2"][0].config.stage_one_feature_channels)
    first, second = stages([threshold_stage_one(classes, features, 2.5)], networks["stage2"][:1])
    host = host_schedule(first, second, margin_mm=20.0)
    volume = spine_like()
    expected = host.predict(volume)
    counts = expected.counts
    assert 0 < counts["stage_two_patches_run"] < counts["stage_two_patches_total"]  # the ROI skips windows

    unsliced = on_device(host, "cpu", two_streams=False, sliced=False).predict(volume)
    assert unsliced.counts["slabs"] == 1
    # one stream runs slab by slab: a stage two reading a row its slab did not finish would differ
    sequential_trace: list[tuple[str, int]] = []
    sliced_schedule = on_device(host, "cpu", two_streams=False, sliced=True)
    sliced = sliced_schedule.predict(volume, trace=sequential_trace)
    assert sliced.counts["slabs"] >= 3 and sliced.counts["slabs_with_stage_two"] >= 3
    np.testing.assert_array_equal(sliced.label_map(), unsliced.label_map())
    np.testing.assert_allclose(sliced.probabilities, unsliced.probabilities, atol=1e-6, rtol=0)
    assert_same_prediction(sliced, expected, "sliced vs host")
    slabs = sliced.counts["slabs"]
    assert sequential_trace == [(step, k) for k in range(slabs) for step in ("upload", "stage_one", "stage_two")]

    labels_only = sliced_schedule.predict(volume, keep_probabilities=False)
    assert labels_only.probabilities is None
    np.testing.assert_array_equal(labels_only.labels, sliced.label_map())

    # the two-stream queue order (null streams on the CPU): stage one of slab k + 1 before stage two of slab k
    trace: list[tuple[str, int]] = []
    lookahead = on_device(host, "cpu", two_streams=True, sliced=True).predict(volume, trace=trace)
    np.testing.assert_array_equal(lookahead.label_map(), sliced.label_map())
    for step in ("upload", "stage_one", "stage_two"):
        assert [k for s, k in trace if s == step] == list(range(slabs))
    for k in range(slabs - 1):
        assert trace.index(("stage_one", k + 1)) < trace.index(("stage_two", k))


def test_no_foreground_runs_no_stage_two_window(networks):
    classes = int(networks["stage2"][0].config.num_classes)
    features = int(networks["stage2"][0].config.stage_one_feature_channels)
    first, second = stages([threshold_stage_one(classes, features, 100.0)], networks["stage2"][:1])
    host = host_schedule(first, second)
    volume = spine_like((160, 128, 12))
    expected = host.predict(volume)
    got = on_device(host, "cpu", two_streams=False).predict(volume)
    assert got.counts["stage_two_calls"] == expected.counts["stage_two_calls"] == 0
    assert_same_prediction(got, expected, "no foreground")


# ---------------------------------------------------------------- the pipeline option
def test_pipelining_option_in_the_pipeline(networks):
    def fresh():  # a closed pipeline closes its runners
        return stages(networks["stage1"][:1], networks["stage2"][:1])

    image = Image(model_grid_volume((96, 128, 12), seed=6), ipr_affine())
    with SpineMrPipeline(*fresh(), PipelineOptions(pipelining="off")) as host_pipe:
        host = host_pipe(image, return_probabilities=True)
        assert host.report["pipelining"] == "off"
    auto = SpineMrPipeline(*fresh())  # CPU runners: auto keeps the host schedule and says why
    assert auto.settings()["pipelining"] == "off" and "CUDA" in auto.settings()["pipelining_reason"]
    assert isinstance(auto.schedule, FastSchedule) and auto.schedule.device is None
    with SpineMrPipeline(*fresh(), PipelineOptions(pipelining="sequential")) as device_pipe:
        assert device_pipe.schedule.device == "cpu" and device_pipe.schedule.lanes == 1
        device = device_pipe(image, return_probabilities=True)
    assert device.report["pipelining"] == "sequential"
    assert float((device.labels == host.labels).mean()) >= 0.9999
    np.testing.assert_allclose(device.probabilities, host.probabilities, atol=1e-4, rtol=0)
    with pytest.raises(InputError, match="needs a CUDA device"):
        SpineMrPipeline(*fresh(), PipelineOptions(pipelining="two-stream"))
    with pytest.raises(InputError, match="valid values: auto, two-stream, sequential, off"):
        SpineMrPipeline(*fresh(), PipelineOptions(pipelining="on"))
    with pytest.raises(InputError, match="no device version"):
        SpineMrPipeline(*fresh(), PipelineOptions(schedule="reference", pipelining="sequential"))


def test_tta_with_the_device_schedule_equals_the_host(networks):
    image = Image(model_grid_volume((64, 128, 12), seed=7), ipr_affine())
    results = []
    for mode in ("off", "sequential"):
        first, second = stages(networks["stage1"][:1], networks["stage2"][:1])
        with SpineMrPipeline(first, second, PipelineOptions(tta=True, pipelining=mode)) as pipe:
            results.append(pipe(image, return_probabilities=True))
    np.testing.assert_allclose(results[1].probabilities, results[0].probabilities, atol=1e-4, rtol=0)
    assert results[1].report["counts"]["tta_passes"] == 2


def test_load_pipeline_checks_the_pipelining_value(tiny_package):
    with pytest.raises(InputError, match="unknown pipelining 'fast'; valid values: auto, two-stream"):
        spine_rt.load_pipeline(tiny_package.root, backend="torch", device="cpu", pipelining="fast")
    with spine_rt.load_pipeline(tiny_package.root, backend="onnxruntime", device="cpu") as pipe:
        settings = pipe.settings()
    assert settings["pipelining"] == "off" and "do not take torch tensors" in settings["pipelining_reason"]
    with pytest.raises(InputError, match="needs the device fast schedule"):
        spine_rt.load_pipeline(tiny_package.root, backend="onnxruntime", device="cpu", pipelining="sequential")
    with spine_rt.load_pipeline(tiny_package.root, backend="torch", device="cpu", pipelining="sequential") as pipe:
        assert pipe.schedule.device == "cpu"


def test_bounded_memory_on_torch_tensors_gives_the_same_labels(networks, monkeypatch):
    """Only labels asked for: on torch tensors too the merger keeps only the rows still being written."""
    from spine_rt.patching import RowMerger

    first, second = stages(networks["stage1"][:1], networks["stage2"][:1])
    host = host_schedule(first, second)
    volume = spine_like(seed=6)
    capacity: dict[bool, int] = {}
    allocate = RowMerger._allocate

    def recorded(self, rows):
        capacity[self._bounded] = max(capacity.get(self._bounded, 0), rows)
        return allocate(self, rows)

    monkeypatch.setattr(RowMerger, "_allocate", recorded)
    device = on_device(host, "cpu", two_streams=False)
    full = device.predict(volume, keep_probabilities=True)
    bounded = device.predict(volume, keep_probabilities=False)
    assert bounded.probabilities is None
    np.testing.assert_array_equal(bounded.label_map(), full.label_map())
    np.testing.assert_array_equal(bounded.label_map(), host.predict(volume, keep_probabilities=False).label_map())
    assert capacity[False] == volume.shape[0] and capacity[True] < volume.shape[0] // 2


#: what would make the host wait for a CUDA device inside the slab loop (each reads a device value on the host)
HIDDEN_SYNCS = (("Tensor", "item"), ("Tensor", "cpu"), ("Tensor", "numpy"), ("Tensor", "tolist"),
                ("Tensor", "nonzero"), ("Tensor", "__bool__"), ("Tensor", "__int__"), ("Tensor", "__float__"),
                ("torch", "nonzero"), ("cuda", "synchronize"), ("Stream", "synchronize"), ("Event", "synchronize"))


def watch_hidden_syncs(monkeypatch, during: list[bool]) -> list[str]:
    """Patch every :data:`HIDDEN_SYNCS` call to be recorded while ``during[0]`` is true; returns the record."""
    import torch

    owners = {"Tensor": torch.Tensor, "torch": torch, "cuda": torch.cuda, "Stream": torch.cuda.Stream,
              "Event": torch.cuda.Event}
    seen: list[str] = []
    for owner, name in HIDDEN_SYNCS:
        original = getattr(owners[owner], name)

        def watched(*args, _original=original, _name=f"{owner}.{name}", **kwargs):
            if during[0]:
                seen.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(owners[owner], name, watched)
    return seen


def test_the_slab_loop_reads_no_device_value_on_the_host(networks, monkeypatch):
    """Between the lanes' start and join (the slab loop) no tensor value is read on the host.

    On CPU tensors these calls cost nothing, but on a CUDA device each one
    would wait for the device (``.item()``, ``.cpu()``, ``nonzero``, ``bool``,
    stream/device synchronisation): the loop would no longer run ahead of
    the GPU. The one designed wait, the host waiting for a slab's foreground
    event (:func:`~spine_rt.pipelines.schedules.lanes.host_wait`), is outside
    this list. The control shows the watch sees a read the loop would make.
    """
    from spine_rt.pipelines.schedules.lanes import StreamLanes
    from spine_rt.pipelines.schedules.stage_one import StageOne

    first, second = stages(networks["stage1"][:1], networks["stage2"][:1])
    host = host_schedule(first, second)
    volume = spine_like(seed=6)
    during = [False]
    start, join = StreamLanes.start, StreamLanes.join

    def watched_start(self):
        start(self)
        during[0] = True

    def watched_join(self):
        during[0] = False
        join(self)

    monkeypatch.setattr(StreamLanes, "start", watched_start)
    monkeypatch.setattr(StreamLanes, "join", watched_join)
    seen = watch_hidden_syncs(monkeypatch, during)
    for lanes in (1, 2):
        result = dataclasses.replace(host, device="cpu", lanes=lanes).predict(volume)
        assert result.counts["stage_two_patches_run"] > 0 and not during[0]
        assert seen == [], f"lanes={lanes}: host reads of device values in the slab loop: {sorted(set(seen))}"

    # the control: a foreground read back with .any() inside the loop is seen
    foreground = StageOne.foreground
    monkeypatch.setattr(StageOne, "foreground", lambda self, rows: (lambda f: (bool(f.any()), f)[1])(
        foreground(self, rows)))
    dataclasses.replace(host, device="cpu").predict(volume)
    assert "Tensor.__bool__" in seen


# ---------------------------------------------------------------- GPU
def _cuda_pair(networks, **options):
    """The host schedule's settings with the runners on cuda:0: (two-stream, sequential) device schedules."""
    first, second = stages(networks["stage1"][:1], networks["stage2"][:1], device="cuda:0", **options)
    host = host_schedule(first, second)
    return (on_device(host, "cuda:0", two_streams=True),
            on_device(host, "cuda:0", two_streams=False), host)


@pytest.mark.gpu
@pytest.mark.parametrize("options", [{}, {"precision": "fp16", "channels_last": True}], ids=["fp32", "fp16-cl"])
def test_two_streams_on_cuda_equal_one_stream(networks, options):
    two, one, host = _cuda_pair(networks, **options)
    for volume in (normalised(model_grid_volume((160, 128, 12), seed=2)), spine_like(seed=5)):
        sequential = one.predict(volume)
        pipelined = two.predict(volume)
        assert pipelined.counts == sequential.counts
        if options:  # fp16: the same kernels on other streams; allow a rare tie to flip
            assert float((pipelined.label_map() == sequential.label_map()).mean()) >= 0.9999
            np.testing.assert_allclose(pipelined.probabilities, sequential.probabilities, atol=1e-3, rtol=0)
        else:
            np.testing.assert_array_equal(pipelined.label_map(), sequential.label_map())
            np.testing.assert_allclose(pipelined.probabilities, sequential.probabilities, atol=1e-5, rtol=0)
            assert_same_prediction(pipelined, host.predict(volume), "two streams vs host")


@pytest.mark.gpu
@pytest.mark.parametrize("two_streams", [True, False], ids=["two-stream", "sequential"])
def test_a_call_never_synchronizes_the_device(networks, monkeypatch, two_streams):
    """No hidden synchronisation inside the slab loop: ``.item()``, ``.cpu()``, ``nonzero``, blocking copies,
    ``torch.cuda.synchronize`` all raise under torch's sync debug mode, which is on while the lanes queue work.

    The host's waits for the foreground events (``Event.synchronize``) are the designed ones: they are
    counted, once per slab with stage-two rows. The results are read after the loop with the mode off.
    """
    import torch

    from spine_rt.pipelines.schedules import lanes
    from spine_rt.pipelines.schedules.lanes import StreamLanes

    two, one, _ = _cuda_pair(networks)
    schedule = two if two_streams else one
    volume = spine_like(seed=6)
    schedule.predict(volume)  # warm-up: runner activation, cuDNN choices

    calls = {"wait_event": 0, "host_wait": 0, "synchronize": 0}
    start, join = StreamLanes.start, StreamLanes.join
    synchronize = torch.cuda.synchronize
    wait_event = torch.cuda.Stream.wait_event
    host_wait = lanes.host_wait

    def strict_start(self):
        start(self)
        torch.cuda.set_sync_debug_mode("error")

    def relaxed_join(self):
        torch.cuda.set_sync_debug_mode("default")
        join(self)

    def counting_synchronize(*args, **kwargs):  # explicit: the debug mode does not flag it
        calls["synchronize"] += 1
        return synchronize(*args, **kwargs)

    def counting_wait_event(self, event):
        calls["wait_event"] += 1
        return wait_event(self, event)

    def counted_host_wait(event):
        calls["host_wait"] += 1
        assert isinstance(event, torch.cuda.Event)  # a real event: the foreground copy is waited for
        torch.cuda.set_sync_debug_mode("default")
        try:
            host_wait(event)
        finally:
            torch.cuda.set_sync_debug_mode("error")

    monkeypatch.setattr(torch.cuda, "synchronize", counting_synchronize)
    monkeypatch.setattr(StreamLanes, "start", strict_start)
    monkeypatch.setattr(StreamLanes, "join", relaxed_join)
    monkeypatch.setattr(torch.cuda.Stream, "wait_event", counting_wait_event)
    monkeypatch.setattr(lanes, "host_wait", counted_host_wait)
    try:
        result = schedule.predict(volume)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert calls["synchronize"] == 0
    assert calls["host_wait"] >= 1  # the ROI is on: the host waited for foreground events, not for nothing
    if two_streams:
        assert calls["wait_event"] >= 2 * result.counts["slabs"]  # the lanes were ordered by events


# ---------------------------------------------------------------- TensorRT
@pytest.mark.tensorrt
@pytest.mark.gpu
def test_tensorrt_two_streams_equal_one_stream_and_the_host(tiny_package, tmp_path):
    pytest.importorskip("tensorrt")
    pytest.importorskip("cuda.bindings")
    from spine_rt.engines import BuildOptions, build_engines

    root = tmp_path / "pkg"
    shutil.copytree(tiny_package.root, root)
    build_engines(root, BuildOptions(max_batch=8, precision="fp32"))
    image = Image(spine_like((384, 128, 12), seed=7) * 10 + 40, ipr_affine())
    results = {}
    for mode in ("two-stream", "sequential", "off"):
        with spine_rt.load_pipeline(root, backend="tensorrt", device="cuda:0", precision="fp32",
                                    pipelining=mode) as pipe:
            assert pipe.settings()["pipelining"] == mode
            results[mode] = pipe(image, return_probabilities=True)
    np.testing.assert_array_equal(results["two-stream"].labels, results["sequential"].labels)
    np.testing.assert_allclose(results["two-stream"].probabilities, results["sequential"].probabilities, atol=1e-5,
                               rtol=0)
    assert float((results["two-stream"].labels == results["off"].labels).mean()) >= 0.9999
    np.testing.assert_allclose(results["two-stream"].probabilities, results["off"].probabilities, atol=1e-4, rtol=0)


def test_infer_command_passes_pipelining_and_reports_it(tiny_package, tmp_path, capsys):
    import json

    import nibabel as nib

    from spine_rt.cli.main import main

    scan = tmp_path / "scan.nii.gz"
    nib.save(nib.Nifti1Image(model_grid_volume((64, 128, 12), seed=8), ipr_affine()), scan)
    common = [str(scan), "--model", str(tiny_package.root), "--backend", "torch", "--device", "cpu"]
    assert main(["infer", *common, "--pipelining", "two-streams", "-o", str(tmp_path / "bad.nii.gz")]) == 2
    assert "unknown pipelining 'two-streams'" in capsys.readouterr().err
    report = tmp_path / "report.json"
    assert main(["infer", *common, "--pipelining", "sequential", "-o", str(tmp_path / "seg.nii.gz"),
                 "--report", str(report)]) == 0
    assert json.loads(report.read_text())["pipelining"] == "sequential"
