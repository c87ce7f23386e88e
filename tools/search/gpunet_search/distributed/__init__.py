"""The distributed search on Ray Tune (pipeline stage 3b): the only part of gpunet_search that imports Ray.

* :mod:`.searcher`: the server, a ``ray.tune.search.Searcher`` around the LA-MCTS + BO searcher.
* :mod:`.trainable`: the client, one trial = one network evaluated epoch by epoch with checkpoints.
* :mod:`.evaluators`: what a trial runs (``synthetic:NAME`` curves or ``train``).
* :mod:`.stopping`: the median stopping rule as a Tune scheduler reading the searcher's statistics.
* :mod:`.runner`: start Ray, build or restore the Tuner, run; :mod:`.results`: read an experiment.
* :mod:`.cli`: ``gpunet-hub search run | results``.

Importing this package does not import Ray; its modules do.
"""
