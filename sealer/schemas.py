"""JSON Schemas for secret types and for sealer.yaml: the one place schemas are found, loaded and
applied. jsonschema is imported here only, and only when a schema is used.

Two levels (docs/CONFIG.md, "Schemas"):
- shape, without any key: the sealed file records every value's type, so required keys, unknown
  keys and types are checked on placeholders, with value constraints removed from the schema;
- values, with a key (`check --decrypt`, and always at seal time): the whole schema, formats,
  lengths and sealer's own checks (`x-sealer-checks`: certificates parse, keys match, not expired).
Messages carry the key path and the rule broken, never the value.

A project's schemas come from the repository, that is from strangers (docs/CONFIG.md,
"Schemas"): a schema file must lie inside the directory of the sealer.yaml naming it and be at
most 1 MiB; `$ref`s are followed only within the same file (nothing is ever fetched or read for
one); `pattern` and `patternProperties` are matched with RE2, in linear time.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from .digest import sha256
from .envelope import is_token, token_type
from .errors import ConfigError, SealerError
from .fsio import read_bytes
from .regex import MAX_PATTERN, Pattern, compile_pattern

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
MAX_SCHEMA_BYTES = 1024 * 1024
MAX_DEPTH = 100  # nesting of a schema document: validation recurses through it
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
        return _project_schema(name, project[name], (root or Path(".")).resolve())
    return _builtin(name)


def _project_schema(name: str, text: str, root: Path) -> Path:
    """A project schema's file, which must lie inside `root` (the directory of the sealer.yaml
    naming it): no absolute path, no `..`, no symlink leading out of the repository."""
    from .config import CONFIG_NAME, contained_path

    path = contained_path(root, text)
    if path is None:
        raise ConfigError(f"schemas.{name}: {text!r} is not a path inside this directory "
                          "(absolute paths, ~, '..' and symlinks leading out are refused)",
                          file=str(root / CONFIG_NAME),
                          hint="give a path relative to sealer.yaml's directory, to a file "
                               "inside it")
    return path


@lru_cache(maxsize=64)
def _builtin(name: str) -> Path | None:
    for directory in schema_dirs():
        path = directory / f"{name}.json"
        if path.is_file():
            return path
    return None


@lru_cache(maxsize=64)
def _load(path: Path) -> dict[str, Any]:
    """A schema file: a regular file of at most MAX_SCHEMA_BYTES, a JSON object, not too deep."""
    hint = f"a schema is a JSON file of at most {MAX_SCHEMA_BYTES // (1024 * 1024)} MiB"
    if path.exists() and not path.is_file():
        raise ConfigError("cannot read schema: not a regular file", file=str(path), hint=hint)
    try:
        schema = json.loads(read_bytes(path, limit=MAX_SCHEMA_BYTES))
    except SealerError as exc:
        raise ConfigError(f"cannot read schema: {exc.message}", file=str(path),
                          hint=hint) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"line {exc.lineno}: invalid JSON: {exc.msg}", file=str(path)) from None
    except (ValueError, RecursionError) as exc:  # not UTF-8; nested past the parser's stack
        reason = "not UTF-8" if isinstance(exc, ValueError) else "nested too deeply"
        raise ConfigError(f"invalid JSON: {reason}", file=str(path)) from None
    if not isinstance(schema, dict):
        raise ConfigError("a schema must be a JSON object", file=str(path))
    if _depth(schema) > MAX_DEPTH:
        raise ConfigError(f"the schema is nested more than {MAX_DEPTH} levels deep",
                          file=str(path))
    return schema


def _depth(node: Any) -> int:
    deepest, stack = 0, [(node, 1)]
    while stack and deepest <= MAX_DEPTH:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        children = item.values() if isinstance(item, dict) else item
        stack += [(c, depth + 1) for c in children if isinstance(c, dict | list)]
    return deepest


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
        _check_schema(cls, schema, path)
    _check_references(cls, schema, path)
    registry = _no_retrieval()
    linear = jsonschema.validators.extend(cls, {  # type: ignore[no-untyped-call]
        "pattern": _pattern, "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties})
    if shape_only:
        return linear(_strip(schema), registry=registry)
    checking = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
        linear, {"x-sealer-checks": _sealer_checks})
    return checking(schema, registry=registry, format_checker=_format_checker(cls))


def _check_schema(cls: Any, schema: dict[str, Any], path: Path) -> None:
    import jsonschema

    try:
        cls.check_schema(schema, format_checker=_format_checker(cls))
    except jsonschema.SchemaError as exc:
        where = "/".join(map(str, exc.absolute_path)) or "top level"
        if exc.validator_value == "regex" and isinstance(exc.instance, str):
            _regex(exc.instance, str(path), where)  # raises, saying what RE2 lacks
        raise ConfigError(f"not a valid JSON Schema at {where}: {exc.message}",
                          file=str(path)) from None


def _no_retrieval() -> Any:
    """A registry that retrieves nothing: only the schema document itself is ever looked in."""
    from referencing import Registry

    return Registry(retrieve=_refuse)  # type: ignore[call-arg]  # an attrs alias mypy misses


def _refuse(uri: str) -> Any:
    raise LookupError(f"sealer retrieves no schema resources ({uri})")


def _check_references(cls: Any, schema: dict[str, Any], path: Path) -> None:
    """Every `$ref` resolves inside the document (before any validation, so a remote or file
    reference is an error naming it, never a fetch); and no `unevaluatedProperties` where
    `patternProperties` are used: jsonschema would match them with Python's re."""
    from referencing import Specification
    from referencing.exceptions import Unresolvable
    from referencing.jsonschema import specification_with

    specification = specification_with(cls.ID_OF(cls.META_SCHEMA) or "urn:unknown-dialect",
                                       default=Specification.OPAQUE)
    root = specification.create_resource(schema)
    resolver = _no_retrieval().resolver_with_root(root)
    stack, keywords = [(resolver, root)], set[str]()
    while stack:
        resolver, resource = stack.pop()
        resolver = resolver.in_subresource(resource)
        contents = resource.contents
        for keyword in ("$ref", "$dynamicRef", "$recursiveRef"):
            ref = contents.get(keyword) if isinstance(contents, dict) else None
            if isinstance(ref, str):
                try:
                    resolver.lookup(ref)
                except Unresolvable:
                    raise _reference_error(ref, path) from None
        keywords.update(contents if isinstance(contents, dict) else ())
        stack += [(resolver, sub) for sub in resource.subresources()]
    if {"unevaluatedProperties", "patternProperties"} <= keywords:
        raise ConfigError("a schema using both patternProperties and unevaluatedProperties is "
                          "not supported", file=str(path),
                          hint="use additionalProperties beside patternProperties instead")


