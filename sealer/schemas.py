"""JSON Schemas for secret types and for sealer.yaml: the one place schemas are found, loaded and
applied. jsonschema is imported here only, and only when a schema is used.

Two levels (docs/CONFIG.md, "Schemas"):
- shape, without any key: the sealed file records every value's type, so required keys, unknown
  keys and types are checked on placeholders, with value constraints removed from the schema;
- values, with a key (`check --decrypt`, and always at seal time): the whole schema, formats,
  lengths and sealer's own checks (`x-sealer-checks`: certificates parse, keys match, not expired).
Messages carry the key path and the rule broken, never the value.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from .envelope import is_token, token_type
from .errors import ConfigError

__all__ = [
    "Issue",
    "builtin_names",
    "config_validator",
    "resolve_schema",
    "validate_shape",
    "validate_values",
]

VALUE_KEYWORDS = frozenset((
    "minLength", "maxLength", "pattern", "format", "enum", "const", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "contentEncoding", "contentMediaType",
    "contentSchema", "x-sealer-checks",
))
PLACEHOLDERS: dict[str, Any] = {
    "str": "", "int": 0, "float": 0.0, "bool": False, "null": None, "bytes": "",
}


class Issue(NamedTuple):
    """A schema violation: where (a key path inside the validated value) and what."""

    path: tuple[Any, ...]
    message: str


@lru_cache(maxsize=1)
def schema_dirs() -> list[Path]:
    """Installed wheels carry sealer/schemas; a source checkout has ./schemas beside sealer/."""
    package = Path(__file__).resolve().parent
    return [d for d in (package / "schemas", package.parent / "schemas") if d.is_dir()]


def builtin_names() -> list[str]:
    names = {p.stem for d in schema_dirs() for p in d.glob("*.json")}
    return sorted(names - {"sealer-config.schema"})


def resolve_schema(name: str, project: Mapping[str, str] | None = None,
                   root: Path | None = None) -> Path | None:
    """The file of schema `name`: a project schema (path relative to `root`) or a built-in."""
    if project and name in project:
        return (root or Path(".")) / project[name]
    return _builtin(name)


@lru_cache(maxsize=64)
def _builtin(name: str) -> Path | None:
    for directory in schema_dirs():
        path = directory / f"{name}.json"
        if path.is_file():
            return path
    return None


@lru_cache(maxsize=64)
def _load(path: Path) -> dict[str, Any]:
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read schema: {exc.strerror}", file=str(path)) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"line {exc.lineno}: invalid JSON: {exc.msg}", file=str(path)) from None
    if not isinstance(schema, dict):
        raise ConfigError("a schema must be a JSON object", file=str(path))
    return schema


def _strip(schema: Any) -> Any:
    """The schema without constraints on values, for checking shape on placeholders."""
    if isinstance(schema, dict):
        return {k: _strip(v) for k, v in schema.items() if k not in VALUE_KEYWORDS}
    if isinstance(schema, list):
        return [_strip(v) for v in schema]
    return schema


@lru_cache(maxsize=64)
def _validator(path: Path, shape_only: bool) -> Any:
    import jsonschema

    schema = _load(path)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    if not _shipped(path):  # sealer's own schemas are checked by the test suite, not per run
        try:
            cls.check_schema(schema)
        except jsonschema.SchemaError as exc:
            where = "/".join(map(str, exc.absolute_path)) or "top level"
            raise ConfigError(f"not a valid JSON Schema at {where}: {exc.message}",
                              file=str(path)) from None
    if shape_only:
        return cls(_strip(schema))
    checking = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
        cls, {"x-sealer-checks": _sealer_checks})
    return checking(schema, format_checker=cls.FORMAT_CHECKER)


def _shipped(path: Path) -> bool:
    return path.parent in schema_dirs()


@lru_cache(maxsize=1)
def config_validator() -> Any:
    """The validator for sealer.yaml (a plain one: the config schema uses no formats)."""
    import jsonschema

    for directory in schema_dirs():
        path = directory / "sealer-config.schema.json"
        if path.is_file():
            return jsonschema.Draft202012Validator(_load(path))
    raise ConfigError("sealer's own schema for sealer.yaml is missing; reinstall sealer")


def _placeholders(node: Any, path: tuple[Any, ...], is_clear: Any) -> Any:
    if isinstance(node, dict):
        return {k: _placeholders(v, (*path, k), is_clear) for k, v in node.items()}
    if isinstance(node, list):
        return [_placeholders(v, (*path, i), is_clear) for i, v in enumerate(node)]
    if is_token(node) and not is_clear(path):
        return PLACEHOLDERS[token_type(node)]
    return _jsonable(node)


def _jsonable(node: Any) -> Any:
    if isinstance(node, bytes):
        return base64.b64encode(node).decode("ascii")
    if isinstance(node, dict):
        return {k: _jsonable(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_jsonable(v) for v in node]
    return node


def validate_shape(sealed: Any, schema: Path, is_clear: Any = lambda _p: False) -> list[Issue]:
    """Check a sealed subtree's keys and types against `schema`, without decrypting anything."""
    instance = _placeholders(sealed, (), is_clear)
    return list(_shape_issues(schema, json.dumps(instance, sort_keys=True)))


