"""Rotation schedules as AWS Secrets Manager's RotationRules (sealer/rotation/schedule.py,
docs/ROTATION.md "Set up"): `rate()` and six-field `cron()` expressions with AWS's rules and
bounds, the `Duration` window, next windows against known dates, the CLI flow (configure
rotates immediately, status shows the window, `rotate --due` picks it up), `check`, and
hostile expressions that must cost bounded work."""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Demo, run
from sealing import new_identity

from sealer.check import check_files
from sealer.core import seal
from sealer.document import read_sealed
from sealer.errors import ConfigError, UsageError
from sealer.keys import Identity
from sealer.rotation.protocol import configure_rotation, rotate
from sealer.rotation.schedule import (
    MAX_GAP,
    MIN_GAP,
    Schedule,
    check_settings,
    next_window,
    parse_cron,
    schedule_of,
)
from sealer.rotation.versions import due_date, is_due, rotation_status

pytest_plugins = ["cli_fixtures"]

K = ("-i", "alice.key")
H = timedelta(hours=1)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def expression(text: str, duration: str | None = None) -> Schedule:
    return check_settings(every=None, schedule=text, duration=duration)


def next_after(text: str, when: str) -> datetime:
    return parse_cron(text).next_after(at(when))


# -- rate() ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "interval"), [
    ("rate(4 hours)", timedelta(hours=4)),  # AWS's examples and bounds
    ("rate(1 day)", timedelta(days=1)),
    ("rate(10 days)", timedelta(days=10)),
    ("rate(12 hours)", timedelta(hours=12)),
    ("rate(999 days)", timedelta(days=999)),
    ("rate(48 hours)", timedelta(hours=48)),
])
def test_rate_expressions(text: str, interval: timedelta) -> None:
    schedule = expression(text)
    assert (schedule.interval, schedule.cron, schedule.text) == (interval, None, text)


@pytest.mark.parametrize(("text", "message"), [
    ("rate(1 days)", r"write rate\(1 day\) \(AWS: singular for 1"),
    ("rate(10 day)", r"write rate\(10 days\)"),
    ("rate(1 hour)", "out of bounds: rotations must be 4 hours to 999 days apart"),
    ("rate(3 hours)", "out of bounds"),
    ("rate(1000 days)", "out of bounds"),
    ("rate(0 days)", "is not rate"),
    ("rate(01 days)", "is not rate"),
    ("rate(5 minutes)", "is not rate"),
    ("rate(10  days)", "is not rate"),
    ("rate(10 days) ", "is not rate"),
    ("rate(-1 days)", "is not rate"),
    ("RATE(10 days)", "neither rate"),
    ("30d", "neither rate"),
    ("", "neither rate"),
])
def test_bad_rate_expressions(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        expression(text)
    assert str(info.value).startswith(f"--schedule: {text!r}" if text != "" else "--schedule")
    assert "\n" not in str(info.value)


# -- cron(): parsing ------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "cron(0 4 ? * SUN *)",  # the example
    "cron(0 8/8 * * ? *)",  # AWS's examples of Secrets Manager schedules
    "cron(0 2/10 * * ? *)",
    "cron(0 8 1/7 * ? *)",
    "cron(0 0 ? * SUN#1 *)",
    "cron(0 16 L * ? *)",
    "cron(0 4/12 * * ? *)",
    "cron(0 10 ? * MON-FRI *)",
    "cron(0 0 1 JAN,APR,JUL,OCT ? *)",
    "cron(0 0 15W * ? *)",
    "cron(0 0 ? * 6L *)",
    "cron(0 0 ? * L *)",
    "cron(0 0 ? * 3#2 *)",
    "cron(0 0,12 1-7 * ? *)",
    "cron(0 0 ? jan-mar mon *)",
    "cron(0 0 ? * 1,3,5 *)",
    "cron(0 0 ? * */2 *)",
    "cron(0 0 */2 * ? *)",
])
def test_aws_cron_expressions(text: str) -> None:
    cron = parse_cron(text)
    assert cron.min_gap >= MIN_GAP


