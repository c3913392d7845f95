"""Deterministic sample landing data, one module per input format."""
