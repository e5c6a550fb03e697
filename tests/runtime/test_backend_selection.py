"""select_backend / available_backends on stated machines (BackendFacts) and on this one."""

from __future__ import annotations

import pytest

from spine_rt.dependencies import install_hint, is_available
from spine_rt.errors import EnvironmentProblem, InputError
from spine_rt.runtime import backends
from spine_rt.runtime.backends import BackendChoice, BackendFacts, available_backends, probe_backends, select_backend

CPU_ONLY = BackendFacts(
    tensorrt_installed=False,
    onnxruntime_providers=("CPUExecutionProvider",),
    torch_installed=True,
    torch_cuda_device_count=0,
    cuda_device_count=0,
)
FULL_GPU = BackendFacts(
    tensorrt_installed=True,
    onnxruntime_providers=("CUDAExecutionProvider", "CPUExecutionProvider"),
    torch_installed=True,
    torch_cuda_device_count=2,
    cuda_device_count=2,
    cuda_python_installed=True,
)
NOTHING_EXTRA = BackendFacts(
    tensorrt_installed=False,
    onnxruntime_providers=("CPUExecutionProvider",),
    torch_installed=False,
    torch_cuda_device_count=0,
    cuda_device_count=None,
)


def with_changes(facts: BackendFacts, **changes) -> BackendFacts:
    return BackendFacts(**{**facts.__dict__, **changes})


def test_auto_on_a_cpu_machine_picks_onnxruntime_cpu_and_says_why():
    choice = select_backend("auto", facts=CPU_ONLY)
    assert choice == BackendChoice(
        "onnxruntime",
        "cpu",
        "tensorrt not installed; onnxruntime CUDA provider absent; torch sees no CUDA device → onnxruntime CPU",
    )


def test_auto_without_torch_says_so():
    choice = select_backend(facts=NOTHING_EXTRA)
    assert (choice.name, choice.device) == ("onnxruntime", "cpu")
    assert choice.reason == "tensorrt not installed; onnxruntime CUDA provider absent; torch not installed → onnxruntime CPU"


def test_auto_priority_order():
    assert (select_backend(facts=FULL_GPU).name, select_backend(facts=FULL_GPU).device) == ("tensorrt", "cuda:0")
    assert "first choice" in select_backend(facts=FULL_GPU).reason

    no_trt = with_changes(FULL_GPU, tensorrt_installed=False)
    choice = select_backend(facts=no_trt)
    assert (choice.name, choice.device) == ("onnxruntime", "cuda:0")
    assert choice.reason == "tensorrt not installed → onnxruntime CUDA"

    torch_only = with_changes(no_trt, onnxruntime_providers=("CPUExecutionProvider",))
    choice = select_backend(facts=torch_only)
    assert (choice.name, choice.device) == ("torch", "cuda:0")
    assert choice.reason == "tensorrt not installed; onnxruntime CUDA provider absent → torch CUDA"


def test_tensorrt_needs_a_way_to_reach_the_gpu():
    facts = with_changes(NOTHING_EXTRA, tensorrt_installed=True)
    choice = select_backend(facts=facts)
    assert choice.name == "onnxruntime" and "needs cuda-python" in choice.reason


def test_auto_skips_tensorrt_without_cuda_python_even_where_torch_sees_the_gpu():
    """TensorRTRunner needs cuda-python for its buffers and streams; torch seeing the GPU is not enough."""
    facts = with_changes(FULL_GPU, cuda_python_installed=False)
    choice = select_backend(facts=facts)
    assert (choice.name, choice.device) == ("onnxruntime", "cuda:0")
    assert choice.reason.startswith("tensorrt needs cuda-python, which is not installed")
    assert "tensorrt" not in {c.name for c in available_backends(facts=facts)}
    with pytest.raises(EnvironmentProblem, match=r"needs cuda-python.*spine-rt\[trt\]"):
        select_backend("tensorrt", facts=facts)