@pytest.mark.parametrize(("text", "message"), [
    ("cron(5 4 ? * SUN *)", "minutes must be 0"),
    ("cron(* 4 ? * SUN *)", "minutes must be 0"),
    ("cron(0/30 4 ? * SUN *)", "minutes must be 0"),
    ("cron(0 24 ? * SUN *)", "hours: '24' is not 0-23"),
    ("cron(0 -1 ? * SUN *)", "hours: '' is not 0-23"),
    ("cron(0 6-4 ? * SUN *)", "hours: the range 6-4 runs backwards"),
    ("cron(0 */0 ? * SUN *)", "hours step: '0' is not 1-23"),
    ("cron(0 4,, ? * SUN *)", "hours: '' is not 0-23"),
    ("cron(0 ? ? * SUN *)", "hours: '\\?' is not 0-23"),
    ("cron(0 4 32 * ? *)", "day-of-month: '32' is not 1-31"),
    ("cron(0 4 0 * ? *)", "day-of-month: '0' is not 1-31"),
    ("cron(0 4 L,1 * ? *)", "L and NW stand alone"),
    ("cron(0 4 LW * ? *)", "day-of-month W: 'L' is not 1-31"),
    ("cron(0 4 32W * ? *)", "day-of-month W: '32' is not 1-31"),
    ("cron(0 4 1-5W * ? *)", "day-of-month W"),
    ("cron(0 4 2#1 * ? *)", "# is for day-of-week"),
    ("cron(0 4 1 13 ? *)", "month: '13' is not 1-12 or JAN-DEC"),
    ("cron(0 4 1 0 ? *)", "month: '0' is not 1-12"),
    ("cron(0 4 1 FOO ? *)", "month: 'FOO'"),
    ("cron(0 4 1 DEC-JAN ? *)", "runs backwards"),
    ("cron(0 4 ? * 0 *)", "day-of-week: '0' is not 1-7 or SUN-SAT"),
    ("cron(0 4 ? * 8 *)", "day-of-week: '8' is not 1-7"),
    ("cron(0 4 ? * MON-SUN *)", "the range MON-SUN runs backwards"),
    ("cron(0 4 ? * 1#6 *)", "day-of-week #: '6' is not 1-5"),
    ("cron(0 4 ? * 8#1 *)", "day-of-week: '8'"),
    ("cron(0 4 ? * 8L *)", "day-of-week L: '8'"),
    ("cron(0 4 ? * 1,L *)", "L, NL and N#K stand alone"),
    ("cron(0 4 ? * 1W *)", "day-of-week: '1W'"),
    ("cron(0 4 ? * SUN 2026)", "year must be \\*"),
    ("cron(0 4 ? * SUN 2026-2030)", "year must be \\*"),
    ("cron(0 4 * * SUN *)", "exactly one of day-of-month and day-of-week must be \\?"),
    ("cron(0 4 1 * 1 *)", "exactly one of"),
    ("cron(0 4 ? * ? *)", "exactly one of"),
    ("cron(0 4 ? * SUN)", "six fields"),
    ("cron(0 4 ? * SUN * *)", "six fields"),
    ("cron(0  4 ? * SUN *)", "six fields"),
    ("cron( 0 4 ? * SUN *)", "six fields"),
    ("cron(0 4 ? * SUN *", "six fields"),
    ("cron 0 4 ? * SUN *", "neither rate"),
])
def test_bad_cron_expressions(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        expression(text)
    assert "\n" not in str(info.value) and info.value.hint


@pytest.mark.parametrize(("text", "message"), [
    ("cron(0 0,2 * * ? *)", "windows 2 hours apart are out of bounds"),
    ("cron(0 */2 * * ? *)", "windows 2 hours apart"),
    ("cron(0 1,22 * * ? *)", "windows 3 hours apart"),  # 22:00 to 01:00 the next day
    ("cron(0 0 29 2 ? *)", "windows 2921 days apart"),  # 2096-02-29 to 2104-02-29
    ("cron(0 0 ? FEB 5#5 *)", "days apart are out of bounds"),  # a 5th Thursday in February
    ("cron(0 0 31 2 ? *)", "never matches a date"),
    ("cron(0 0 30,31 FEB ? *)", "never matches a date"),
    ("cron(0 0 30W 2 ? *)", "never matches a date"),  # W never leaves its month
    ("cron(0 0 31 APR,JUN,SEP,NOV ? *)", "never matches a date"),
])
def test_cron_bounds_over_the_whole_calendar(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        expression(text)


def test_cron_gaps_near_the_bounds() -> None:
    assert parse_cron("cron(0 0,4 * * ? *)").min_gap == timedelta(hours=4)
    assert parse_cron("cron(0 2,22 * * ? *)").min_gap == timedelta(hours=4)  # 22:00 -> 02:00
    assert parse_cron("cron(0 0,22 ? * MON *)").min_gap == timedelta(hours=22)  # no Tuesday
    assert parse_cron("cron(0 0 29 2,3 ? *)").min_gap == timedelta(days=29)  # Feb 29 -> Mar 29
    assert parse_cron("cron(0 0 1 1 ? *)").min_gap == timedelta(days=365)  # yearly: allowed
    assert timedelta(days=999) == MAX_GAP


# -- cron(): next windows against known dates -----------------------------------------------


@pytest.mark.parametrize(("text", "after", "expected"), [
    ("cron(0 4 ? * SUN *)", "2026-01-01T00:00", "2026-01-04T04:00"),  # a Thursday
    ("cron(0 4 ? * SUN *)", "2026-01-04T04:00", "2026-01-11T04:00"),  # strictly after
    ("cron(0 4 ? * SUN *)", "2026-01-04T03:59", "2026-01-04T04:00"),
    ("cron(0 16 L * ? *)", "2024-02-01T00:00", "2024-02-29T16:00"),  # leap year
    ("cron(0 16 L * ? *)", "2023-02-01T00:00", "2023-02-28T16:00"),
    ("cron(0 16 L * ? *)", "2100-02-01T00:00", "2100-02-28T16:00"),  # not a leap year
    ("cron(0 16 L * ? *)", "2000-02-01T00:00", "2000-02-29T16:00"),  # but 2000 was
    ("cron(0 16 L * ? *)", "2026-12-31T16:00", "2027-01-31T16:00"),  # into the next year
    ("cron(0 0 31 * ? *)", "2026-04-01T00:00", "2026-05-31T00:00"),  # April has 30 days
    ("cron(0 9 15W * ? *)", "2024-06-01T00:00", "2024-06-14T09:00"),  # Sat 15 -> Fri 14
    ("cron(0 9 16W * ? *)", "2024-06-01T00:00", "2024-06-17T09:00"),  # Sun 16 -> Mon 17
    ("cron(0 9 1W * ? *)", "2024-05-31T10:00", "2024-06-03T09:00"),  # Sat 1st -> Mon 3rd
    ("cron(0 0 31W * ? *)", "2024-03-01T00:00", "2024-03-29T00:00"),  # Sun 31st -> Fri 29th
    ("cron(0 9 12W * ? *)", "2026-01-01T00:00", "2026-01-12T09:00"),  # a Monday itself
    ("cron(0 0 ? * 3#2 *)", "2026-01-01T00:00", "2026-01-13T00:00"),  # 2nd Tuesday
    ("cron(0 0 ? * SUN#1 *)", "2026-01-05T00:00", "2026-02-01T00:00"),
    ("cron(0 0 ? * 5#5 *)", "2026-01-01T00:00", "2026-01-29T00:00"),  # months with five
    ("cron(0 0 ? * 5#5 *)", "2026-02-01T00:00", "2026-04-30T00:00"),
    ("cron(0 0 ? * 6L *)", "2026-01-01T00:00", "2026-01-30T00:00"),  # last Friday
    ("cron(0 0 ? * 1L *)", "2026-02-01T01:00", "2026-02-22T00:00"),  # last Sunday
    ("cron(0 0 ? * L *)", "2026-01-01T00:00", "2026-01-03T00:00"),  # L = SAT
    ("cron(0 4/12 * * ? *)", "2026-01-01T05:00", "2026-01-01T16:00"),
    ("cron(0 4/12 * * ? *)", "2026-01-01T16:00", "2026-01-02T04:00"),  # resets each day
    ("cron(0 0 1 JAN ? *)", "2026-06-01T00:00", "2027-01-01T00:00"),
    ("cron(0 12 29 2,3 ? *)", "2027-03-01T00:00", "2027-03-29T12:00"),  # no Feb 29 in 2027
    ("cron(0 12 29 2,3 ? *)", "2028-01-01T00:00", "2028-02-29T12:00"),
])
def test_next_scheduled_time(text: str, after: str, expected: str) -> None:
    assert next_after(text, after) == at(expected)


def test_next_time_saturates_at_the_end_of_time() -> None:
    cron = parse_cron("cron(0 0 * * ? *)")
    assert cron.next_after(at("9999-12-31T12:00")) == datetime.max.replace(tzinfo=UTC)
    schedule = expression("cron(0 0 * * ? *)")
    assert schedule.window_after(at("9999-12-31T12:00")).end == datetime.max.replace(tzinfo=UTC)


# -- windows (AWS's Duration) ---------------------------------------------------------------


@pytest.mark.parametrize(("every", "text", "duration", "window"), [
    (None, "rate(4 hours)", None, H),  # AWS's defaults: 1 hour for a schedule in hours,
    (None, "rate(10 days)", None, 24 * H),  # a day for one in days
    (None, "cron(0 4 ? * SUN *)", None, 20 * H),  # the rest of the UTC day for cron in days
    (None, "cron(0 0 ? * SUN *)", None, 24 * H),
    (None, "cron(0 */4 * * ? *)", None, H),
    ("12h", None, None, H),
    ("30d", None, None, 24 * H),
    ("12w", None, None, 24 * H),
    (None, "rate(4 hours)", "4h", 4 * H),
    (None, "rate(10 days)", "24h", 24 * H),
    (None, "cron(0 22 ? * SUN *)", "2h", 2 * H),
    (None, "cron(0 */4 * * ? *)", "4h", 4 * H),
    ("30d", None, "3h", 3 * H),
])
def test_windows(every: str | None, text: str | None, duration: str | None,
                 window: timedelta) -> None:
    assert check_settings(every=every, schedule=text, duration=duration).duration == window


@pytest.mark.parametrize(("every", "text", "duration", "message"), [
    (None, "rate(4 hours)", "5h", "--duration: a window of 5 hours would run into the next "
                                  "one: rate\\(4 hours\\) opens one every 4 hours"),
    ("6h", None, "7h", "would run into the next one: 6h opens one every 6 hours"),
    (None, "cron(0 */4 * * ? *)", "5h", "has windows 4 hours apart"),
    (None, "cron(0 22 ? * SUN *)", "3h", "opening at 22:00 would run into the next UTC day"),
    (None, "cron(0 4,20 ? * SUN *)", "5h", "opening at 20:00 would run into the next UTC day"),
    (None, "rate(10 days)", "0h", "'0h' is not a window of 1h to 24h"),
    (None, "rate(10 days)", "25h", "'25h' is not a window of 1h to 24h"),
    (None, "rate(10 days)", "01h", "is not a window"),
    (None, "rate(10 days)", "1.5h", "is not a window"),
    (None, "rate(10 days)", "90m", "is not a window"),
    (None, "rate(10 days)", "1d", "is not a window"),
])
def test_bad_windows(every: str | None, text: str | None, duration: str,
                     message: str) -> None:
    with pytest.raises(UsageError, match=message):
        check_settings(every=every, schedule=text, duration=duration)


def test_every_or_schedule_exactly_once() -> None:
    with pytest.raises(UsageError, match="give --every or --schedule, not both"):
        check_settings(every="30d", schedule="rate(30 days)", duration=None)
    with pytest.raises(UsageError, match=r"give --every or --schedule$"):
        check_settings(every=None, schedule=None, duration="2h")
    with pytest.raises(UsageError, match="--every: malformed interval 'monthly'"):
        check_settings(every="monthly", schedule=None, duration=None)


# -- settings read from a file --------------------------------------------------------------


def test_schedule_of_metadata() -> None:
    assert schedule_of({"rotated_at": "2026-01-01T00:00:00Z"}) is None
    assert schedule_of({"schedule": "rate(1 day)", "duration": "2h"}) == expression(
        "rate(1 day)", "2h")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"every": "30d", "schedule": "rate(1 day)"}, "give `every` or `schedule`, not both"),
        ({"duration": "2h"}, "rotation.duration: a window without a schedule"),
        ({"schedule": 30}, "rotation.schedule: must be text, not int"),
        ({"schedule": ["cron(0 4 ? * SUN *)"]}, "must be text, not list"),
        ({"every": {"a": 1}}, "rotation.every: must be text, not dict"),
        ({"schedule": "rate(1 day)", "duration": 2}, "rotation.duration: must be text"),
        ({"schedule": "cron(0 4 ? * SUN"}, "rotation.schedule: 'cron"),
        ({"every": "forever"}, "rotation.every: malformed interval"),
    ]
    for rotation, message in cases:
        with pytest.raises(ConfigError, match=message):
            schedule_of(rotation, error=ConfigError)


