"""Seized-server evidence toolkit: catalogue evidence, extract records, write court exhibits."""

__version__ = "0.1.0"