@lru_cache(maxsize=4096)
def _shape_issues(schema: Path, instance: str) -> tuple[Issue, ...]:
    """Files of one shape (same keys, same types) get the same answer: computed once."""
    return tuple(_issues(_validator(schema, True), json.loads(instance)))


def validate_values(plain: Any, schema: Path) -> list[Issue]:
    """Check decrypted values against the whole schema, formats and sealer's own checks."""
    return list(_issues(_validator(schema, False), _jsonable(plain)))


def _issues(validator: Any, instance: Any) -> Iterator[Issue]:
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.path))):
        yield Issue(tuple(error.absolute_path), _message(error))


def _message(error: Any) -> str:
    """What rule was broken, in words that never contain the value itself."""
    kind, expected = error.validator, error.validator_value
    if "propertyNames" in error.absolute_schema_path:
        return f"key name {error.instance!r} is not allowed by the schema"
    if kind == "required":
        present = error.instance if isinstance(error.instance, dict) else {}
        missing = [k for k in expected if k not in present]
        return f"missing required key {missing[0] if missing else expected!r}"
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return f"unknown key {extra[0]!r}: the schema does not allow it" if extra else "unknown key"
    if kind == "type":
        return f"must be of type {expected} (it is {_type_name(error.instance)})"
    if kind in ("enum", "const"):
        allowed = expected if kind == "enum" else [expected]
        return "must be one of: " + ", ".join(map(str, allowed))
    return _VALUE_MESSAGES.get(kind, f"breaks the schema rule {kind!r}").format(expected)


_VALUE_MESSAGES = {
    "minLength": "is shorter than {} characters",
    "maxLength": "is longer than {} characters",
    "pattern": "does not have the expected form",
    "format": "is not a valid {}",
    "minimum": "is below {}",
    "maximum": "is above {}",
    "exclusiveMinimum": "must be above {}",
    "exclusiveMaximum": "must be below {}",
    "minItems": "has fewer than {} items",
    "maxItems": "has more than {} items",
    "minProperties": "has fewer than {} keys",
    "uniqueItems": "has duplicate items",
    "propertyNames": "has a key name the schema does not allow",
    "x-sealer-checks": "{}",
}


def _type_name(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
            dict: "object", type(None): "null"}.get(type(value), type(value).__name__)


def _sealer_checks(validator: Any, checks: list[str], instance: Any, schema: Any) -> Iterator[Any]:
    import jsonschema

    if not isinstance(instance, dict):
        return
    for check in checks:
        problem = _CHECKS[check](instance) if check in _CHECKS else f"unknown check {check!r}"
        if problem:
            yield jsonschema.ValidationError(problem, validator="x-sealer-checks",
                                             validator_value=problem)


def _check_tls(value: Mapping[str, Any]) -> str | None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_pem_private_key,
    )

    try:
        certificate = x509.load_pem_x509_certificate(str(value.get("certificate", "")).encode())
        if value.get("chain"):
            x509.load_pem_x509_certificates(str(value["chain"]).encode())
    except ValueError:
        return "certificate or chain: not valid PEM certificates"
    try:
        key = load_pem_private_key(str(value.get("private_key", "")).encode(), password=None)
    except (ValueError, TypeError):
        return "private_key: not a valid unencrypted PEM private key"
    spki = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    if key.public_key().public_bytes(*spki) != certificate.public_key().public_bytes(*spki):
        return "private_key does not match the certificate"
    expires = certificate.not_valid_after_utc
    if expires < datetime.now(UTC):
        return f"certificate expired on {expires:%Y-%m-%d}"
    return None


def certificate_expiry(value: Any) -> str | None:
    """`not after` of the PEM certificate in a tls-certificate value, or None."""
    from cryptography import x509

    if not isinstance(value, Mapping) or not isinstance(value.get("certificate"), str):
        return None
    try:
        certificate = x509.load_pem_x509_certificate(value["certificate"].encode())
    except ValueError:
        return None
    return certificate.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_ssh(value: Mapping[str, Any]) -> str | None:
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_ssh_private_key,
    )

    passphrase = value.get("passphrase")
    try:
        key = load_ssh_private_key(str(value.get("private_key", "")).encode(),
                                   passphrase.encode() if passphrase else None)
    except (ValueError, TypeError):
        return "private_key: not a readable OpenSSH private key"
    public = key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()
    if str(value.get("public_key", "")).split()[:2] != public.split()[:2]:
        return "public_key does not belong to private_key"
    return None


_CHECKS = {"tls-certificate": _check_tls, "ssh-keypair": _check_ssh}