def test_due_dates_and_windows() -> None:
    rotated = {"rotated_at": "2026-01-01T10:30:00Z"}
    assert due_date({**rotated, "every": "30d"}) == at("2026-01-31T10:30")
    assert due_date({**rotated, "schedule": "rate(10 days)"}) == at("2026-01-11T10:30")
    assert due_date({**rotated, "schedule": "rate(4 hours)"}) == at("2026-01-01T14:30")
    assert next_window({**rotated, "schedule": "cron(0 4 ? * SUN *)", "duration": "2h"}) == (
        at("2026-01-04T04:00"), at("2026-01-04T06:00"))
    never = {"schedule": "cron(0 4 ? * SUN *)"}
    assert due_date(never) is None and is_due(never, at("2026-01-01T00:00"))  # due now
    assert not is_due({"rotated_at": "2026-01-01T00:00:00Z"}, at("2030-01-01T00:00"))
    weekly = {**rotated, "schedule": "cron(0 4 ? * SUN *)"}
    assert not is_due(weekly, at("2026-01-04T03:59")) and is_due(weekly, at("2026-01-04T04:00"))


# -- status, configure and rotate --due ----------------------------------------------------


@pytest.fixture
def sealed(tmp_path: Path) -> tuple[Path, Identity]:
    identity, recipient = new_identity()
    path = tmp_path / "app.sealed.yaml"
    doc = seal({"token": "t0", "other": "x"}, recipients=[recipient], source=str(path))
    path.write_text(doc.to_yaml(), encoding="utf-8")
    return path, identity


