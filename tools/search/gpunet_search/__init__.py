"""gpunet_search: the maintainer pipeline that produces gpunet-hub entries (paper section 3).

Heavy dependencies (scipy, scikit-learn, botorch, optuna, ray) are imported by the modules that
need them, never here. Install them with ``pip install 'gpunet-hub[search]'``.
"""
