"""The k8s format: a Kubernetes Secret manifest (apiVersion v1, kind Secret).

Keys are flattened like environment names (the Secret's keys may also hold `-` and `.`).
Each key's bytes are the value's text in UTF-8, or a binary value's own bytes; `data` holds
them in base64, `stringData` (with `string_data`) as text. The known types are checked for the
keys Kubernetes requires. The annotation `sealer.dev/content-hmac-sha256` holds a keyed
digest of the type and data (see Merged.digest), so a change of any value changes it.
The manifest is written by `yamlio.dump`, which quotes every key and value that kubectl's YAML
1.1 reader would take for a boolean, a number or null (`y`, `on`, `0123`, `1e3`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import SealerError
from .flatten import K8S_HINT, K8S_KEY, flatten, text_of
from .merge import Merged
from .spec import SECRET_TYPES, RenderSpec, check_dns_name

__all__ = ["DIGEST_ANNOTATION", "MAX_SECRET_BYTES", "default_name", "render"]

DIGEST_ANNOTATION = "sealer.dev/content-hmac-sha256"
MAX_SECRET_BYTES = 1024 * 1024  # Kubernetes refuses a Secret whose data adds up to more


def render(merged: Merged, spec: RenderSpec) -> bytes:
    from ..yamlio import dump

    options = spec.kubernetes
    data = _data(merged, spec)
    _check_type(merged, options.type, data)
    manifest: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(merged, spec, data),
        "type": options.type,
    }
    if options.string_data:
        manifest["stringData"] = _as_text(merged, data)
    else:
        manifest["data"] = _as_base64(data)
    return dump(manifest).encode("utf-8")


def default_name(file: Path) -> str:
    """`app.sealed.yaml` -> `app`: the Secret's name when none is given."""
    from ..sealedfiles import base_name

    return base_name(file)


def _data(merged: Merged, spec: RenderSpec) -> dict[str, tuple[Any, bytes]]:
    """key -> (path in the tree, the value's bytes)."""
    out: dict[str, tuple[Any, bytes]] = {}
    for entry in flatten(merged, spec.names, valid=K8S_KEY, what="Secret key", hint=K8S_HINT):
        value = entry.value
        out[entry.name] = (entry.path, value if isinstance(value, bytes)
                           else text_of(value).encode("utf-8"))
    total = sum(len(raw) for _, raw in out.values())
    if total > MAX_SECRET_BYTES:
        raise SealerError(f"the Secret would hold {total} bytes; Kubernetes allows at most "
                          f"{MAX_SECRET_BYTES}", file=str(merged.files[-1]),
                          hint="split it into several Secrets with --select")
    return out


def _metadata(merged: Merged, spec: RenderSpec, data: dict[str, tuple[Any, bytes]]
              ) -> dict[str, Any]:
    options = spec.kubernetes
    name = options.name or default_name(merged.files[0])
    if options.name is None:
        check_dns_name(name, origin=spec.origin)
    meta: dict[str, Any] = {"name": name}
    if options.namespace:
        meta["namespace"] = options.namespace
    if options.labels:
        meta["labels"] = dict(options.labels)
    content = {"type": options.type, "data": {k: data[k][1] for k in sorted(data)}}
    meta["annotations"] = {**options.annotations, DIGEST_ANNOTATION: merged.digest(content)}
    return meta


def _check_type(merged: Merged, secret_type: str, data: dict[str, tuple[Any, bytes]]) -> None:
    required = SECRET_TYPES.get(secret_type, ())
    if secret_type == "kubernetes.io/basic-auth":  # noqa: S105 - a type name, not a password
        if not set(required) & set(data):
            raise _missing(merged, secret_type, "the key username or password")
        return
    missing = [key for key in required if key not in data]
    if missing:
        raise _missing(merged, secret_type, ("the keys " if len(missing) > 1 else "the key ")
                       + " and ".join(missing))
    for key in required:
        if key.startswith(".docker"):
            _check_json(merged, key, *data[key])


def _missing(merged: Merged, secret_type: str, keys: str) -> SealerError:
    return SealerError(f"a {secret_type} Secret needs {keys}",
                       file=", ".join(str(f) for f in merged.files),
                       hint="Secret keys are the sealed keys' names, flattened (db.password "
                            "becomes db_password); --select a mapping that holds them")


def _check_json(merged: Merged, key: str, path: Any, raw: bytes) -> None:
    import json

    try:
        ok = isinstance(json.loads(raw), dict)
    except ValueError:  # json.JSONDecodeError and UnicodeDecodeError; the message is not shown
        ok = False
    if not ok:
        raise merged.error(path, f"the value of {key} must be a JSON object, and is not",
                           hint="`kubectl create secret docker-registry --dry-run=client "
                                "-o yaml` shows the expected shape")


def _as_base64(data: dict[str, tuple[Any, bytes]]) -> dict[str, str]:
    import base64

    return {key: base64.b64encode(raw).decode("ascii") for key, (_, raw) in data.items()}


def _as_text(merged: Merged, data: dict[str, tuple[Any, bytes]]) -> dict[str, str]:
    out = {}
    for key, (path, raw) in data.items():
        try:
            out[key] = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise merged.error(path, "a binary value that is not UTF-8 cannot go in stringData",
                               hint="omit --string-data: data holds any bytes") from None
    return out