def test_status_states_through_a_window(sealed: tuple[Path, Identity]) -> None:
    path, ident = sealed
    configure_rotation(path, "token", [ident], schedule="cron(0 4 ? * SUN *)", duration="2h")
    configure_rotation(path, "other", [ident], every="30d")
    assert {r.key: r.state for r in rotation_status([path])} == {
        "token": "never rotated", "other": "never rotated"}
    rotate(path, "token", [ident], now=at("2026-01-01T00:00"))  # a Thursday

    def row(now: str) -> tuple[str, str | None, str | None, str | None]:
        (found,) = [r for r in rotation_status([path], now=at(now)) if r.key == "token"]
        return found.state, found.schedule, found.window_start, found.window_end

    window = ("cron(0 4 ? * SUN *)", "2026-01-04T04:00:00Z", "2026-01-04T06:00:00Z")
    assert row("2026-01-02T00:00") == ("due soon", *window)
    assert row("2026-01-04T05:00") == ("due", *window)
    assert row("2026-01-04T06:00") == ("overdue", *window)
    rot = read_sealed(path).metadata["keys"]["token"]["rotation"]
    assert (rot["schedule"], rot["duration"]) == ("cron(0 4 ? * SUN *)", "2h")
    assert "every" not in rot


def test_configure_replaces_every_with_a_schedule_and_back(
        sealed: tuple[Path, Identity]) -> None:
    path, ident = sealed
    configure_rotation(path, "token", [ident], every="30d", duration="3h")
    configure_rotation(path, "token", [ident], schedule="rate(10 days)")
    rot = read_sealed(path).metadata["keys"]["token"]["rotation"]
    assert rot["schedule"] == "rate(10 days)" and "every" not in rot and "duration" not in rot
    configure_rotation(path, "token", [ident], every="12h")
    rot = read_sealed(path).metadata["keys"]["token"]["rotation"]
    assert rot["every"] == "12h" and "schedule" not in rot


