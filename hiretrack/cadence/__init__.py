"""Cadence."""
