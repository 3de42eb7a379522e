"""One error hierarchy; the CLI maps each class to an exit code (README "Exit codes").

Messages name the file and key path and say what to do. They never contain a secret value
or anything derived from one.
"""

from __future__ import annotations

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTEGRITY",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_NO_IDENTITY",
    "EXIT_OK",
    "EXIT_USAGE",
    "BusyError",
    "ConfigError",
    "FormatError",
    "IdentityError",
    "IntegrityError",
    "NoIdentityError",
    "PolicyError",
    "SealerError",
    "UsageError",
    "YamlError",
]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NO_IDENTITY = 3
EXIT_INTEGRITY = 4
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130


class SealerError(Exception):
    """Base of every error a user can cause. `str()` is the one-line message."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str, *, file: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.file}: {self.message}" if self.file else self.message


class UsageError(SealerError):
    """Bad arguments or a request that cannot be carried out as asked."""

    exit_code = EXIT_USAGE


class ConfigError(SealerError):
    """A configuration file or environment setting is wrong."""

    exit_code = EXIT_USAGE


class YamlError(SealerError):
    """Input is not YAML sealer accepts (syntax, duplicate keys, aliases, limits)."""


class FormatError(SealerError):
    """A sealed file is structurally malformed (checked without any key)."""

    exit_code = EXIT_INTEGRITY


class IdentityError(SealerError):
    """An identity or recipient could not be read or used."""


class NoIdentityError(SealerError):
    """None of the available identities is a recipient of the file."""

    exit_code = EXIT_NO_IDENTITY


class IntegrityError(SealerError):
    """Authentication failed. Deliberately says nothing about which check failed."""

    exit_code = EXIT_INTEGRITY


class PolicyError(SealerError):
    """A write that the file's environment forbids (recipients, signing); refused before
    anything changed."""


class BusyError(SealerError):
    """Another writer holds the lock for too long."""
