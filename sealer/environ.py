"""The environment variables that hold or name private keys, in one list, and the environment
every child process sealer starts gets: this process's, without them (exec, rotator commands,
editors, git).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["IDENTITY_VARIABLES", "KEY_VARIABLES", "SIGNING_KEY_VARIABLE", "child_environment"]

# Where identities are discovered, in order: (variable, holds a path rather than the key).
IDENTITY_VARIABLES: tuple[tuple[str, bool], ...] = (
    ("SEALER_IDENTITY", False),
    ("SEALER_IDENTITY_FILE", True),
    ("SOPS_AGE_KEY", False),
    ("SOPS_AGE_KEY_FILE", True),
)
SIGNING_KEY_VARIABLE = "SEALER_SIGNING_KEY"  # a path to the private key that signs writes
KEY_VARIABLES: tuple[str, ...] = (
    *(name for name, _ in IDENTITY_VARIABLES),
    SIGNING_KEY_VARIABLE,
    "SOPS_AGE_SSH_PRIVATE_KEY_FILE",  # sops reads it: a child that is sops must not either
)


def child_environment(base: Mapping[str, str] | None = None, *,
                      keep_keys: bool = False) -> dict[str, str]:
    """A copy of `base` (default: this process's environment) without the key variables."""
    env = dict(os.environ if base is None else base)
    if not keep_keys:
        for name in KEY_VARIABLES:
            env.pop(name, None)
    return env
