"""Rotation schedules (docs/ROTATION.md "Set up", docs/FORMAT.md §10.1): when a secret is due
and the window in which it may be rotated, all in UTC.

A key's rotation settings name one of
- `every`: sealer's interval (`12h`, `30d`, `12w`, parsed by `sealer.times`), due
  `rotated_at + every`;
- `schedule`: an AWS Secrets Manager ScheduleExpression, `rate(N hours|days)` (due
  `rotated_at + N`) or `cron(Minutes Hours Day-of-month Month Day-of-week Year)` (due at the
  first scheduled time after `rotated_at`);
and optionally `duration`, AWS's window length (`1h`…`24h`). Without one the window is AWS's
default: 1 hour for a schedule in hours, the rest of the UTC day for a cron schedule in days,
and a day for a `rate()` or `every` in days or weeks.

A repository is input from strangers, so parsing is strict and its work bounded: an expression
has at most 256 characters (AWS's limit); a cron schedule is checked once over the whole
400-year Gregorian cycle, which proves its windows 4 hours to 999 days apart (AWS's bounds) or
refuses it, and finding its next window after that walks at most 37 months. No cron library
from PyPI reads AWS's six-field form faithfully (croniter's sixth field is seconds and its
day-of-week 1 is Monday, not Sunday), so this is sealer's own.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import Any, NamedTuple

from ..errors import SealerError, UsageError
from ..times import after, parse_interval, parse_time

__all__ = [
    "MAX_GAP",
    "MIN_GAP",
    "Cron",
    "Schedule",
    "Window",
    "check_settings",
    "next_window",
    "parse_cron",
    "schedule_of",
]

MIN_GAP = timedelta(hours=4)  # AWS: "You can rotate a secret as often as every four hours."
MAX_GAP = timedelta(days=999)  # AWS: "The maximum rotation period is 999 days."
MAX_LENGTH = 256  # AWS's limit for a ScheduleExpression
BOUNDS = "rotations must be 4 hours to 999 days apart (AWS's bounds)"
HINT = ("use rate(N hours) or rate(N days) from rate(4 hours) to rate(999 days), or "
        "cron(0 HOURS DAY-OF-MONTH MONTH DAY-OF-WEEK *) with ? in one day field (UTC); "
        "see docs/ROTATION.md")

_CYCLE_START, _CYCLE_YEARS, _CYCLE_DAYS = 2000, 400, 146_097  # the Gregorian calendar repeats
_SEARCH_MONTHS = 37  # > 999 days: the next window of a checked schedule lies within
_RATE = re.compile(r"rate\(([1-9][0-9]{0,5}) (hours?|days?)\)\Z")
_DURATION = re.compile(r"([1-9]|1[0-9]|2[0-4])h\Z")
_LENGTHS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_MONTHS = {n: i for i, n in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG",
                                        "SEP", "OCT", "NOV", "DEC"), 1)}
_WEEKDAYS = {n: i for i, n in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 1)}

DayRule = Callable[[int, int], list[int]]  # (days in the month, weekday of the 1st) -> days


class Window(NamedTuple):
    """When a rotation may happen: from `start` (the due date) until `end`."""

    start: datetime
    end: datetime


class Cron(NamedTuple):
    """A checked `cron(...)`: the hours of each matching day, its months and its day rule."""

    hours: tuple[int, ...]
    months: frozenset[int]
    days: DayRule
    min_gap: timedelta  # between consecutive scheduled times, over the whole calendar

    def next_after(self, when: datetime) -> datetime:
        """The first scheduled time strictly after `when` (saturating at the last one)."""
        when = when.astimezone(UTC)
        year, month = when.year, when.month
        for _ in range(_SEARCH_MONTHS):
            if year > datetime.max.year:
                return datetime.max.replace(tzinfo=UTC)
            for day in self._days_of(year, month):
                for hour in self.hours:
                    at = datetime(year, month, day, hour, tzinfo=UTC)
                    if at > when:
                        return at
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        raise UsageError("cron schedule has no time in the next 999 days", hint=HINT)

    def _days_of(self, year: int, month: int) -> list[int]:
        if month not in self.months:
            return []
        length = calendar.monthrange(year, month)[1]
        return self.days(length, _weekday(date(year, month, 1).toordinal()))


class Schedule(NamedTuple):
    """A key's schedule: `text` as written, an interval or a cron rule, and the window."""

    text: str
    interval: timedelta | None
    cron: Cron | None
    duration: timedelta

    def window_after(self, rotated: datetime) -> Window:
        """The first window after a rotation at `rotated`."""
        if self.interval is not None:
            start = after(rotated, self.interval)
        else:
            assert self.cron is not None
            start = self.cron.next_after(rotated)
        return Window(start, after(start, self.duration))


