"""AWS KMS recipients (docs/KMS.md, FORMAT.md §1.4.1): the key ARN, and the data key wrapped
with KMS Encrypt and unwrapped with KMS Decrypt under an encryption context naming the file.

boto3 (the optional extra `sealer[aws]`) is imported only here, only when a KMS recipient is
used. Credentials come from boto3's default chain (environment, profile, container or instance
role, web identity). An ARN read from a file is checked against `ARN` first, so the only
address a repository can make sealer call is the AWS KMS endpoint of a well-formed region (or
`$AWS_ENDPOINT_URL_KMS`, which only the environment sets).
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable
from typing import Any, NamedTuple

from .errors import IdentityError, IntegrityError, NoIdentityError, SealerError, UsageError

__all__ = ["ALLOW_ENV", "ARN", "KIND", "KmsKey", "allowed", "context", "is_arn", "not_allowed",
           "parse_arn", "unwrap", "wrap"]

KIND = "aws-kms"
PREFIX = "arn:aws:kms:"
ARN = re.compile(
    r"arn:aws:kms:(?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}):(?P<account>[0-9]{12}):"
    r"(?:key/(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})"
    r"|alias/[A-Za-z0-9/_-]{1,250})\Z")
MAX_BLOB_BYTES = 6144  # KMS's largest CiphertextBlob
INSTALL = "pip install 'sealer[aws]'"


class KmsKey(NamedTuple):
    """A KMS key (or alias) ARN and its region: a `Recipient`'s `native`."""

    arn: str
    region: str


def is_arn(text: str) -> bool:
    """Whether `text` is meant as a KMS recipient (well-formed or not)."""
    return text.startswith("arn:")


def parse_arn(text: str, source: str | None = None) -> KmsKey:
    match = ARN.match(text)
    if match is None:
        raise IdentityError(f"not an AWS KMS key ARN: {text[:80]!r}", file=source,
                            hint="use arn:aws:kms:REGION:ACCOUNT:key/KEY-ID or "
                                 "arn:aws:kms:REGION:ACCOUNT:alias/NAME")
    return KmsKey(text, match["region"])


def context(file_id: str, group: int | None = None) -> dict[str, str]:
    """The encryption context binding a wrapped key to its file (FORMAT.md §1.4.1), and a
    share to its key group in a file with groups (format 2, FORMAT.md §1.6)."""
    from .envelope import FORMAT_VERSION

    if group is None:
        return {"sealer:file": file_id, "sealer:format": str(FORMAT_VERSION)}
    return {"sealer:file": file_id, "sealer:format": "2", "sealer:group": str(group)}


def decode_blob(key: str) -> bytes | None:
    """The CiphertextBlob of a recorded `key`, or None when it is not canonical base64."""
    from .envelope import strict_b64decode

    blob = strict_b64decode(key) if len(key) <= 4 * MAX_BLOB_BYTES // 3 + 4 else None
    return blob if blob and len(blob) <= MAX_BLOB_BYTES else None


def wrap(data_key: bytes, key: KmsKey, file_id: str, source: str,
         group: int | None = None) -> str:
    """KMS Encrypt of the data key (or of `group`'s share): the base64 of the CiphertextBlob."""
    response = _call(key, source, "wrap", lambda client: client.encrypt(
        KeyId=key.arn, Plaintext=data_key, EncryptionContext=context(file_id, group)))
    return base64.b64encode(response["CiphertextBlob"]).decode("ascii")


ALLOW_ENV = "SEALER_KMS_KEYS"


def allowed(key: KmsKey) -> bool:
    """Whether this host lets sealer call KMS for `key` when reading: $SEALER_KMS_KEYS lists
    key or alias ARNs and account ids (space or comma separated). A file is repository
    content; without the host's say-so, an ARN in it must not make sealer call out with the
    host's AWS credentials (to an account of the file's choosing)."""
    listed = {t for t in re.split(r"[\s,]+", os.environ.get(ALLOW_ENV, "")) if t}
    match = ARN.match(key.arn)
    return key.arn in listed or (match is not None and match["account"] in listed)


