"""Experiments that prove the searcher without training networks.

:mod:`.synthetic` defines the problems (classic functions on the level grid, a latency-tier
problem), :mod:`.bench` runs the methods on them, :mod:`.report` summarises and plots the runs, and
:mod:`.cli` is ``gpunet-hub search bench-synthetic``.
"""