def schedule_of(rotation: Mapping[str, Any], *, error: type[SealerError] = UsageError
                ) -> Schedule | None:
    """The schedule a key's rotation settings name (None when they name none); `error` for
    settings that are malformed, messages naming the field (`rotation.schedule: …`)."""
    every, expression, duration = (rotation.get(k) for k in ("every", "schedule", "duration"))
    names = ("rotation.every", "rotation.schedule", "rotation.duration")
    if every is None and expression is None:
        if duration is not None:
            raise error("rotation.duration: a window without a schedule",
                        hint="add `schedule` or `every`, or drop `duration`")
        return None
    return _checked(_texts((every, expression, duration), names, error), names, error)


def check_settings(*, every: str | None, schedule: str | None,
                   duration: str | None) -> Schedule:
    """The schedule `rotation configure` was given (a UsageError naming the option)."""
    if (every is None) == (schedule is None):
        raise UsageError("give --every or --schedule" if every is None
                         else "give --every or --schedule, not both",
                         hint="e.g. --every 30d, --schedule 'rate(30 days)' or "
                              "--schedule 'cron(0 4 ? * SUN *)'")
    return _build(every, schedule, duration, ("--every", "--schedule", "--duration"))


def _texts(values: tuple[Any, Any, Any], names: tuple[str, str, str],
           error: type[SealerError]) -> tuple[str | None, str | None, str | None]:
    """Settings read from a file are text or absent, or refused before anything is cached."""
    for name, value in zip(names, values, strict=True):
        if value is not None and not isinstance(value, str):
            raise error(f"{name}: must be text, not {type(value).__name__}", hint=HINT)
    return values


def _checked(values: tuple[str | None, str | None, str | None], names: tuple[str, str, str],
             error: type[SealerError]) -> Schedule:
    try:
        return _build(*values, names)
    except UsageError as exc:
        if error is UsageError:
            raise
        raise error(exc.message, hint=exc.hint) from None


def next_window(rotation: Mapping[str, Any]) -> Window | None:
    """The next window of a key: None when it has no schedule or was never rotated."""
    schedule = schedule_of(rotation)
    rotated = parse_time(rotation.get("rotated_at"))
    if schedule is None or rotated is None:
        return None
    return schedule.window_after(rotated)


@lru_cache(maxsize=256)
def _build(every: str | None, expression: str | None, duration: str | None,
           names: tuple[str, str, str]) -> Schedule:
    """The schedule, or a UsageError (cached: the same expression in many files is checked
    once)."""
    if every is not None and expression is not None:
        raise UsageError("rotation: give `every` or `schedule`, not both", hint=HINT)
    window = None if duration is None else _duration(duration, names[2])
    if every is not None:
        interval = parse_interval(every, what=names[0])
        return _interval(every, interval, every.endswith("h"), window, names)
    assert expression is not None
    text = _expression_text(expression, names[1])
    if text.startswith("rate("):
        interval, hourly = _rate(text, names[1])
        return _interval(text, interval, hourly, window, names)
    if text.startswith("cron("):
        cron = parse_cron(text, what=names[1])
        return Schedule(text, None, cron, _cron_window(text, cron, window, names))
    raise UsageError(f"{names[1]}: {text!r} is neither rate(…) nor cron(…)", hint=HINT)


