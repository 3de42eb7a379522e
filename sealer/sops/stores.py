"""SOPS's stores: the file formats an encrypted document comes in (yaml, json, dotenv, ini, and
binary, a JSON object with one `data` key), each read into branches (one per YAML document) and
the `sops` metadata. Comments are dropped: the MAC never covers them and sealer keeps none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from .. import limits
from ..errors import IntegrityError, UsageError, YamlError

__all__ = ["STORES", "Loaded", "load", "looks_like_sops", "read_dotenv", "read_ini", "store_for"]

STORES = ("yaml", "json", "dotenv", "ini", "binary")
_EXTENSIONS = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".env": "dotenv", ".ini": "ini"}
_MAP, _LIST = "__map_", "__list_"
_FLAT_TOKEN = re.compile(r"(__map_|__list_)")
MAX_LIST_INDEX = 256  # entries of one metadata list (age keys, key groups)
MAX_METADATA_KEYS = 4096  # flattened metadata entries (dotenv, ini)


class Loaded(NamedTuple):
    store: str
    branches: list[dict[str, Any]]
    metadata: dict[str, Any]


def store_for(path: Path) -> str:
    """sops' rule: by extension, anything else is binary."""
    return _EXTENSIONS.get(path.suffix.lower(), "binary")


def looks_like_sops(data: bytes, store: str) -> bool:
    """Cheap and without keys: does this file carry SOPS metadata?"""
    text = data[: limits.MAX_FILE_BYTES].decode("utf-8", "replace")
    if store == "dotenv":
        return re.search(r"^sops_mac=", text, re.MULTILINE) is not None
    if store == "ini":
        return re.search(r"^\[sops\]\s*$", text, re.MULTILINE) is not None
    if store == "yaml":
        return re.search(r"^sops:\s*$", text, re.MULTILINE) is not None
    return re.search(r'"sops"\s*:\s*\{', text) is not None


def load(data: bytes, store: str, source: str) -> Loaded:
    """The branches and metadata of a SOPS file in `store`."""
    if len(data) > limits.MAX_FILE_BYTES:
        raise UsageError(f"larger than the {limits.mib(limits.MAX_FILE_BYTES)} limit",
                         file=source)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise YamlError("not UTF-8 text", file=source) from None
    if store == "dotenv":
        flat = read_dotenv(text, source)
        meta = _unflatten({k[5:]: v for k, v in flat.items() if k.startswith("sops_")}, source)
        return Loaded(store, [{k: v for k, v in flat.items() if not k.startswith("sops_")}],
                      meta)
    if store == "ini":
        sections = read_ini(text, source)
        meta_section = sections.pop("sops", None)
        if meta_section is None:
            raise _not_sops(source)
        escaped = {k: v.replace("\\n", "\n") for k, v in meta_section.items()}
        return Loaded(store, [sections], _unflatten(escaped, source))
    documents = _json(text, source) if store in ("json", "binary") else _yaml(text, source)
    if not documents or not all(isinstance(d, dict) for d in documents):
        raise _not_sops(source)
    meta = documents[0].get("sops")
    if not isinstance(meta, dict):
        raise _not_sops(source)
    branches = [{k: v for k, v in d.items() if k != "sops"} for d in documents]
    return Loaded(store, branches, meta)


def _not_sops(source: str) -> UsageError:
    return UsageError("is not a SOPS-encrypted file (no `sops` metadata)", file=source)


def _yaml(text: str, source: str) -> list[Any]:
    from .yamlv3 import load_documents

    return load_documents(text, source)


def _json(text: str, source: str) -> list[Any]:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                raise YamlError(f"duplicate key {key!r}", file=source)
            out[key] = value
        return out

    def constant(name: str) -> Any:
        raise YamlError(f"{name} is not JSON", file=source)

    try:
        value = json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except (ValueError, RecursionError):
        raise YamlError("not valid JSON", file=source) from None
    found = limits.shape(value)
    if found.too_deep is not None:
        raise YamlError(f"nested deeper than {limits.MAX_DEPTH} levels", file=source)
    if found.nodes > limits.MAX_NODES:
        raise YamlError(f"more than {limits.MAX_NODES} values", file=source)
    return [value]


