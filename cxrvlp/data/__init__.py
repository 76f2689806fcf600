"""Datasets, image reading and transforms."""