def _expression_text(expression: str, what: str) -> str:
    if len(expression) > MAX_LENGTH:
        raise UsageError(f"{what}: longer than {MAX_LENGTH} characters (AWS's limit)", hint=HINT)
    return expression


def _duration(text: Any, what: str) -> timedelta:
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None:
        raise UsageError(f"{what}: {text!r} is not a window of 1h to 24h (AWS's Duration)",
                         hint="give whole hours: 1h, 2h, … 24h")
    return timedelta(hours=int(match.group(1)))


def _rate(text: str, what: str) -> tuple[timedelta, bool]:
    match = _RATE.match(text)
    if match is None:
        raise UsageError(f"{what}: {text!r} is not rate(N hours) or rate(N days)", hint=HINT)
    value, unit = int(match.group(1)), match.group(2)
    if (value == 1) != (unit in ("hour", "day")):
        right = unit.rstrip("s") if value == 1 else unit.rstrip("s") + "s"
        raise UsageError(f"{what}: {text!r}: write rate({value} {right}) (AWS: singular for 1, "
                         "plural otherwise)", hint=HINT)
    interval = timedelta(hours=value) if unit.startswith("hour") else timedelta(days=value)
    if not MIN_GAP <= interval <= MAX_GAP:
        raise UsageError(f"{what}: {text!r} is out of bounds: {BOUNDS}", hint=HINT)
    return interval, unit.startswith("hour")


def _interval(text: str, interval: timedelta, hourly: bool, window: timedelta | None,
              names: tuple[str, str, str]) -> Schedule:
    """An `every` or `rate()` schedule; in hours, the window must end before the next one."""
    default = timedelta(hours=1) if hourly else timedelta(days=1)
    if window is not None and window > interval:
        raise UsageError(f"{names[2]}: a window of {_hours(window)} would run into the next one: "
                         f"{text} opens one every {_hours(interval)}",
                         hint=f"use a window of at most {interval // timedelta(hours=1)}h")
    return Schedule(text, interval, None, default if window is None else window)


def _cron_window(text: str, cron: Cron, window: timedelta | None,
                 names: tuple[str, str, str]) -> timedelta:
    """AWS's default window (1 hour in hours, else to the end of the UTC day), or the one
    given if it ends before the next window and before the next UTC day."""
    last = max(cron.hours)
    if window is None:
        return timedelta(hours=1) if len(cron.hours) > 1 else timedelta(hours=24 - last)
    if window > cron.min_gap:
        raise UsageError(f"{names[2]}: a window of {_hours(window)} would run into the next one: "
                         f"{text} has windows {_hours(cron.min_gap)} apart",
                         hint=f"use a window of at most {cron.min_gap // timedelta(hours=1)}h")
    if last * timedelta(hours=1) + window > timedelta(hours=24):
        raise UsageError(f"{names[2]}: a window of {_hours(window)} opening at {last:02d}:00 "
                         "would run into the next UTC day (AWS does not allow that)",
                         hint=f"use a window of at most {24 - last}h")
    return window


def _hours(span: timedelta) -> str:
    hours = int(span.total_seconds()) // 3600
    if hours % 24 == 0 and hours >= 48:
        return f"{hours // 24} days"
    return "1 hour" if hours == 1 else f"{hours} hours"


# -- cron(Minutes Hours Day-of-month Month Day-of-week Year) --------------------------------