def test_configure_refuses_bad_schedules_and_writes_nothing(
        sealed: tuple[Path, Identity]) -> None:
    path, ident = sealed
    before = path.read_bytes()
    for (every, schedule, duration), message in [
            ((None, "rate(2 hours)", None), "out of bounds"),
            ((None, "cron(0 0 31 2 ? *)", None), "never matches"),
            (("1d", "rate(1 day)", None), "not both"),
            ((None, None, None), "give --every or --schedule"),
            ((None, "rate(4 hours)", "5h"), "next one")]:
        with pytest.raises(UsageError, match=message):
            configure_rotation(path, "token", [ident], every=every, schedule=schedule,
                               duration=duration)
    assert path.read_bytes() == before


def test_cli_configure_rotates_immediately_status_shows_the_window_and_due_rotates(
        demo: Demo) -> None:
    from sealer.discovery import discover_identities

    configured = demo.run("rotation", "configure", "app.sealed.yaml", "api.token",
                          "--schedule", "cron(0 4 ? * SUN *)", "--duration", "2h", *K)
    assert configured.code == 0, configured.err
    assert "api.token: rotation cron(0 4 ? * SUN *), window 2h" in configured.err
    assert "api.token rotated (version " in configured.err  # AWS's RotateImmediately
    token = demo.run("get", "app.sealed.yaml", "api.token", *K).out
    assert token and token != "tok-9f8e7d"
    status = demo.run("rotation", "status", "app.sealed.yaml", "--format", "json")
    assert status.code == 0, status.err
    (row,) = json.loads(status.out)
    assert row["schedule"] == "cron(0 4 ? * SUN *)" and row["state"] in ("ok", "due soon")
    start, end = (datetime.fromisoformat(row[k].replace("Z", "+00:00"))
                  for k in ("window_start", "window_end"))
    assert (start.weekday(), start.hour, end - start) == (6, 4, timedelta(hours=2))
    assert row["due"] == row["window_start"]
    text = demo.run("rotation", "status", "app.sealed.yaml")
    assert "NEXT WINDOW (UTC)" in text.out and f"{row['window_start']}/{row['window_end']}" in (
        text.out)

    only = demo.run("rotation", "configure", "app.sealed.yaml", "db.password", "--schedule",
                    "rate(30 days)", "--no-rotate-immediately", *K)
    assert only.code == 0 and "rotated" not in only.err
    assert demo.run("get", "app.sealed.yaml", "db.password", *K).out == "c0rrect-horse"
    # An old rotation (as if the last run was in 2020): both are due, `rotate --due` picks
    # them up, and afterwards nothing is.
    rotate(demo.sealed, "api.token", discover_identities([str(demo.key)]),
           now=at("2020-01-05T04:30"))
    late = demo.run("rotation", "status", "app.sealed.yaml", "--format", "json")
    assert late.code == 1
    assert {r["key"]: r["state"] for r in json.loads(late.out)} == {
        "api.token": "overdue", "db.password": "never rotated"}
    due = demo.run("rotate", "--due", "app.sealed.yaml", *K)
    assert due.code == 0, due.err
    assert "2 rotated, 0 failed" in due.err
    after = demo.run("rotation", "status", "app.sealed.yaml", "--format", "json")
    assert after.code == 0 and {r["state"] for r in json.loads(after.out)} <= {"ok", "due soon"}


