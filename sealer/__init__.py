"""sealer: encrypted secrets in git, sealed for named age and SSH keys.

The library is usable without the CLI. Everything below is imported on first use, so importing
`sealer` costs nothing until you call it::

    import sealer
    doc = sealer.unseal_file(Path("app.sealed.yaml"))  # identities found as the CLI finds them
    sealer.set_value(Path("app.sealed.yaml"), "db.password", "s3cret")
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "SealerError": "errors",
    "NoIdentityError": "errors",
    "IntegrityError": "errors",
    "FormatError": "errors",
    "UsageError": "errors",
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
    "open_file": "files",
    "seal_file": "files",
    "unseal_file": "files",
    "get_value": "files",
    "set_value": "files",
    "unset_values": "files",
    "show_file": "files",
    "recipients_list": "files",
    "recipients_add": "files",
    "recipients_remove": "files",
    "rekey_file": "files",
    "edit_file": "editor",
    "load": "render",
    "Secrets": "render",
    "RenderSpec": "render",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sealer' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
