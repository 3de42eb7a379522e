"""What the database rotators share: reading AWS's secret shape for database credentials
(`host`, `port` as an integer or digit string, `username`, `password`, `dbname`, `engine`,
`ssl`), the `_clone` naming of AWS's alternating-users templates, and the rule that PENDING may
differ from CURRENT only in what the strategy changes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, NamedTuple

from ...errors import UsageError
from .base import RotationError

__all__ = ["CLONE_SUFFIX", "CommonSettings", "SecretFields", "alternate", "check_pair",
           "common_settings", "new_pending", "secret_fields"]

CLONE_SUFFIX = "_clone"


class SecretFields(NamedTuple):
    host: str
    port: int
    username: str
    password: str
    dbname: Any  # as stored; each rotator has its own default
    ssl: bool | None  # the secret's own `ssl` key (AWS's templates read it)


def secret_fields(value: Any, what: str, *, rotator: str, engines: tuple[str, ...],
                  engine_text: str, default_port: int, shape: str) -> SecretFields:
    """The fields of an AWS-shaped database secret; UsageError naming the one that is wrong."""
    if not isinstance(value, Mapping):
        raise UsageError(f"{what} for rotator {rotator!r} is not a mapping", hint=f"use {shape}")
    for name in ("host", "username", "password"):
        if not isinstance(value.get(name), str) or not value[name]:
            raise UsageError(f"{what} for rotator {rotator!r} has no {name}", hint=f"use {shape}")
    if value.get("engine", engines[0]) not in engines:
        raise UsageError(f"{what} is for engine {value['engine']!r}, not {engine_text}")
    port = value.get("port", default_port)
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise UsageError(f"{what} for rotator {rotator!r} has an invalid port")
    ssl = value.get("ssl")
    if isinstance(ssl, str) and ssl.lower() in ("true", "false"):
        ssl = ssl.lower() == "true"
    if ssl is not None and not isinstance(ssl, bool):
        raise UsageError(f"{what} for rotator {rotator!r} has an invalid ssl (true or false)")
    return SecretFields(value["host"], port, value["username"], value["password"],
                        value.get("dbname"), ssl)


def alternate(username: str, *, limit: int, size: Callable[[str], int], limit_text: str,
              noun: str) -> str:
    """`app` <-> `app_clone`, as AWS's alternating-users templates name them."""
    if username.endswith(CLONE_SUFFIX):
        return username.removesuffix(CLONE_SUFFIX)
    if size(username + CLONE_SUFFIX) > limit:
        raise UsageError(f"{noun} name {username!r} is too long to add {CLONE_SUFFIX!r} "
                         f"({limit_text})")
    return username + CLONE_SUFFIX


def check_pair(old: Any, new: Any, strategy: str, *, alternate_name: Callable[[str], str],
               account: str) -> None:
    """PENDING may only differ from CURRENT in what the strategy changes (`old` and `new` are
    the rotator's frozen Credential dataclasses)."""
    expected = alternate_name(old.username) if strategy == "alternating-users" else old.username
    moved = replace(new, username=old.username, password=old.password) != old
    if new.username != expected or moved:
        changes = "the password" if expected == old.username else f"the {account} and its password"
        raise RotationError("set", old.target, f"the pending secret is for {new.target}, but "
                            f"{strategy} rotation changes only {changes}")


def new_pending(current: Mapping[str, Any], strategy: str,
                alternate_name: Callable[[str], str],
                password_options: Mapping[str, Any]) -> dict[str, Any]:
    """The create step of a database rotator: CURRENT with a new password, and for
    alternating users the other user's name; every other field kept as it is."""
    from ..generators import generate

    pending = dict(current)
    if strategy == "alternating-users":
        pending["username"] = alternate_name(str(current["username"]))
    pending["password"] = generate("password", password_options)
    return pending


class CommonSettings(NamedTuple):
    strategy: str
    admin: Any  # the admin credential as given (a mapping once resolved), or None
    password_options: Mapping[str, Any]
    connect_timeout: int


def common_settings(rotator: str, settings: Mapping[str, Any], *,
                    strategies: tuple[str, ...], admin_can: str) -> CommonSettings:
    """The settings every database rotator reads: strategy (the first of `strategies` by
    default), admin (required for alternating users), password generator options and
    connect_timeout; UsageError naming the one that is wrong."""
    strategy = settings.get("strategy", strategies[0])
    if strategy not in strategies:
        raise UsageError(f"rotator {rotator!r}: unknown strategy {strategy!r}",
                         hint=f"use one of: {', '.join(strategies)}")
    admin = settings.get("admin")
    if strategy == "alternating-users" and admin is None:
        raise UsageError(f"rotator {rotator!r} with alternating-users needs settings.admin",
                         hint=f"an admin credential (host, port, username, password) that "
                              f"{admin_can}")
    options = settings.get("password", {})
    if not isinstance(options, Mapping):
        raise UsageError(f"rotator {rotator!r}: settings.password must be a mapping of "
                         "password generator options", hint="e.g. {length: 40}")
    timeout = settings.get("connect_timeout", 10)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
        raise UsageError(f"rotator {rotator!r}: settings.connect_timeout must be a whole "
                         "number of seconds, at least 1")
    return CommonSettings(str(strategy), admin, options, timeout)
