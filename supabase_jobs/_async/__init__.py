"""The asynchronous client package (``scripts/unasync.py`` generates ``_sync`` from it)."""

from __future__ import annotations