def read_dotenv(text: str, source: str) -> dict[str, str]:
    """sops' dotenv store: `KEY=value` lines, `#` comments, `\\n` in a value is a newline."""
    out: dict[str, str] = {}
    for number, line in enumerate(text.split("\n"), 1):
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise YamlError(f"line {number}: not a KEY=value line", file=source)
        if key in out:
            raise YamlError(f"line {number}: duplicate key {key!r}", file=source)
        out[key] = value.replace("\\n", "\n")
    return out


def read_ini(text: str, source: str) -> dict[str, dict[str, str]]:
    """INI as sops (go-ini) writes it: `[section]`, `key = value`, `;` and `#` comment lines,
    a value in `\"\"\"` quotes over several lines, one in `"` or `'` quotes unquoted."""
    sections: dict[str, dict[str, str]] = {"DEFAULT": {}}
    current = sections["DEFAULT"]
    lines = iter(enumerate(text.splitlines(), 1))
    for number, raw in lines:
        line = raw.strip()
        if not line or line[0] in ";#":
            continue
        if line.startswith("[") and line.endswith("]"):
            name = line[1:-1].strip()
            if name in sections and name != "DEFAULT":
                raise YamlError(f"line {number}: duplicate section [{name}]", file=source)
            current = sections.setdefault(name, {})
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise YamlError(f"line {number}: not a `key = value` line", file=source)
        key, value = key.strip(), _ini_value(value.strip(), lines, number, source)
        if key in current:
            raise YamlError(f"line {number}: duplicate key {key!r}", file=source)
        current[key] = value
    if not sections["DEFAULT"]:
        del sections["DEFAULT"]
    return sections


def _ini_value(value: str, lines: Iterator[tuple[int, str]], number: int, source: str) -> str:
    if value.startswith('"""'):
        parts = [value[3:]]
        while not parts[-1].endswith('"""') or (len(parts) == 1 and len(parts[0]) < 3):
            following = next(lines, None)
            if following is None:
                raise YamlError(f"line {number}: a value in \"\"\" quotes never ends",
                                file=source)
            parts.append(following[1])
        return "\n".join(parts)[:-3]
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _unflatten(flat: dict[str, str], source: str) -> dict[str, Any]:
    """sops' flattened metadata (`age__list_0__map_enc`) back into mappings and lists."""
    if len(flat) > MAX_METADATA_KEYS:
        raise IntegrityError("malformed sops metadata: too many entries", file=source)
    root: dict[str, Any] = {}
    for key, value in flat.items():
        parts = _FLAT_TOKEN.split(key)
        node: Any = root
        name: Any = parts[0]
        for separator, part in zip(parts[1::2], parts[2::2], strict=True):
            child: Any = [] if separator == _LIST else {}
            node = _child(node, name, child, source)
            name = _index(part, source) if separator == _LIST else part
        _set(node, name, value, source)
    return root


def _index(part: str, source: str) -> int:
    if not part.isdigit() or int(part) > MAX_LIST_INDEX:
        raise IntegrityError("malformed sops metadata", file=source)
    return int(part)


def _child(node: Any, name: Any, empty: Any, source: str) -> Any:
    if isinstance(node, list):
        while len(node) <= name:
            node.append(None)
        if node[name] is None:
            node[name] = empty
        found = node[name]
    else:
        found = node.setdefault(name, empty)
    if type(found) is not type(empty):
        raise IntegrityError("malformed sops metadata", file=source)
    return found


def _set(node: Any, name: Any, value: str, source: str) -> None:
    if isinstance(node, list):
        while len(node) <= name:
            node.append(None)
        node[name] = value
    elif name in node:
        raise IntegrityError("malformed sops metadata", file=source)
    else:
        node[name] = value
