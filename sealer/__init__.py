"""sealer: encrypted secrets in git, sealed for named age and SSH keys.

The library is usable without the CLI. Names are imported on first use, so importing `sealer`
costs nothing until you call it; type checkers and IDEs see the real signatures::

    import sealer
    doc = sealer.unseal_file("app.sealed.yaml")  # identities found as the CLI finds them
    sealer.set_value("app.sealed.yaml", "db.password", "s3cret")

Every error a caller can cause is a `sealer.SealerError` (see its subclasses below and the
README's exit-code table); nothing else is raised for bad input.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:  # the real names for mypy and IDEs; at run time __getattr__ imports them
    from .access import Written
    from .audit import AuditError
    from .core import Opened, open_document, seal
    from .discovery import discover_identities, keygen
    from .document import SealedDocument, parse_sealed, read_sealed
    from .editor import edit_file
    from .errors import (
        BusyError,
        ConfigError,
        FormatError,
        IdentityError,
        IntegrityError,
        NoIdentityError,
        PolicyError,
        SealerError,
        UsageError,
        YamlError,
    )
    from .files import (
        get_value,
        open_file,
        recipients_add,
        recipients_add_many,
        recipients_list,
        recipients_remove,
        recipients_remove_many,
        rekey_file,
        rekey_many,
        seal_file,
        set_value,
        show_file,
        sign_file,
        unseal_file,
        unset_values,
    )
    from .fsio import StrPath
    from .keys import Identity, Recipient, parse_identities, parse_recipient
    from .render import RenderSpec, Secrets, load
    from .signing import SignatureError

_EXPORTS = {
    "AuditError": "audit",
    "BusyError": "errors",
    "ConfigError": "errors",
    "FormatError": "errors",
    "IdentityError": "errors",
    "IntegrityError": "errors",
    "NoIdentityError": "errors",
    "PolicyError": "errors",
    "SealerError": "errors",
    "SignatureError": "signing",
    "UsageError": "errors",
    "YamlError": "errors",
    "Identity": "keys",
    "Recipient": "keys",
    "discover_identities": "discovery",
    "parse_identities": "keys",
    "parse_recipient": "keys",
    "keygen": "discovery",
    "SealedDocument": "document",
    "read_sealed": "document",
    "parse_sealed": "document",
    "Opened": "core",
    "open_document": "core",
    "seal": "core",
    "StrPath": "fsio",
    "Written": "access",
    "open_file": "files",
    "seal_file": "files",
    "unseal_file": "files",
    "get_value": "files",
    "set_value": "files",
    "unset_values": "files",
    "show_file": "files",
    "sign_file": "files",
    "recipients_list": "files",
    "recipients_add": "files",
    "recipients_add_many": "files",
    "recipients_remove": "files",
    "recipients_remove_many": "files",
    "rekey_file": "files",
    "rekey_many": "files",
    "edit_file": "editor",
    "load": "render",
    "Secrets": "render",
    "RenderSpec": "render",
}

__all__ = [  # noqa: RUF022 - grouped as _EXPORTS, then sorted by the test that compares them
    "__version__",
    "AuditError",
    "BusyError",
    "ConfigError",
    "FormatError",
    "Identity",
    "IdentityError",
    "IntegrityError",
    "NoIdentityError",
    "Opened",
    "PolicyError",
    "Recipient",
    "RenderSpec",
    "SealedDocument",
    "SealerError",
    "Secrets",
    "SignatureError",
    "StrPath",
    "UsageError",
    "Written",
    "YamlError",
    "discover_identities",
    "edit_file",
    "get_value",
    "keygen",
    "load",
    "open_document",
    "open_file",
    "parse_identities",
    "parse_recipient",
    "parse_sealed",
    "read_sealed",
    "recipients_add",
    "recipients_add_many",
    "recipients_list",
    "recipients_remove",
    "recipients_remove_many",
    "rekey_file",
    "rekey_many",
    "seal",
    "seal_file",
    "set_value",
    "show_file",
    "sign_file",
    "unseal_file",
    "unset_values",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sealer' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
