"""Rotators: one module per kind of target, and `base` for the protocol, the error and the
registry. Rotator modules (and their heavy imports, such as psycopg) load on first use."""

from __future__ import annotations

from .base import STEPS, RotationError, RotationStep, Rotator, get_rotator

__all__ = ["STEPS", "RotationError", "RotationStep", "Rotator", "get_rotator"]
