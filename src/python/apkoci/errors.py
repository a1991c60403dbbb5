"""Errors the engine raises: every one names what is wrong and how to fix it."""

from __future__ import annotations


class ApkociError(Exception):
    """Base of all engine errors; the message is shown to users as it is."""
