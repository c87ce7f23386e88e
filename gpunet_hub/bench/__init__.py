"""Latency measurement: backends, statistics, records, verdicts against the hub.

Modules (each small, imported lazily so ``import gpunet_hub.bench`` stays light):

* :mod:`.stats` - timing plans, the timing loop, :class:`~.stats.TimingResult`, statistics.
* :mod:`.ort` - onnxruntime (CPU, CUDA, TensorRT providers); :func:`~.ort.time_onnx`.
* :mod:`.tensorrt` - the TensorRT Python API (engine build with timing cache, engine cache, CUDA events).
* :mod:`.trtexec` - the ``trtexec`` binary (command per TensorRT version, JSON and console parsers).
* :mod:`.torch_eager` - eager PyTorch, the reference a user would otherwise use.
* :mod:`.device` - what the measurement ran on; :mod:`.record` - the result record, JSON/CSV;
  :mod:`.verdict` - comparison with the hub's rows; :mod:`.baselines` - timm baselines;
  :mod:`.runner` - backend choice and the bench of one model; :mod:`.cli` - the commands.
"""