def test_cli_configure_errors(demo: Demo) -> None:
    before = demo.sealed.read_bytes()
    bad = demo.run("rotation", "configure", "app.sealed.yaml", "api.token", "--schedule",
                   "rate(1000 days)", *K)
    assert (bad.code, bad.out) == (2, "")
    assert bad.err.splitlines() == [
        "sealer: error: --schedule: 'rate(1000 days)' is out of bounds: rotations must be 4 "
        "hours to 999 days apart (AWS's bounds)",
        "sealer: hint: use rate(N hours) or rate(N days) from rate(4 hours) to rate(999 days), "
        "or cron(0 HOURS DAY-OF-MONTH MONTH DAY-OF-WEEK *) with ? in one day field (UTC); see "
        "docs/ROTATION.md"]
    neither = demo.run("rotation", "configure", "app.sealed.yaml", "api.token", *K)
    assert neither.code == 2 and "give --every or --schedule" in neither.err
    assert demo.sealed.read_bytes() == before


def test_a_malformed_schedule_in_a_file_is_a_check_finding(tmp_path: Path) -> None:
    identity, recipient = new_identity()
    path = tmp_path / "app.sealed.yaml"
    rotation = {"schedule": "cron(0 0 31 2 ? *)", "rotated_at": "2026-01-01T00:00:00Z"}
    doc = seal({"token": "t", "fine": "f"}, recipients=[recipient], source=str(path),
               metadata={"keys": {"token": {"rotation": rotation},
                                  "fine": {"rotation": {"schedule": "rate(1 day)"}}}})
    path.write_text(doc.to_yaml(), encoding="utf-8")
    findings = [f for f in check_files([path]) if f.path in ("token", "fine")]
    assert [(f.rule, f.path) for f in findings] == [("sealed-structure", "token")]
    assert findings[0].message == ("rotation.schedule: 'cron(0 0 31 2 ? *)': it never matches "
                                   "a date")
    assert findings[0].line > 1
    checked = run("check", path)
    assert checked.code == 1 and "never matches a date" in checked.out + checked.err
    assert "Traceback" not in checked.err
    status = run("rotation", "status", path, "--format", "json")
    assert status.code == 1
    assert {r["key"]: r["state"] for r in json.loads(status.out)} == {
        "token": "invalid", "fine": "never rotated"}
    del identity


