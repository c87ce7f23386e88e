"""The TensorRT Python API backend, against a fake ``tensorrt`` module per major version.

``tensorrt`` cannot be installed on this project's machines (NVIDIA's wheels need NVIDIA's index and a
GPU), so the engine build is tested against a stand-in that exposes the real API names of each major
version (checked against TensorRT's python/src/infer/pyCore.cpp at 10.13 and 11.1): 8.x needs
``EXPLICIT_BATCH``; 10.x has ``BuilderFlag.FP16``; 11.x has no ``BuilderFlag.FP16`` and no
``EXPLICIT_BATCH``. Timing needs a GPU and is skipped here, never faked.
"""

from __future__ import annotations

import enum
import types

import onnx
import pytest
import torch

from gpunet_hub.measure import _tensorrt as trt_backend
from gpunet_hub.errors import InputError, MissingDependencyError
from gpunet_hub.export import export_onnx


def fake_tensorrt(version: str) -> types.ModuleType:
    major = int(version.split(".")[0])
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.built = []  # what build_serialized_network received

    class Logger:
        WARNING = 2

        def __init__(self, level):
            self.level = level

    class DataType(enum.Enum):
        FLOAT = 0
        HALF = 1

    if major < 10:
        Flag = enum.IntEnum("NetworkDefinitionCreationFlag", {"EXPLICIT_BATCH": 0, "EXPLICIT_PRECISION": 1})
    elif major == 10:
        Flag = enum.IntEnum("NetworkDefinitionCreationFlag", {"EXPLICIT_BATCH": 0, "STRONGLY_TYPED": 1})
    else:
        Flag = enum.IntEnum("NetworkDefinitionCreationFlag", {"STRONGLY_TYPED": 0})
    builder_flags = {"GPU_FALLBACK": 0, "REFIT": 1, "TF32": 2}
    if major < 11:
        builder_flags["FP16"] = 3
    BuilderFlag = enum.IntEnum("BuilderFlag", builder_flags)
    MemoryPoolType = enum.IntEnum("MemoryPoolType", {"WORKSPACE": 0})

    class Tensor:
        def __init__(self, name, shape, dtype):
            self.name, self.shape, self.dtype = name, shape, dtype

    class Network:
        def __init__(self, flags):
            self.flags = flags
            self.inputs = []

        @property
        def num_inputs(self):
            return len(self.inputs)

        def get_input(self, i):
            return self.inputs[i]

    class OnnxParser:
        def __init__(self, network, logger):
            self.network = network
            self.errors = []

        def parse_from_file(self, path):
            try:
                model = onnx.load(path)
            except Exception as exc:  # the real parser reports, it does not raise
                self.errors.append(f"ModelImporter: {exc}")
                return False
            for arg in model.graph.input:
                tt = arg.type.tensor_type
                dtype = DataType.HALF if tt.elem_type == onnx.TensorProto.FLOAT16 else DataType.FLOAT
                shape = tuple(d.dim_value if d.dim_value else -1 for d in tt.shape.dim)
                self.network.inputs.append(Tensor(arg.name, shape, dtype))
            return True

        @property
        def num_errors(self):
            return len(self.errors)

        def get_error(self, i):
            return self.errors[i]

    class TimingCache:
        def __init__(self, data):
            self.data = bytes(data)

        def serialize(self):
            return self.data + b"+tactics"

    class Profile:
        def __init__(self):
            self.shapes = {}

        def set_shape(self, name, mn, opt, mx):
            self.shapes[name] = (mn, opt, mx)

    class Config:
        def __init__(self):
            self.flags = set()
            self.pools = {}
            self.profiles = []
            self.timing_cache = None
            self.builder_optimization_level = 3

        def set_flag(self, flag):
            self.flags.add(flag)

        def set_memory_pool_limit(self, pool, size):
            self.pools[pool] = size

        def create_timing_cache(self, data):
            return TimingCache(data)

        def set_timing_cache(self, cache, ignore_mismatch):
            self.timing_cache = cache
            return True

        def get_timing_cache(self):
            return self.timing_cache

        def add_optimization_profile(self, profile):
            self.profiles.append(profile)

    class Builder:
        def __init__(self, logger):
            self.logger = logger

        def create_network(self, flags):
            return Network(flags)

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            trt.built.append((network, config))
            return b"PLAN" + bytes([network.flags]) + bytes(sorted(int(f) for f in config.flags))

    class IExecutionContext:
        def execute_async_v3(self, stream):  # pragma: no cover - never called without a GPU
            raise AssertionError("no GPU")

    for name, value in dict(
        Logger=Logger, DataType=DataType, NetworkDefinitionCreationFlag=Flag, BuilderFlag=BuilderFlag,
        MemoryPoolType=MemoryPoolType, OnnxParser=OnnxParser, Builder=Builder, IExecutionContext=IExecutionContext,
    ).items():
        setattr(trt, name, value)
    return trt


