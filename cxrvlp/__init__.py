"""cxrvlp: train and probe negation-aware chest X-ray vision-language models."""

__version__ = "0.1.0"