# -- hostile expressions --------------------------------------------------------------------


def test_hostile_expressions_are_bounded() -> None:
    started = time.monotonic()
    for text in ["cron(" + "0 " * 10_000 + ")", "rate(" + "9" * 10_000 + " days)",
                 "cron(0 " + ",".join(["0"] * 130) + " * * ? *)"]:
        with pytest.raises(UsageError, match="longer than 256 characters") as info:
            expression(text)
        assert len(str(info.value)) < 100  # a long expression is not echoed back
    longest = "cron(0 " + ",".join(["0"] * 120) + " * * ? *)"  # 255 characters: allowed
    assert parse_cron(longest).hours == (0,)
    crowded = "cron(0 " + ",".join(str(h) for h in range(0, 24, 4)) + " * * ? *)"
    assert parse_cron(crowded).min_gap == timedelta(hours=4)
    assert time.monotonic() - started < 5


def test_random_cron_text_parses_or_fails_cleanly() -> None:
    """Text made of cron's own characters: a UsageError or a schedule whose next time is
    found, never another exception, in bounded time."""
    rng = random.Random(13)
    alphabet = ["0", "1", "2", "4", "7", "12", "23", "31", "*", "?", "L", "W", "#", "/", "-",
                ",", "SUN", "FRI", "JAN", "FEB", "5L", "15W", "2#5", "*/4", "1-5", "MON-FRI"]
    started, parsed = time.monotonic(), 0
    for _ in range(1500):
        fields = ["0", *("".join(rng.choices(alphabet, k=rng.choice((1, 1, 2, 3))))
                         for _ in range(4)), "*"]
        fields[rng.choice((2, 4))] = "?"
        text = f"cron({' '.join(fields)})"
        try:
            cron = parse_cron(text)
        except UsageError as exc:
            assert text in str(exc)
            continue
        parsed += 1
        when = at("2026-01-01T00:00")
        for _ in range(3):
            following = cron.next_after(when)
            assert following - when >= MIN_GAP or when == at("2026-01-01T00:00")
            assert following - when <= MAX_GAP
            when = following
    assert parsed > 10
    assert time.monotonic() - started < 60
