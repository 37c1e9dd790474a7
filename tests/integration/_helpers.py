"""Small assertions shared by the integration tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import psycopg
import pytest


def raises_sqlstate(code: str, call: Callable[[], Any]) -> psycopg.Error:
    """Run ``call`` and assert it fails with SQLSTATE ``code``; return the error."""
    with pytest.raises(psycopg.Error) as info:
        call()
    assert info.value.sqlstate == code, (info.value.sqlstate, str(info.value))
    return info.value


def lost_ids(error: psycopg.Error) -> list[str]:
    """The job ids an SJ001 error lists in its DETAIL."""
    detail = error.diag.message_detail
    assert detail is not None
    ids: list[str] = json.loads(detail)
    return ids