def test_auto_on_a_named_gpu():
    choice = select_backend("auto", "cuda:1", facts=FULL_GPU)
    assert (choice.name, choice.device) == ("tensorrt", "cuda:1")
    with pytest.raises(EnvironmentProblem, match=r"cuda:2 requested but only 2 CUDA device\(s\) visible"):
        select_backend("auto", "cuda:2", facts=FULL_GPU)


def test_auto_on_cuda_never_falls_back_to_the_cpu():
    with pytest.raises(EnvironmentProblem) as info:
        select_backend("auto", "cuda", facts=CPU_ONLY)
    message = str(info.value)
    assert message.startswith("no backend can run on cuda:0: tensorrt not installed; onnxruntime CUDA provider absent")
    assert "pip install onnxruntime-gpu" in message and install_hint("tensorrt") in message


def test_auto_on_cpu_picks_onnxruntime_even_with_a_gpu():
    choice = select_backend("auto", "cpu", facts=FULL_GPU)
    assert choice == BackendChoice("onnxruntime", "cpu",
                                   "device cpu requested; openvino not installed → onnxruntime CPU")


WITH_OPENVINO = with_changes(CPU_ONLY, openvino_installed=True)


def test_auto_on_the_cpu_picks_openvino_when_installed_and_says_why():
    choice = select_backend("auto", "cpu", facts=WITH_OPENVINO)
    assert (choice.name, choice.device) == ("openvino", "cpu")
    assert choice.reason == f"device cpu requested; {backends.OPENVINO_FIRST_REASON} → openvino CPU"
    choice = select_backend("auto", facts=WITH_OPENVINO)
    assert (choice.name, choice.device) == ("openvino", "cpu")
    assert choice.reason.startswith("tensorrt not installed; onnxruntime CUDA provider absent; torch sees no CUDA")
    assert choice.reason.endswith(f"{backends.OPENVINO_FIRST_REASON} → openvino CPU")
    # a usable GPU still comes first
    assert select_backend(facts=with_changes(FULL_GPU, openvino_installed=True)).name == "tensorrt"


def test_explicit_openvino():
    choice = select_backend("openvino", facts=WITH_OPENVINO)
    assert choice == BackendChoice("openvino", "cpu", "openvino CPU requested on cpu")
    assert select_backend("openvino", "cpu", facts=WITH_OPENVINO).device == "cpu"
    with pytest.raises(InputError, match="backend 'openvino' runs on the CPU"):
        select_backend("openvino", "cuda:0", facts=WITH_OPENVINO)


def test_explicit_openvino_unavailable_carries_the_install_hint_and_never_falls_back():
    with pytest.raises(EnvironmentProblem, match=r"openvino not installed; install it with: pip install openvino"):
        select_backend("openvino", facts=CPU_ONLY)
    with pytest.raises(EnvironmentProblem, match="pip install openvino"):
        select_backend("openvino", "cpu", facts=CPU_ONLY)


def test_explicit_tensorrt_unavailable_carries_the_install_hint():
    with pytest.raises(EnvironmentProblem, match="tensorrt not installed") as info:
        select_backend("tensorrt", facts=CPU_ONLY)
    assert install_hint("tensorrt") in str(info.value)


@pytest.mark.skipif(is_available("tensorrt"), reason="TensorRT is installed here")
def test_explicit_tensorrt_on_this_machine():
    with pytest.raises(EnvironmentProblem, match="pypi.nvidia.com"):
        select_backend("tensorrt", "cuda:0")


def test_explicit_tensorrt_on_the_cpu_is_an_input_error():
    with pytest.raises(InputError, match="runs only on CUDA devices"):
        select_backend("tensorrt", "cpu", facts=FULL_GPU)


