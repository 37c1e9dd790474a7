"""The ``Prefer`` header, parsed as PostgREST v14 does (``ApiRequest/Preferences.hs``).

Unknown or malformed preferences are ignored, unless ``handling=strict`` is present: then
they are a PGRST122 error. When a preference repeats, the first value wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from supabase_jobs.local._gateway._errors import GatewayError
from supabase_jobs.local._gateway._limits import whole_number

__all__ = ["Preferences", "parse_prefer"]

_CHOICES: dict[str, frozenset[str]] = {
    "return": frozenset({"minimal", "headers-only", "representation"}),
    "count": frozenset({"exact", "planned", "estimated"}),
    "resolution": frozenset({"merge-duplicates", "ignore-duplicates"}),
    "missing": frozenset({"default", "null"}),
    "handling": frozenset({"strict", "lenient"}),
    "tx": frozenset({"commit", "rollback"}),
}


@dataclass(frozen=True)
class Preferences:
    """The preferences of one request (``None`` when not given).

    Attributes:
        return_: ``minimal`` | ``headers-only`` | ``representation``.
        count: ``exact`` | ``planned`` | ``estimated`` (all counted exactly here).
        resolution: ``merge-duplicates`` | ``ignore-duplicates``.
        missing: ``default`` | ``null``.
        handling: ``strict`` | ``lenient``.
        tx: Parsed but never honoured, as on Supabase (``db-tx-end`` is not overridable).
        max_affected: Upper bound on affected rows (only with ``handling=strict``).
        timezone: A time zone name to ``set_config('timezone', ...)``.
        invalid: The raw preferences that were not understood.
    """

    return_: str | None = None
    count: str | None = None
    resolution: str | None = None
    missing: str | None = None
    handling: str | None = None
    tx: str | None = None
    max_affected: int | None = None
    timezone: str | None = None
    invalid: tuple[str, ...] = field(default_factory=tuple)

    @property
    def strict(self) -> bool:
        """Whether ``handling=strict`` was asked for."""
        return self.handling == "strict"

    def applied(self, *, resolution: bool, missing: bool) -> str:
        """Return the ``Preference-Applied`` value for the preferences the gateway honoured.

        Args:
            resolution: Whether the ``resolution`` preference took effect.
            missing: Whether ``missing=default`` took effect.
        """
        parts: list[str] = []
        if resolution and self.resolution:
            parts.append(f"resolution={self.resolution}")
        if missing and self.missing:
            parts.append(f"missing={self.missing}")
        if self.return_:
            parts.append(f"return={self.return_}")
        if self.count:
            parts.append(f"count={self.count}")
        if self.handling:
            parts.append(f"handling={self.handling}")
        if self.timezone:
            parts.append(f"timezone={self.timezone}")
        if self.max_affected is not None and self.strict:
            parts.append(f"max-affected={self.max_affected}")
        return ", ".join(parts)


def parse_prefer(headers: list[str], timezones: frozenset[str]) -> Preferences:
    """Parse every ``Prefer`` header of a request.

    Args:
        headers: The raw ``Prefer`` header values (there may be several).
        timezones: Valid time zone names (an unknown zone is an invalid preference).

    Returns:
        The parsed preferences.

    Raises:
        GatewayError: PGRST122 when ``handling=strict`` and some preference is invalid.
    """
    values: dict[str, str] = {}
    max_affected: int | None = None
    invalid: list[str] = []
    for header in headers:
        for raw in header.split(","):
            token = raw.strip()
            if not token:
                continue
            key, sep, value = token.partition("=")
            key, value = key.strip(), value.strip()
            if sep and key in _CHOICES and value in _CHOICES[key]:
                values.setdefault(key, value)
            elif sep and key == "max-affected" and whole_number(value) is not None:
                max_affected = whole_number(value) if max_affected is None else max_affected
            elif sep and key == "timezone" and value in timezones:
                values.setdefault(key, value)
            else:
                invalid.append(token)
    prefs = Preferences(
        return_=values.get("return"),
        count=values.get("count"),
        resolution=values.get("resolution"),
        missing=values.get("missing"),
        handling=values.get("handling"),
        tx=values.get("tx"),
        max_affected=max_affected,
        timezone=values.get("timezone"),
        invalid=tuple(invalid),
    )
    if prefs.strict and (prefs.invalid or prefs.tx):
        bad = list(prefs.invalid) + ([f"tx={prefs.tx}"] if prefs.tx else [])
        raise GatewayError(
            400,
            "PGRST122",
            "Invalid preferences given with handling=strict",
            "Invalid preferences: " + ", ".join(bad),
        )
    return prefs