def _reference_error(ref: str, path: Path) -> ConfigError:
    shown = ref if len(ref) <= 200 else ref[:199] + "…"
    if ref.startswith("#"):
        return ConfigError(f"$ref {shown!r} points to nothing in this schema", file=str(path))
    return ConfigError(f"$ref {shown!r} points outside this schema file: sealer follows only "
                       "references within the file (#/…) and never fetches or reads one",
                       file=str(path), hint="copy the definition into this file under $defs "
                                            "and refer to it as #/$defs/NAME")


def _regex(text: str, file: str | None = None, where: str | None = None) -> Pattern:
    """A schema's `pattern` or `patternProperties` key, compiled with RE2 (searched, as the
    JSON Schema specification says)."""
    shown = text if len(text) <= 60 else text[:59] + "…"
    at = f" at {where}" if where else ""
    return compile_pattern(text, what=f"the schema pattern {shown!r}{at}", file=file,
                           limit=MAX_PATTERN)


@lru_cache(maxsize=8)
def _format_checker(cls: Any) -> Any:
    """The class's format checker with `regex` checked by RE2, the syntax sealer matches with."""
    import jsonschema

    checker = jsonschema.FormatChecker(formats=())
    checker.checkers = dict(cls.FORMAT_CHECKER.checkers)
    checker.checks("regex", raises=ConfigError)(
        lambda instance: not isinstance(instance, str) or bool(_regex(instance)))
    return checker


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    import jsonschema

    if validator.is_type(instance, "string") and not _regex(pattern).search(instance):
        yield jsonschema.ValidationError(f"does not match {pattern!r}")