@pytest.fixture(scope="module")
def onnx_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
    fp32 = export_onnx(net, folder / "fp32.onnx", input_size=(3, 8, 8), check=False)
    fp16 = export_onnx(net, folder / "fp16.onnx", input_size=(3, 8, 8), check=False, precision="fp16")
    dyn = export_onnx(net, folder / "dyn.onnx", input_size=(3, 8, 8), check=False, dynamic_batch=True)
    return {"fp32": fp32, "fp16": fp16, "dyn": dyn}


@pytest.mark.parametrize(("version", "flags"), [("8.6.1", 1), ("10.13.0", 0), ("11.1.0", 0)])
def test_network_flags_and_fp32_build(version, flags, onnx_files, tmp_path):
    trt = fake_tensorrt(version)
    built = trt_backend.build_engine(onnx_files["fp32"], precision="fp32", gpu_name="Tesla V100-SXM2-32GB", cache_root=tmp_path, trt=trt)
    network, config = trt.built[0]
    assert network.flags == flags  # 8.x: 1 << EXPLICIT_BATCH; 10/11: 0
    assert config.flags == set()
    assert config.pools[trt.MemoryPoolType.WORKSPACE] == 4096 << 20
    assert not built.cached and built.plan.startswith(b"PLAN") and built.path.exists()


@pytest.mark.parametrize("version", ["8.6.1", "10.13.0"])
def test_fp16_is_a_builder_flag_before_11(version, onnx_files, tmp_path):
    trt = fake_tensorrt(version)
    built = trt_backend.build_engine(onnx_files["fp32"], precision="fp16", gpu_name="V100", cache_root=tmp_path, trt=trt)
    assert trt.BuilderFlag.FP16 in trt.built[0][1].flags
    assert built.typing == "weak"


def test_fp16_on_11_comes_from_the_graph(onnx_files, tmp_path):
    trt = fake_tensorrt("11.1.0")
    assert not hasattr(trt.BuilderFlag, "FP16")  # as in TensorRT 11
    with pytest.raises(InputError, match="FP16 ONNX"):
        trt_backend.build_engine(onnx_files["fp32"], precision="fp16", gpu_name="V100", cache_root=tmp_path, trt=trt)
    built = trt_backend.build_engine(onnx_files["fp16"], precision="fp16", gpu_name="V100", cache_root=tmp_path, trt=trt)
    assert built.typing == "strong" and trt.built[-1][1].flags == set()


def test_engine_and_timing_caches(onnx_files, tmp_path):
    trt = fake_tensorrt("10.13.0")
    first = trt_backend.build_engine(onnx_files["fp32"], precision="fp16", gpu_name="V100", cache_root=tmp_path, trt=trt)
    assert first.timing_cache.read_bytes() == b"+tactics"
    again = trt_backend.build_engine(onnx_files["fp32"], precision="fp16", gpu_name="V100", cache_root=tmp_path, trt=trt)
    assert again.cached and again.plan == first.plan and len(trt.built) == 1  # no rebuild
    other = trt_backend.build_engine(onnx_files["fp32"], precision="fp32", gpu_name="V100", cache_root=tmp_path, trt=trt)
    assert not other.cached and other.path != first.path
    assert trt.built[-1][1].timing_cache.data == b"+tactics"  # the saved timing cache was loaded
    keys = {
        trt_backend.engine_key("h", "V100", "10.13.0", "fp16", 1),
        trt_backend.engine_key("h", "A100", "10.13.0", "fp16", 1),
        trt_backend.engine_key("h", "V100", "11.1.0", "fp16", 1),
        trt_backend.engine_key("h", "V100", "10.13.0", "fp32", 1),
        trt_backend.engine_key("h", "V100", "10.13.0", "fp16", 8),
        trt_backend.engine_key("g", "V100", "10.13.0", "fp16", 1),
    }
    assert len(keys) == 6


def test_dynamic_batch_gets_a_fixed_profile(onnx_files, tmp_path):
    trt = fake_tensorrt("10.13.0")
    trt_backend.build_engine(onnx_files["dyn"], precision="fp32", batch=4, gpu_name="V100", cache_root=tmp_path, trt=trt)
    (profile,) = trt.built[0][1].profiles
    assert profile.shapes["input"] == ((4, 3, 8, 8),) * 3


def test_parse_failure_is_reported(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(trt_backend.EngineBuildError, match="could not parse"):
        trt_backend.build_engine(bad, precision="fp32", gpu_name="V100", cache_root=tmp_path, trt=fake_tensorrt("10.13.0"))


def test_unavailable_without_the_package():
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        ok, reason = trt_backend.available()
        assert not ok and "not installed" in reason
        with pytest.raises(MissingDependencyError):
            trt_backend.import_tensorrt()
    else:  # pragma: no cover
        pytest.skip("tensorrt is installed here")


@pytest.mark.skipif(not trt_backend.available()[0], reason="needs the tensorrt package and a CUDA GPU")
def test_real_engine_timing(onnx_files, tmp_path):  # pragma: no cover - no GPU on this project's machines
    result = trt_backend.measure(onnx_files["fp32"], precision="fp16", gpu_name=torch.cuda.get_device_name(0), cache_root=tmp_path)
    assert result.summary.n >= 1000 and result.settings["typing"] in ("weak", "strong")