def parse_cron(text: str, *, what: str = "schedule") -> Cron:
    """AWS's six-field cron expression with Secrets Manager's rules for rotation: minutes 0
    (windows open on the hour), year `*`, `?` in exactly one of day-of-month and day-of-week;
    `,` `-` `*` `/` everywhere, `L` and `NW` in day-of-month, `L`, `NL` and `N#K` in
    day-of-week (1-7 = SUN-SAT), month and weekday names. Windows must be 4 hours to 999 days
    apart over the whole calendar; a schedule that never matches is refused."""

    def fail(problem: str) -> UsageError:
        return UsageError(f"{what}: {text!r}: {problem}", hint=HINT)

    body = text[len("cron("):-1] if text.startswith("cron(") and text.endswith(")") else None
    fields = body.split(" ") if body is not None else []
    if len(fields) != 6 or not all(fields):
        raise fail("write six fields separated by single spaces: "
                   "cron(Minutes Hours Day-of-month Month Day-of-week Year)")
    minutes, hours, dom, month, dow, year = fields
    if minutes != "0":
        raise fail("minutes must be 0 (Secrets Manager opens rotation windows on the hour)")
    if year != "*":
        raise fail("year must be * (Secrets Manager has no schedules more than a year apart)")
    if (dom == "?") == (dow == "?"):
        raise fail("exactly one of day-of-month and day-of-week must be ?")
    try:
        hour_set = _values(hours, 0, 23, {}, "hours")
        months = frozenset(_values(month, 1, 12, _MONTHS, "month"))
        days = _day_of_month(dom) if dow == "?" else _day_of_week(dow)
    except ValueError as exc:
        raise fail(str(exc)) from None
    cron_hours = tuple(sorted(hour_set))
    min_gap, max_gap = _gaps(cron_hours, months, days)
    if min_gap is None or max_gap is None:
        raise fail("it never matches a date")
    if min_gap < MIN_GAP or max_gap > MAX_GAP:
        worst = min_gap if min_gap < MIN_GAP else max_gap
        raise fail(f"windows {_hours(worst)} apart are out of bounds: {BOUNDS}")
    return Cron(cron_hours, months, days, min_gap)


def _values(field: str, low: int, high: int, names: Mapping[str, int], what: str) -> set[int]:
    """`*`, `N`, `N-M`, each optionally `/STEP`, comma-separated -> the values."""
    out: set[int] = set()
    for item in field.split(","):
        base, slash, step_text = item.partition("/")
        step = _number(step_text, 1, high, {}, f"{what} step") if slash else 1
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = (_number(first, low, high, names, what),
                          _number(last, low, high, names, what))
            if start > end:
                raise ValueError(f"{what}: the range {base} runs backwards")
        else:
            start = _number(base, low, high, names, what)
            end = high if slash else start
        out.update(range(start, end + 1, step))
    return out


def _number(text: str, low: int, high: int, names: Mapping[str, int], what: str) -> int:
    if text.upper() in names:
        return names[text.upper()]
    if not (text.isdigit() and text.isascii() and len(text) <= 2) or not low <= int(text) <= high:
        named = f" or {min(names, key=names.__getitem__)}-{max(names, key=names.__getitem__)}" \
            if names else ""
        raise ValueError(f"{what}: {text!r} is not {low}-{high}{named}")
    return int(text)


def _day_of_month(field: str) -> DayRule:
    if field == "L":
        return lambda length, _first: [length]
    if field.endswith("W"):
        return _nearest_weekday(_number(field[:-1], 1, 31, {}, "day-of-month W"))
    if "L" in field or "W" in field or "#" in field:
        raise ValueError(f"day-of-month: {field!r}: L and NW stand alone, # is for "
                         "day-of-week")
    chosen = _values(field, 1, 31, {}, "day-of-month")
    return lambda length, _first: [d for d in sorted(chosen) if d <= length]


def _nearest_weekday(day: int) -> DayRule:
    """AWS's NW: the weekday (MON-FRI) nearest to day N, never in another month."""

    def days(length: int, first: int) -> list[int]:
        if day > length:
            return []
        weekday = (first - 1 + day - 1) % 7 + 1
        if weekday == 7:  # Saturday: the Friday before, or the Monday after the 1st
            return [day - 1 if day > 1 else day + 2]
        if weekday == 1:  # Sunday: the Monday after, or the Friday before the last day
            return [day + 1 if day < length else day - 2]
        return [day]

    return days