def _pattern_properties(validator: Any, patterns: dict[str, Any], instance: Any,
                        schema: Any) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        compiled = _regex(pattern)
        for key, value in instance.items():
            if compiled.search(key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(validator: Any, extra: Any, instance: Any,
                           schema: Any) -> Iterator[Any]:
    import jsonschema

    if not validator.is_type(instance, "object"):
        return
    extras = _additional(instance, schema)
    if validator.is_type(extra, "object"):
        for key in extras:
            yield from validator.descend(instance[key], extra, path=key)
    elif extra is False and extras:
        yield jsonschema.ValidationError(
            f"Additional properties are not allowed ({', '.join(map(repr, extras))} unexpected)")


def _additional(instance: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """The keys neither `properties` nor `patternProperties` cover, sorted."""
    properties = schema.get("properties", {})
    patterns = [_regex(p) for p in schema.get("patternProperties", {})]
    return sorted((k for k in instance
                   if k not in properties and not any(p.search(k) for p in patterns)), key=str)


def _shipped(path: Path) -> bool:
    return path.parent in schema_dirs()


def _config_schema_path() -> Path:
    for directory in schema_dirs():
        path = directory / "sealer-config.schema.json"
        if path.is_file():
            return path
    raise ConfigError("sealer's own schema for sealer.yaml is missing; reinstall sealer")


@lru_cache(maxsize=1)
def shipped_fingerprint() -> bytes:
    """Every schema shipped with sealer, name and bytes: what a remembered verdict is valid
    for (sealer.verdicts), so a changed schema, or one it references, asks again."""
    digest = sha256()
    for directory in schema_dirs():
        for path in sorted(directory.glob("*.json")):
            data = path.read_bytes()
            digest.update(path.name.encode() + b"\0" + len(data).to_bytes(8, "big") + data)
    return digest.digest()


@lru_cache(maxsize=1)
def config_validator() -> Any:
    """The validator for sealer.yaml (a plain one: the config schema uses no formats)."""
    import jsonschema

    return jsonschema.Draft202012Validator(_load(_config_schema_path()))


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
    """Files of one shape (same keys, same types) get the same answer: computed once, and for
    sealer's own schemas remembered across runs when valid (sealer.verdicts)."""
    from .verdicts import known_valid, remember_valid

    shipped = _shipped(schema)
    key = shipped_fingerprint() + schema.name.encode() if shipped else b""
    if shipped and known_valid(key, instance):
        return ()
    issues = tuple(_issues(_validator(schema, True), json.loads(instance), schema))
    if shipped and not issues:
        remember_valid(key, instance)
    return issues


def validate_values(plain: Any, schema: Path) -> list[Issue]:
    """Check decrypted values against the whole schema, formats and sealer's own checks."""
    return list(_issues(_validator(schema, False), _jsonable(plain), schema))


def _issues(validator: Any, instance: Any, schema: Path) -> Iterator[Issue]:
    from referencing.exceptions import Unresolvable

    try:
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.path)))
    except Unresolvable as exc:  # _check_references saw every $ref: a safety net
        raise _reference_error(str(getattr(exc, "ref", "?")), schema) from None
    except RecursionError:  # {"$ref": "#"}: references that lead back without going deeper
        raise ConfigError("the schema's $refs form a loop", file=str(schema),
                          hint="a $ref may lead back to a schema only below a keyword such "
                               "as properties or items") from None
    for error in errors:
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
        extra = _additional(error.instance, error.schema)
        return f"unknown key {extra[0]!r}: the schema does not allow it" if extra else "unknown key"
    if kind == "type":
        kinds = " or ".join(map(str, expected)) if isinstance(expected, list) else expected
        return f"must be of type {kinds} (it is {_type_name(error.instance)})"
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