def test_explicit_onnxruntime():
    choice = select_backend("onnxruntime", facts=CPU_ONLY)
    assert (choice.name, choice.device) == ("onnxruntime", "cpu")
    assert choice.reason == "onnxruntime CUDA provider absent → onnxruntime CPU"
    assert select_backend("onnxruntime", facts=FULL_GPU).device == "cuda:0"
    assert select_backend("onnxruntime", "cpu", facts=FULL_GPU).reason == "onnxruntime CPU requested on cpu"
    with pytest.raises(EnvironmentProblem, match="onnxruntime CUDA provider absent; install it with: pip install onnxruntime-gpu"):
        select_backend("onnxruntime", "cuda:0", facts=CPU_ONLY)


def test_explicit_torch():
    assert select_backend("torch", facts=CPU_ONLY).device == "cpu"
    assert select_backend("torch", "cuda:1", facts=FULL_GPU).device == "cuda:1"
    with pytest.raises(EnvironmentProblem, match="torch sees no CUDA device"):
        select_backend("torch", "cuda", facts=CPU_ONLY)
    with pytest.raises(EnvironmentProblem, match="torch not installed") as info:
        select_backend("torch", facts=NOTHING_EXTRA)
    assert install_hint("torch") in str(info.value)


def test_unknown_backend_lists_the_valid_names():
    with pytest.raises(InputError, match=r"unknown backend 'tensorflow'; valid backends: auto, tensorrt, onnxruntime, torch, "
                                         r"openvino"):
        select_backend("tensorflow", facts=CPU_ONLY)


@pytest.mark.parametrize("device", ["gpu0", "cuda:a", "tpu"])
def test_invalid_device_strings(device):
    with pytest.raises(InputError, match="valid devices: cpu, cuda, cuda:N"):
        select_backend("auto", device, facts=CPU_ONLY)
    with pytest.raises(InputError, match="valid devices"):
        available_backends(device, facts=CPU_ONLY)


def test_available_backends_best_first():
    listed = [(c.name, c.device) for c in available_backends(facts=FULL_GPU)]
    assert listed == [
        ("tensorrt", "cuda:0"),
        ("onnxruntime", "cuda:0"),
        ("torch", "cuda:0"),
        ("onnxruntime", "cpu"),
        ("torch", "cpu"),
    ]
    assert [(c.name, c.device) for c in available_backends("cpu", facts=WITH_OPENVINO)] == [
        ("openvino", "cpu"), ("onnxruntime", "cpu"), ("torch", "cpu")]
    assert available_backends("cuda", facts=with_changes(FULL_GPU, openvino_installed=True))[-1].name == "torch"
    assert [(c.name, c.device) for c in available_backends("cuda:1", facts=FULL_GPU)][0] == ("tensorrt", "cuda:1")
    assert [(c.name, c.device) for c in available_backends("cpu", facts=FULL_GPU)] == [("onnxruntime", "cpu"), ("torch", "cpu")]
    assert [(c.name, c.device) for c in available_backends(facts=CPU_ONLY)] == [("onnxruntime", "cpu"), ("torch", "cpu")]
    assert [(c.name, c.device) for c in available_backends(facts=NOTHING_EXTRA)] == [("onnxruntime", "cpu")]
    assert available_backends("cuda", facts=CPU_ONLY) == ()


def test_probe_reads_the_machine(monkeypatch):
    """The probe turns installed modules, providers and visible GPUs into the priority order."""
    import onnxruntime

    from spine_rt.runtime.machine import GpuInfo

    real_is_available = backends.is_available
    monkeypatch.setattr(backends, "is_available", lambda module: module == "tensorrt" or real_is_available(module))
    monkeypatch.setattr(backends, "visible_gpus", lambda: (GpuInfo(0, "Some GPU", "9.0", 80.0, "cuda-python"),))
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    facts = probe_backends()
    assert facts.tensorrt_installed and facts.cuda_device_count == 1
    assert facts.cuda_python_installed is False  # not installed here: auto must not pick TensorRT
    facts = BackendFacts(**{**facts.__dict__, "cuda_python_installed": True})
    assert select_backend(facts=facts).name == "tensorrt"

    monkeypatch.setattr(backends, "is_available", lambda module: module != "tensorrt" and real_is_available(module))
    monkeypatch.setattr(backends, "cuda_python_installed", lambda: True)
    assert probe_backends().cuda_python_installed
    choice = select_backend()
    assert (choice.name, choice.device) == ("onnxruntime", "cuda:0")


