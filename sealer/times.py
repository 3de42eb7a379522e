"""Time in sealer: one interval syntax (`12h`, `30d`, `12w`) and one timestamp form
(`YYYY-MM-DDTHH:MM:SSZ`, UTC), each with one parser. Every interval is bounded, and date
arithmetic on values read from files never overflows into an internal error.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from .errors import SealerError, UsageError

__all__ = [
    "INTERVAL_HINT",
    "MAX_INTERVAL",
    "TIMESTAMP_FORMAT",
    "after",
    "parse_interval",
    "parse_time",
    "timestamp",
]

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
MAX_INTERVAL = timedelta(days=100 * 366)  # a century: longer is a typo, not a policy
INTERVAL_HINT = "use a whole number and a unit, at most 100 years: 12h, 30d or 12w"
_INTERVAL = re.compile(r"([1-9][0-9]{0,19})([hdw])\Z")
_UNIT_HOURS = {"h": 1, "d": 24, "w": 24 * 7}


def parse_interval(text: Any, *, what: str = "interval", file: str | None = None,
                   error: type[SealerError] | None = None) -> timedelta:
    """`12h`, `30d`, `12w` -> timedelta; UsageError (or `error`) for anything else, including
    intervals over MAX_INTERVAL."""
    match = _INTERVAL.match(text) if isinstance(text, str) else None
    if match is None:
        raise (error or UsageError)(f"{what}: malformed interval {text!r}", file=file,
                                    hint=INTERVAL_HINT)
    hours = int(match.group(1)) * _UNIT_HOURS[match.group(2)]
    if hours > MAX_INTERVAL.days * 24:
        raise (error or UsageError)(f"{what}: interval {text!r} is too long", file=file,
                                    hint=INTERVAL_HINT)
    return timedelta(hours=hours)


def timestamp(when: datetime) -> str:
    """`when` in sealer's one timestamp form."""
    return when.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def parse_time(text: Any) -> datetime | None:
    """A timestamp read from a file (sealer's form, or any ISO 8601 date-time; naive means
    UTC), or None when it is not one."""
    if not isinstance(text, str) or len(text) > 40:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def after(when: datetime, interval: timedelta) -> datetime:
    """`when + interval`, saturating at the largest representable time."""
    try:
        return when + interval
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)
