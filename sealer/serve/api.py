"""The AWS Secrets Manager operations `sealer serve` answers, over a catalog of sealed files.

Reads: GetSecretValue, BatchGetSecretValue, DescribeSecret, ListSecrets, GetRandomPassword.
Writes (only with `allow_write`): PutSecretValue, UpdateSecretVersionStage, RotateSecret —
each through sealer's own write gate and version semantics (sealer.files, sealer.rotation),
after which the file is read back through the read gate before the answer goes out.

Parameters, results and error codes are AWS's (API version 2017-10-17); timestamps are epoch
seconds as the JSON 1.1 protocol sends them. An error is an ApiError carrying AWS's `__type`,
so an SDK raises the exception it would raise against AWS.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..access import Identities
from ..errors import NoIdentityError, PolicyError, SealerError, UsageError
from ..printable import printable
from .catalog import (
    Catalog,
    NotFound,
    Resolved,
    Snapshot,
    aws_version_id,
    epoch,
    load_snapshot,
    sealer_stage,
    sealer_version_id,
    secret_string,
)

__all__ = ["READS", "WRITES", "ApiError", "Service"]

READS = ("GetSecretValue", "BatchGetSecretValue", "DescribeSecret", "ListSecrets",
         "GetRandomPassword")
WRITES = ("PutSecretValue", "UpdateSecretVersionStage", "RotateSecret")
MAX_SECRET_BYTES = 65536  # AWS's SecretString / SecretBinary limit


class ApiError(Exception):
    """An AWS-shaped error: `__type` code, message, HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _from_sealer(exc: SealerError) -> ApiError:
    from ..audit import AuditError

    text = printable(exc.message)
    if isinstance(exc, AuditError):
        return ApiError("InternalServiceError", f"the audit log cannot be written ({text}); "
                        "nothing was released", 500)
    if isinstance(exc, NotFound):
        return ApiError("ResourceNotFoundException", text)
    if isinstance(exc, NoIdentityError):
        return ApiError("DecryptionFailure", "sealer serve has no identity that opens this "
                        "secret's file")
    if isinstance(exc, PolicyError):
        return ApiError("AccessDeniedException", text)
    if isinstance(exc, UsageError):
        return ApiError("InvalidRequestException", text + (f" ({printable(exc.hint)})"
                                                           if exc.hint else ""))
    return ApiError("InvalidRequestException", text)


def _string(params: Mapping[str, Any], name: str, *, required: bool = False,
            max_len: int = 2048) -> str | None:
    value = params.get(name)
    if value is None:
        if required:
            raise ApiError("InvalidParameterException", f"{name} is required")
        return None
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise ApiError("InvalidParameterException",
                       f"{name} must be a string of 1 to {max_len} characters")
    return value