def test_probe_survives_a_broken_gpu_stack(monkeypatch):
    def broken():
        raise OSError("libcudart.so: cannot open shared object file")

    monkeypatch.setattr(backends, "visible_gpus", broken)
    assert probe_backends().cuda_device_count == 0


def test_this_machine():
    facts = probe_backends()
    choice = select_backend(facts=facts)
    assert (choice.name, choice.device) in [(c.name, c.device) for c in available_backends(facts=facts)]
    assert choice.reason
    expected = "openvino" if facts.openvino_installed else "onnxruntime"
    assert select_backend("auto", "cpu").name == expected
    if not facts.tensorrt_installed and "CUDAExecutionProvider" not in facts.onnxruntime_providers and not facts.torch_cuda_device_count:
        assert (choice.name, choice.device) == (expected, "cpu")
        assert choice.reason.endswith(f"→ {expected} CPU")


# ---------------------------------------------------------------- build_on_backend: the one auto fallback
def _failing_tensorrt(choice: BackendChoice) -> str:
    if choice.name == "tensorrt":
        raise EnvironmentProblem("no TensorRT engine for this GPU in the package\nbuild one with spine-rt build-engine")
    return f"{choice.name} on {choice.device}"


def test_auto_falls_back_from_a_tensorrt_build_failure_and_records_why():
    built, choice = backends.build_on_backend("auto", None, _failing_tensorrt, facts=FULL_GPU)
    assert built == "onnxruntime on cuda:0" and (choice.name, choice.device) == ("onnxruntime", "cuda:0")
    first = select_backend("auto", facts=FULL_GPU).reason
    assert choice.reason == (f"{first}; tensorrt: no TensorRT engine for this GPU in the package "
                             "→ onnxruntime on cuda:0")


def test_an_explicit_backend_never_falls_back():
    with pytest.raises(EnvironmentProblem, match="no TensorRT engine"):
        backends.build_on_backend("tensorrt", None, _failing_tensorrt, facts=FULL_GPU)


def test_auto_passes_over_unusable_choices_in_order_saying_why_for_each():
    def unusable(choice):
        return "no torch weights" if choice.name == "torch" else None

    gpu_torch_only = with_changes(FULL_GPU, tensorrt_installed=False, onnxruntime_providers=("CPUExecutionProvider",))
    built, choice = backends.build_on_backend("auto", "cuda:0", _failing_tensorrt, unusable=unusable,
                                              facts=gpu_torch_only)
    assert choice.name == "torch"  # on cuda:0 nothing else can run: the unusable choice is built and says why itself
    built, choice = backends.build_on_backend("auto", None, _failing_tensorrt, unusable=unusable, facts=gpu_torch_only)
    assert (choice.name, choice.device) == ("onnxruntime", "cpu")
    assert choice.reason.endswith("; torch: no torch weights → onnxruntime on cpu")


def test_a_failure_of_a_backend_without_fallback_propagates():
    def failing(choice):
        raise EnvironmentProblem(f"{choice.name} broke")

    with pytest.raises(EnvironmentProblem, match="onnxruntime broke"):
        backends.build_on_backend("auto", "cpu", failing, facts=CPU_ONLY)


def test_backend_names_and_precisions_are_defined_once():
    from spine_rt.model_package import PRECISIONS as graph_precisions
    from spine_rt.pipelines import runner_factory

    assert backends.BACKEND_NAMES == ("auto", *backends.IN_PROCESS_BACKENDS)
    assert backends.PIPELINE_BACKENDS == (*backends.BACKEND_NAMES, "triton")
    assert graph_precisions is backends.GRAPH_PRECISIONS
    assert runner_factory.PRECISIONS is backends.PRECISIONS and runner_factory.BF16_BACKENDS is backends.BF16_BACKENDS