def _day_of_week(field: str) -> DayRule:
    if field == "L":
        field = "7"  # AWS: L alone is the last day of the week, SAT
    if field.endswith("L") and len(field) > 1 and field[:-1].isalnum():
        weekday = _number(field[:-1], 1, 7, _WEEKDAYS, "day-of-week L")
        return lambda length, first: [length - (_on(length, first) - weekday) % 7]
    if "#" in field:
        name, _, nth = field.partition("#")
        weekday = _number(name, 1, 7, _WEEKDAYS, "day-of-week")
        count = _number(nth, 1, 5, {}, "day-of-week #")
        return lambda length, first: [d for d in [1 + (weekday - first) % 7 + 7 * (count - 1)]
                                      if d <= length]
    if "L" in field.upper():
        raise ValueError(f"day-of-week: {field!r}: L, NL and N#K stand alone")
    chosen = _values(field, 1, 7, _WEEKDAYS, "day-of-week")
    return lambda length, first: [d for d in range(1, length + 1) if _on(d, first) in chosen]


def _on(day: int, first: int) -> int:
    """The weekday (1 = SUN … 7 = SAT) of `day` in a month whose 1st is `first`."""
    return (first - 1 + day - 1) % 7 + 1


def _weekday(ordinal: int) -> int:
    """The weekday (1 = SUN … 7 = SAT) of a proleptic Gregorian ordinal (1 is a Monday)."""
    return ordinal % 7 + 1


def _gaps(hours: tuple[int, ...], months: frozenset[int], days: DayRule
          ) -> tuple[timedelta | None, timedelta | None]:
    """The shortest and longest time between consecutive scheduled times, over one whole
    400-year cycle and its wrap into the next (None, None when nothing ever matches). A month's
    days depend only on its length and the weekday of its 1st: 28 cases, each worked out once."""
    memo: dict[tuple[int, int], tuple[int, int, int, int] | None] = {}
    ordinal = date(_CYCLE_START, 1, 1).toordinal()
    first = previous = None
    shortest, longest = _CYCLE_DAYS, 0
    for year in range(_CYCLE_START, _CYCLE_START + _CYCLE_YEARS):
        for month in range(1, 13):
            length = _LENGTHS[month] + (month == 2 and calendar.isleap(year))
            shape = (length, _weekday(ordinal))
            if month in months and shape not in memo:
                memo[shape] = _summary(days(*shape))
            if month in months and (summary := memo[shape]) is not None:
                low, high, inner_short, inner_long = summary
                shortest, longest = min(shortest, inner_short), max(longest, inner_long)
                if previous is not None:
                    shortest = min(shortest, ordinal + low - 1 - previous)
                    longest = max(longest, ordinal + low - 1 - previous)
                first = ordinal + low - 1 if first is None else first
                previous = ordinal + high - 1
            ordinal += length
    if first is None or previous is None:
        return None, None
    wrap = first + _CYCLE_DAYS - previous
    shortest, longest = min(shortest, wrap), max(longest, wrap)
    within = [b - a for a, b in pairwise(hours)]
    across = (24 - hours[-1] + hours[0], 24 * (longest - 1) + 24 - hours[-1] + hours[0])
    low = min([*within, 24 * (shortest - 1) + across[0]])
    return timedelta(hours=low), timedelta(hours=max([*within, across[1]]))


def _summary(days: list[int]) -> tuple[int, int, int, int] | None:
    """(first day, last day, shortest and longest gap between them) of one month's days."""
    if not days:
        return None
    gaps = [b - a for a, b in pairwise(days)]
    return days[0], days[-1], min(gaps, default=_CYCLE_DAYS), max(gaps, default=0)
