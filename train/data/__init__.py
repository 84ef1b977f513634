"""Datasets for training: one module a dataset family, a registry by name."""