def not_allowed(keys: list[KmsKey], source: str) -> NoIdentityError:
    accounts = sorted({m["account"] for k in keys if (m := ARN.match(k.arn))})
    return NoIdentityError(
        f"no identity of yours opens this file, and this host does not let sealer call AWS "
        f"KMS for {keys[0].arn}" + (f" (and {len(keys) - 1} more)" if len(keys) > 1 else ""),
        file=source,
        hint=f"on a host that should, set {ALLOW_ENV}={','.join(accounts)} (the accounts, or "
             "the key ARNs, whose KMS keys it may call); or give an age identity")


def unwrap(key: KmsKey, recorded: str, file_id: str, source: str,
           group: int | None = None) -> bytes:
    """KMS Decrypt of a recorded wrapped key (already checked by `decode_blob`)."""
    blob = decode_blob(recorded)
    if blob is None:  # document.from_tree refuses it first; kept for direct callers
        raise IntegrityError("a KMS wrapped key is not canonical base64", file=source)
    response = _call(key, source, "unwrap", lambda client: client.decrypt(
        KeyId=key.arn, CiphertextBlob=blob, EncryptionContext=context(file_id, group)))
    plaintext: bytes = response["Plaintext"]
    return plaintext


def _call(key: KmsKey, source: str, verb: str, request: Callable[[Any], Any]) -> Any:
    try:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
    except ImportError:
        raise UsageError(f"{key.arn} is an AWS KMS key and the AWS support is not installed: "
                         f"{INSTALL}", file=source, hint=INSTALL) from None
    try:
        client = boto3.session.Session().client(
            "kms", region_name=key.region,
            config=Config(connect_timeout=5, read_timeout=15,
                          retries={"max_attempts": 2, "mode": "standard"}))
        return request(client)
    except NoCredentialsError:
        raise _failure(verb, key, source, "no AWS credentials found",
                       "set AWS_PROFILE or AWS_ACCESS_KEY_ID, or run where a role "
                       "is available") from None
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", "error"))
        raise _client_failure(verb, key, source, code) from None
    except BotoCoreError as exc:
        reason = type(exc).__name__
        raise _failure(verb, key, source, f"cannot reach AWS KMS in {key.region} ({reason})",
                       "check the network and the region") from None


_REASONS = {
    "AccessDeniedException": ("access denied", "ask for kms:{op} on this key"),
    "DisabledException": ("the key is disabled", "enable it, or use another recipient"),
    "KMSInvalidStateException": ("the key is not usable (disabled or pending deletion)",
                                 "enable it, or use another recipient"),
    "NotFoundException": ("no such key in {region} (wrong region or account?)",
                          "check the ARN"),
    "UnrecognizedClientException": ("the AWS credentials are not valid",
                                    "refresh them (aws sso login, or new keys)"),
    "InvalidSignatureException": ("the AWS credentials are not valid",
                                  "refresh them (aws sso login, or new keys)"),
    "ExpiredTokenException": ("the AWS credentials have expired", "refresh them"),
}
_INTEGRITY = {"InvalidCiphertextException", "IncorrectKeyException"}


def _client_failure(verb: str, key: KmsKey, source: str, code: str) -> SealerError:
    if code in _INTEGRITY and verb == "unwrap":
        return IntegrityError(f"AWS KMS refused the data key wrapped for {key.arn} ({code}): "
                              "it was not made for this file, or was modified", file=source,
                              hint="restore the file from git (`git checkout -- FILE`) or ask "
                                   "its owner to re-add the key")
    reason, hint = _REASONS.get(code, (f"AWS KMS said {code}", "check the key and its policy"))
    op = "Encrypt" if verb == "wrap" else "Decrypt"
    return _failure(verb, key, source, reason.format(region=key.region),
                    hint.format(op=op))


def _failure(verb: str, key: KmsKey, source: str, reason: str, hint: str) -> SealerError:
    if verb == "wrap":
        return IdentityError(f"cannot wrap the data key with {key.arn}: {reason}; nothing was "
                             "written", file=source, hint=hint)
    return NoIdentityError(f"cannot unwrap the data key with {key.arn}: {reason}",
                           file=source, hint=hint)


def preferred_first(keys: list[KmsKey]) -> list[KmsKey]:
    """The keys in this host's region first (fewer cross-region calls), then file order."""
    here = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return sorted(keys, key=lambda k: k.region != here)
