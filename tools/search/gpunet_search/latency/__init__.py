"""Stage 1 of the pipeline: from the 41-integer space to latency tiers (paper, section 3.2).

Sobol samples (:mod:`.sampling`) -> layer keys (:mod:`.layer_keys`, vectorised in :mod:`.estimate`)
-> the SQLite latency LUT (:mod:`.lut`) filled by the robust measuring protocol (:mod:`.measure`) on
a fingerprinted device (:mod:`.fingerprint`) -> calibrated estimates (:mod:`.calibration`) -> tier
files (:mod:`.tiers`). :mod:`.pipeline` chains the steps for the CLI (:mod:`.cli`) and the benchmarks.
"""
