"""Tests of gpunet_search.distributed (a package so its conftest does not shadow tests/conftest.py)."""