def _int(params: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ApiError("InvalidParameterException", f"{name} must be an integer from {low} to "
                       f"{high}")
    return value


def _bool(params: Mapping[str, Any], name: str, default: bool) -> bool:
    value = params.get(name, default)
    if not isinstance(value, bool):
        raise ApiError("InvalidParameterException", f"{name} must be true or false")
    return value


# -- filters (ListSecrets, BatchGetSecretValue) ---------------------------------------------

FILTER_KEYS = ("description", "name", "tag-key", "tag-value", "primary-region",
               "owning-service", "all")


def _words(text: str) -> list[str]:
    """AWS's search words: split at case changes, letter/digit changes and punctuation."""
    out, word = [], ""
    for ch in text:
        if not ch.isalnum():
            if word:
                out.append(word)
            word = ""
            continue
        if word and ((word[-1].islower() and ch.isupper()) or (word[-1].isdigit()
                                                                != ch.isdigit())):
            out.append(word)
            word = ""
        word += ch
    if word:
        out.append(word)
    return [w.lower() for w in out]


def _parse_filters(raw: Any) -> list[tuple[str, list[str]]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > 10:
        raise ApiError("InvalidParameterException", "Filters must be a list of at most 10")
    out = []
    for item in raw:
        key = item.get("Key") if isinstance(item, dict) else None
        values = item.get("Values") if isinstance(item, dict) else None
        if key not in FILTER_KEYS:
            raise ApiError("InvalidParameterException",
                           f"a filter Key must be one of {', '.join(FILTER_KEYS)}")
        if (not isinstance(values, list) or not 1 <= len(values) <= 10
                or not all(isinstance(v, str) and len(v) <= 512 for v in values)):
            raise ApiError("InvalidParameterException",
                           "a filter's Values must be 1 to 10 strings of at most 512 characters")
        out.append((key, values))
    return out


def _matches(secret: Resolved, filters: Sequence[tuple[str, list[str]]]) -> bool:
    """Every filter matches (AND); within one, any value (OR); `!value` negates."""
    description = secret.description() or ""
    tags = secret.tags()
    fields: dict[str, list[str]] = {
        "name": [secret.name], "description": [description],
        "tag-key": [t["Key"] for t in tags], "tag-value": [t["Value"] for t in tags],
        "primary-region": [], "owning-service": [],
    }
    for key, values in filters:
        hit = False
        for value in values:
            negate = value.startswith("!")
            wanted = value[1:] if negate else value
            if key == "all":
                words = set(_words(" ".join([secret.name, description,
                                             *fields["tag-key"], *fields["tag-value"]])))
                found = all(w in words or any(x.startswith(w) for x in words)
                            for w in _words(wanted)) if _words(wanted) else True
            elif key == "description":
                found = any(f.lower().startswith(wanted.lower()) for f in fields[key])
            else:
                found = any(f.startswith(wanted) for f in fields[key])
            if found != negate:
                hit = True
                break
        if not hit:
            return False
    return True


def _page_token(offset: int, query: Any) -> str:
    digest = hashlib.sha256(json.dumps(query, sort_keys=True, default=str).encode()).hexdigest()
    return base64.urlsafe_b64encode(json.dumps([offset, digest[:16]]).encode()).decode()


def _page_offset(token: Any, query: Any) -> int:
    if token is None:
        return 0
    try:
        offset, digest = json.loads(base64.urlsafe_b64decode(str(token).encode()))
        if not isinstance(offset, int) or offset < 0:
            raise ValueError
    except (ValueError, TypeError):
        raise ApiError("InvalidNextTokenException", "The NextToken value is not valid.") from None
    if _page_token(offset, query) != token or not isinstance(digest, str):
        raise ApiError("InvalidNextTokenException", "The NextToken value is not valid for "
                       "these parameters.")
    return offset


# -- the service ---------------------------------------------------------------------------

AuditSink = Callable[[str, Resolved, str], None]  # (action, secret, outcome); may raise


class Service:
    """The operations over the current snapshot. Reads take no lock; writes are serialised."""

    def __init__(self, root: Path, identities: Identities, *, region: str, account: str,
                 allow_write: bool = False, audit: AuditSink | None = None) -> None:
        self.root, self.identities = root, identities
        self.region, self.account, self.allow_write = region, account, allow_write
        self.audit = audit or (lambda _action, _secret, _outcome: None)
        self._write_lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self.catalog = Catalog(load_snapshot(root, identities, now=datetime.now(UTC)),
                               region=region, account=account)

    @property
    def snapshot(self) -> Snapshot:
        return self.catalog.snapshot

    def reload(self) -> Snapshot:
        """Load changed files and swap the snapshot in whole; on an error keep the old one
        and raise."""
        with self._reload_lock:
            fresh = load_snapshot(self.root, self.identities, self.catalog.snapshot,
                                  now=datetime.now(UTC))
            self.catalog = Catalog(fresh, region=self.region, account=self.account)
            return fresh

    def call(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        handler = _HANDLERS.get(operation)
        if handler is None:
            raise ApiError("UnknownOperationException",
                           f"sealer serve does not implement {printable(operation)[:100]}")
        if operation in WRITES and not self.allow_write:
            raise ApiError("AccessDeniedException", f"{operation} needs `sealer serve "
                           "--allow-write`; this server is read-only")
        try:
            return handler(self, params)
        except SealerError as exc:
            raise _from_sealer(exc) from None

    # reads -------------------------------------------------------------------------------

    def _resolve(self, params: Mapping[str, Any]) -> Resolved:
        secret_id = _string(params, "SecretId", required=True)
        assert secret_id is not None
        return self.catalog.resolve(secret_id)

    def _value(self, secret: Resolved, version_id: str | None, stage: str | None,
               action: str) -> dict[str, Any]:
        version = secret.version(version_id, stage)
        self.audit(action, secret, "ok")  # durable (where required) before the value leaves
        return {"ARN": secret.arn, "Name": secret.name, "VersionId": version.id,
                **secret_string(version.value), "VersionStages": list(version.stages),
                "CreatedDate": epoch(version.created)}

    def get_secret_value(self, params: Mapping[str, Any]) -> dict[str, Any]:
        secret = self._resolve(params)
        version_id = _string(params, "VersionId", max_len=64)
        stage = _string(params, "VersionStage", max_len=256)
        return self._value(secret, version_id, stage, "get-secret-value")

    def batch_get_secret_value(self, params: Mapping[str, Any]) -> dict[str, Any]:
        ids, raw_filters = params.get("SecretIdList"), params.get("Filters")
        if (ids is None) == (raw_filters is None):
            raise ApiError("InvalidParameterException",
                           "give either SecretIdList or Filters, not both")
        values, errors = [], []
        out: dict[str, Any] = {}
        if ids is not None:
            if (not isinstance(ids, list) or not 1 <= len(ids) <= 20
                    or not all(isinstance(i, str) and i for i in ids)):
                raise ApiError("InvalidParameterException",
                               "SecretIdList must hold 1 to 20 secret ids")
            if "MaxResults" in params:
                raise ApiError("InvalidParameterException",
                               "MaxResults applies only with Filters")
            for secret_id in ids:
                try:
                    values.append(self._value(self.catalog.resolve(secret_id), None, None,
                                              "batch-get-secret-value"))
                except SealerError as exc:
                    error = _from_sealer(exc)
                    errors.append({"SecretId": secret_id, "ErrorCode": error.code,
                                   "Message": error.message})
        else:
            filters = _parse_filters(raw_filters)
            limit = _int(params, "MaxResults", 20, 1, 20)
            matching = [s for s in self.catalog.listed() if _matches(s, filters)]
            query = {"op": "batch", "filters": raw_filters, "limit": limit}
            start = _page_offset(params.get("NextToken"), query)
            for secret in matching[start:start + limit]:
                values.append(self._value(secret, None, None, "batch-get-secret-value"))
            if start + limit < len(matching):
                out["NextToken"] = _page_token(start + limit, query)
        out.update({"SecretValues": values, "Errors": errors})
        return out

    def describe_secret(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return self._resolve(params).describe()

    def list_secrets(self, params: Mapping[str, Any]) -> dict[str, Any]:
        filters = _parse_filters(params.get("Filters"))
        limit = _int(params, "MaxResults", 100, 1, 100)
        order = params.get("SortOrder", "asc")
        if order not in ("asc", "desc"):
            raise ApiError("InvalidParameterException", "SortOrder must be asc or desc")
        by = params.get("SortBy", "name")
        keys: dict[str, Callable[[Resolved], Any]] = {
            "name": lambda s: s.name,
            "created-date": lambda s: (s.document.header.created, s.name),
            "last-changed-date": lambda s: (s.document.header.modified, s.name),
            "last-accessed-date": lambda s: s.name,
        }
        if by not in keys:
            raise ApiError("InvalidParameterException",
                           f"SortBy must be one of {', '.join(keys)}")
        matching = sorted((s for s in self.catalog.listed() if _matches(s, filters)),
                          key=keys[by], reverse=order == "desc")
        query = {"op": "list", "filters": params.get("Filters"), "limit": limit,
                 "order": order, "by": by}
        start = _page_offset(params.get("NextToken"), query)
        entries = []
        for secret in matching[start:start + limit]:
            entry = secret.describe()
            entry["SecretVersionsToStages"] = entry.pop("VersionIdsToStages")
            entries.append(entry)
        out: dict[str, Any] = {"SecretList": entries}
        if start + limit < len(matching):
            out["NextToken"] = _page_token(start + limit, query)
        return out

    def get_random_password(self, params: Mapping[str, Any]) -> dict[str, Any]:
        from ..rotation.generators import MAX_PASSWORD_LENGTH, password

        exclude = params.get("ExcludeCharacters", "")
        if not isinstance(exclude, str) or len(exclude) > 4096:
            raise ApiError("InvalidParameterException",
                           "ExcludeCharacters must be a string of at most 4096 characters")
        try:
            text = password(
                length=_int(params, "PasswordLength", 32, 1, MAX_PASSWORD_LENGTH),
                exclude_characters=exclude,
                exclude_numbers=_bool(params, "ExcludeNumbers", False),
                exclude_punctuation=_bool(params, "ExcludePunctuation", False),
                exclude_uppercase=_bool(params, "ExcludeUppercase", False),
                exclude_lowercase=_bool(params, "ExcludeLowercase", False),
                include_space=_bool(params, "IncludeSpace", False),
                require_each_included_type=_bool(params, "RequireEachIncludedType", True))
        except UsageError as exc:
            raise ApiError("InvalidParameterException", exc.message) from None
        return {"RandomPassword": text}

    # writes ------------------------------------------------------------------------------

    def _after_write(self, secret: Resolved) -> Resolved:
        """Read the written file back (through the read gate) into the served snapshot."""
        self.reload()
        return self.catalog.resolve(secret.name)

    def _new_value(self, secret: Resolved, params: Mapping[str, Any]) -> Any:
        text, binary = params.get("SecretString"), params.get("SecretBinary")
        if (text is None) == (binary is None):
            raise ApiError("InvalidParameterException",
                           "give exactly one of SecretString and SecretBinary")
        if binary is not None:
            try:
                value: Any = base64.b64decode(str(binary), validate=True)
            except ValueError:
                raise ApiError("InvalidParameterException",
                               "SecretBinary must be base64") from None
            if len(value) > MAX_SECRET_BYTES:
                raise ApiError("InvalidParameterException", "SecretBinary is over 64 KiB")
            return value
        if not isinstance(text, str) or len(text.encode()) > MAX_SECRET_BYTES:
            raise ApiError("InvalidParameterException",
                           "SecretString must be a string of at most 64 KiB")
        current = secret.current_value()
        if isinstance(current, dict | list) or not secret.key:
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            if not isinstance(parsed, type(current) if secret.key else dict):
                kind = "object" if not secret.key or isinstance(current, dict) else "array"
                raise ApiError("InvalidParameterException",
                               f"{secret.name} holds a JSON {kind}: SecretString must be one")
            return parsed
        if isinstance(current, bool | int | float) and not isinstance(current, str):
            try:
                parsed = json.loads(text)
            except ValueError:
                return text
            if type(parsed) is type(current):
                return parsed
        return text

    def put_secret_value(self, params: Mapping[str, Any]) -> dict[str, Any]:
        from ..rotation.versions import WriteIntent

        secret = self._resolve(params)
        token = _string(params, "ClientRequestToken", max_len=64)
        stages = params.get("VersionStages", ["AWSCURRENT"])
        if (not isinstance(stages, list) or not stages
                or not all(isinstance(s, str) for s in stages)):
            raise ApiError("InvalidParameterException", "VersionStages must be a list of labels")
        value = self._new_value(secret, params)
        with self._write_lock:
            path, key = secret.loaded.path, secret.key_text
            if stages == ["AWSPENDING"]:
                from ..rotation.protocol import put_pending

                rotated = secret.versioned_key()
                if rotated is None:
                    raise ApiError("InvalidRequestException",
                                   f"{secret.name} is not a rotated key: AWSPENDING needs "
                                   "rotation settings (`sealer rotation configure FILE KEY`)"
                                   " on exactly this key")
                if not secret.key:
                    value = _pending_part(secret, rotated, value)
                vid = put_pending(path, rotated, value, token=token,
                                  identities=self.identities)
                fresh = self._after_write(secret)
                version = fresh.version(aws_version_id(vid), None)
            elif stages == ["AWSCURRENT"]:
                from ..files import replace_data, set_value

                intent = WriteIntent(token=token)
                if secret.key:
                    set_value(path, key, value, self.identities, intent=intent)
                else:
                    replace_data(path, value, self.identities, intent=intent)
                fresh = self._after_write(secret)
                version = fresh.version(None, "AWSCURRENT")
            else:
                raise ApiError("InvalidParameterException",
                               "sealer serve takes VersionStages [AWSCURRENT] (the default) "
                               "or [AWSPENDING]; move other labels with "
                               "UpdateSecretVersionStage")
        self.audit("put-secret-value", fresh, "ok")
        return {"ARN": fresh.arn, "Name": fresh.name, "VersionId": version.id,
                "VersionStages": list(version.stages)}

    def update_secret_version_stage(self, params: Mapping[str, Any]) -> dict[str, Any]:
        from ..rotation.protocol import move_stage

        secret = self._resolve(params)
        stage = _string(params, "VersionStage", required=True, max_len=256)
        assert stage is not None
        to = _string(params, "MoveToVersionId", max_len=64)
        source = _string(params, "RemoveFromVersionId", max_len=64)
        rotated = secret.versioned_key()
        if rotated is None:
            raise ApiError("InvalidRequestException",
                           f"{secret.name} has no versions to label: configure rotation on "
                           "this key (`sealer rotation configure FILE KEY`)")
        with self._write_lock:
            move_stage(secret.loaded.path, rotated, sealer_stage(stage),
                       to_version=sealer_version_id(to) if to else None,
                       from_version=sealer_version_id(source) if source else None,
                       identities=self.identities, external=True)
            fresh = self._after_write(secret)
        self.audit("update-secret-version-stage", fresh, "ok")
        return {"ARN": fresh.arn, "Name": fresh.name}

    def rotate_secret(self, params: Mapping[str, Any]) -> dict[str, Any]:
        from ..rotation.protocol import configure_rotation, rotate

        secret = self._resolve(params)
        rotated = secret.versioned_key()
        immediately = _bool(params, "RotateImmediately", True)
        rules = params.get("RotationRules")
        with self._write_lock:
            target = rotated or secret.key_text
            if rules is not None:
                if not target:
                    raise ApiError("InvalidRequestException",
                                   f"{secret.name} is a whole file: give the key to rotate "
                                   f"({secret.name}#KEY)")
                every, schedule, duration = _rules(rules)
                configure_rotation(secret.loaded.path, target, self.identities,
                                   every=every, schedule=schedule, duration=duration)
            elif rotated is None:
                raise ApiError("InvalidRequestException",
                               f"{secret.name} has no rotation settings: give RotationRules, "
                               "or `sealer rotation configure FILE KEY`")
            if immediately:
                rotate(secret.loaded.path, target, self.identities)
            fresh = self._after_write(secret)
        self.audit("rotate-secret", fresh, "ok")
        version = fresh.version(None, "AWSCURRENT")
        return {"ARN": fresh.arn, "Name": fresh.name, "VersionId": version.id}


def _pending_part(secret: Resolved, rotated: str, document: Any) -> Any:
    """For a whole file with one rotated key: that key's value in the pending `document`,
    whose other keys must be the current ones (a pending version is of one key)."""
    from .. import paths

    key = paths.parse_path(rotated)
    try:
        value = paths.get(document, key)
    except KeyError:
        raise ApiError("InvalidParameterException",
                       f"the pending document has no {rotated}") from None
    rest = json.loads(json.dumps(document))
    current = json.loads(secret_string(secret.loaded.plain)["SecretString"])  # as served
    paths.set_value(rest, key, None)
    paths.set_value(current, key, None)
    if rest != current:
        raise ApiError("InvalidParameterException",
                       f"a pending version of {secret.name} may change only {rotated}, its "
                       "rotated key")
    return value


def _rules(rules: Any) -> tuple[str | None, str | None, str | None]:
    if not isinstance(rules, dict):
        raise ApiError("InvalidParameterException", "RotationRules must be an object")
    days, expression = rules.get("AutomaticallyAfterDays"), rules.get("ScheduleExpression")
    duration = rules.get("Duration")
    if (days is None) == (expression is None):
        raise ApiError("InvalidParameterException", "RotationRules needs exactly one of "
                       "AutomaticallyAfterDays and ScheduleExpression")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int)
                             or not 1 <= days <= 1000):
        raise ApiError("InvalidParameterException",
                       "AutomaticallyAfterDays must be from 1 to 1000")
    for name, value in (("ScheduleExpression", expression), ("Duration", duration)):
        if value is not None and not isinstance(value, str):
            raise ApiError("InvalidParameterException", f"{name} must be a string")
    return (f"{days}d" if days is not None else None, expression, duration)


_HANDLERS: dict[str, Callable[[Service, Mapping[str, Any]], dict[str, Any]]] = {
    "GetSecretValue": Service.get_secret_value,
    "BatchGetSecretValue": Service.batch_get_secret_value,
    "DescribeSecret": Service.describe_secret,
    "ListSecrets": Service.list_secrets,
    "GetRandomPassword": Service.get_random_password,
    "PutSecretValue": Service.put_secret_value,
    "UpdateSecretVersionStage": Service.update_secret_version_stage,
    "RotateSecret": Service.rotate_secret,
}
