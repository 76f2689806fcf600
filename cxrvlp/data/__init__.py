"""Datasets and report corpora.

This ``__init__`` imports nothing heavy: :mod:`cxrvlp.data.openi` is pure stdlib so that the text engine's tools
(labeler CLI, benchmarks) can read the Open-I corpus without importing torch. Torch datasets live in their own
modules and are imported explicitly.
"""
