"""Readers that turn one source into raw tables."""
