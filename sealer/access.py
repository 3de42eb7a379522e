"""The two gates (docs/ARCHITECTURE.md): every decryption passes the read gate, every write of a
sealed file passes the write gate. No other module unwraps a data key or writes a sealed file;
tests/test_architecture.py holds that.

Read gate (`open_sealed`): unwrap and verify, resolve trust (the deploy-time trust anchor, or
the environment's `require_signature`), then write the audit entry — and only then hand out the
opened document. A refusal is audited too; with `audit.required` an entry that cannot be written
refuses the read.

Write gate (`authorize_write`, then `WriteGate.commit`): decides before anything changes
anywhere (a database included) whether the write can be completed — a signing key that readers
of this file will accept where they require one, and recipients that the file's environment
allows (allowed, required, post-quantum) — and then signs and replaces the file atomically.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from .core import Opened, open_document
from .document import SealedDocument, read_sealed
from .errors import PolicyError, SealerError
from .fsio import atomic_write
from .keys import Identity
from .printable import printable

if TYPE_CHECKING:
    from .config import Config, Environment
    from .signing import SigningKey

__all__ = [
    "DROP_SIGNATURES_ENV",
    "Identities",
    "SignerRule",
    "WriteGate",
    "Written",
    "authorize_write",
    "open_sealed",
    "resolve_identities",
    "signer_rule",
]

Identities = Sequence[Identity] | None


DROP_SIGNATURES_ENV = "SEALER_DROP_SIGNATURES"


class Written(NamedTuple):
    """The outcome of a write: the file, its document, and whether anything changed."""

    path: Path
    document: SealedDocument
    changed: bool


def resolve_identities(identities: Identities) -> list[Identity]:
    from .discovery import discover_identities

    return list(identities) if identities is not None else discover_identities([])


# -- the read gate ---------------------------------------------------------------------------

# git shows and merges older versions on purpose, and `sealer exposure` reads them
_HISTORY_READS = frozenset({"diff", "merge", "exposure"})


def open_sealed(path: Path, identities: Identities = None, *, action: str,
                keys: Sequence[str] = (), document: SealedDocument | None = None,
                resign_with: WriteGate | None = None) -> Opened:
    """Open `path` (or its already parsed `document`) for reading: unwrap, verify, check trust,
    audit. `path` is what sealer.yaml and the audit log are looked up for.

    `resign_with`: a write gate that will sign the result with a key readers accept. Only
    `sign`, `rekey` and `edit` pass it: they may open a file that lacks an accepted signature,
    because what they write is signed by an accepted signer.
    """
    from .audit import record, settings_for

    if document is None:
        document = read_sealed(path)
    settings = settings_for(path)
    try:
        if resign_with is None or resign_with.signing_key is None:
            enforce_signatures(document, path)  # first: a forged file costs no unwrap attempts
        opened = open_document(document, resolve_identities(identities),
                               names=_principal_names(path))
        if action not in _HISTORY_READS and os.environ.get("SEALER_TRUSTED_SIGNERS"):
            from .freshness import check_and_record

            check_and_record(document)  # a deploy host never goes back to an older version
    except SealerError as exc:
        record(action, path, keys=keys, recipient=None, settings=settings,
               outcome=f"refused: {type(exc).__name__}")
        raise
    record(action, path, keys=keys, settings=settings, outcome="ok",
           recipient=opened.identity.recipient if opened.identity else None)
    return opened


def _principal_names(path: Path) -> Callable[[str], str | None]:
    """A recipient's principal name in the sealer.yaml of `path`, looked up only when asked
    (to name the missing key groups when too few open)."""
    def name(recipient: str) -> str | None:
        from .config import project_for

        try:
            project = project_for(path)
            return project.principal_for(recipient) if project is not None else None
        except SealerError:
            return None

    return name


class SignerRule(NamedTuple):
    """Whose signature the readers of a file accept: canonical SSH keys, and names for
    messages."""

    keys: frozenset[str]
    names: str
    origin: str  # "$SEALER_TRUSTED_SIGNERS" or "environment NAME"


def signer_rule(path: Path) -> SignerRule | None:
    """What readers of `path` require of its signatures, or None when nothing is required.

    The deploy-time trust anchor ($SEALER_TRUSTED_SIGNERS) when set, else the `signers` of the
    environment whose creation rule covers the file, when it sets `require_signature`.
    """
    from .signing import NAMESPACE, TRUSTED_SIGNERS_ENV, trusted_signers_from_env

    trusted = trusted_signers_from_env()
    if trusted is not None:
        allowed = [t for t in trusted if t.allows(NAMESPACE)]
        names = sorted({p for t in allowed for p in t.principals})
        return SignerRule(frozenset(t.key for t in allowed), ", ".join(names) or "nobody",
                          f"${TRUSTED_SIGNERS_ENV}")
    from .config import environment_settings

    settings = environment_settings(path)
    if settings.get("require_signature") is not True:
        return None
    from .config import required_signer_keys

    keys, names = required_signer_keys(settings)
    return SignerRule(frozenset(keys), ", ".join(names) or "nobody",
                      f"environment {settings.get('_name', '?')}")


def enforce_signatures(document: SealedDocument, path: Path) -> None:
    """The read gate's trust check (docs/SIGNING.md). The signing code is imported only when
    a trust anchor or require_signature applies."""
    if os.environ.get("SEALER_TRUSTED_SIGNERS"):
        from .signing import enforce_trust

        enforce_trust(document)
        return
    from .config import environment_settings

    settings = environment_settings(path)
    if settings.get("require_signature") is True:
        from .config import required_signer_keys
        from .signing import enforce_required

        enforce_required(document, *required_signer_keys(settings))


# -- the write gate --------------------------------------------------------------------------


class WriteGate:
    """Permission to write one sealed file, decided before anything changes.

    `path` is the file as sealer.yaml sees it (for the merge driver: git's %P, not the
    temporary copy it writes).
    """

    def __init__(self, path: Path, signing_key: SigningKey | None, project: Config | None,
                 environment: Environment | None) -> None:
        self.path = path
        self.signing_key = signing_key
        self.project = project
        self.environment = environment

    def check_recipients(self, recipients: Sequence[str]) -> None:
        """Refuse recipients the file's environment does not allow (PolicyError)."""
        from .config import environment_settings

        if environment_settings(self.path).get("require_post_quantum") is True:
            classical = [r for r in recipients if not r.startswith("age1pq1")]
            if classical:  # required here or by a sealer.yaml above the nearest one
                raise PolicyError(f"{classical[0][:20]}… is a classical key and this file's "
                                  "environment requires post-quantum recipients; nothing was "
                                  "written", file=str(self.path),
                                  hint="seal for age1pq1… keys only (sealer keygen --pq)")
        if self.project is None or self.environment is None:
            return
        from .policy import recipient_violations

        problems = recipient_violations(self.project, self.environment, recipients,
                                        str(self.path))
        if problems:
            first = problems[0]
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise PolicyError(f"{first.message}{more}; nothing was written", file=str(self.path),
                              hint=first.hint)

    def check_groups(self, threshold: int | None, groups: Sequence[Sequence[str]]) -> None:
        """Refuse a file without the key groups its environment requires (PolicyError)."""
        if self.project is None or self.environment is None \
                or self.environment.threshold is None:
            return
        from .policy import group_violations

        problems = group_violations(self.project, self.environment, threshold, groups,
                                    str(self.path))
        if problems:
            raise PolicyError(f"{problems[0].message}; nothing was written", file=str(self.path),
                              hint=problems[0].hint)

    def commit(self, old: SealedDocument | None, new: SealedDocument, *,
               target: Path | None = None) -> Written:
        """Sign (where a key is set) and atomically replace the file; a no-op when `new` is
        `old`."""
        target = target or self.path
        if old is not None and new is old:
            return Written(target, old, changed=False)
        self.check_recipients([w.recipient for w in new.recipients])
        from .policy import document_groups

        self.check_groups(new.header.threshold, document_groups(new))
        if self.signing_key is not None:
            from .signing import sign_document

            sign_document(new, self.signing_key)
        atomic_write(target, new.to_yaml().encode("utf-8"))
        return Written(target, new, changed=True)


def authorize_write(path: Path, recipients: Sequence[str] | None = None, *,
                    keeps_data_key: bool = True, groups: Sequence[Sequence[str]] | None = None,
                    threshold: int | None = None) -> WriteGate:
    """The write gate: whether a write of `path` can be completed, decided now.

    `recipients`: the recipients the file will have, when known (else those it has now, when it
    exists). `keeps_data_key`: the write encrypts under the file's current data key (all but
    rekey and recipients remove), which must then be the committed one, or vouched for.
    `groups` and `threshold`: the key groups the file will have (docs/KEY-GROUPS.md), when the
    write gives them.
    Raises PolicyError (or ConfigError for a broken sealer.yaml) before anything is changed.
    """
    from .config import project_for

    project = project_for(path)
    environment = project.environment_for(path) if project is not None else None
    gate = WriteGate(path, _signing_key(path), project, environment)
    current = _parsed(read_sealed, path) if path.is_file() else None
    if current is not None and current.signatures and gate.signing_key is None:
        _refuse_unsigned_over_signed(current, path)
    if recipients is None and current is not None:
        recipients = [w.recipient for w in current.recipients]
    _check_planned_groups(gate, current, recipients, groups, threshold)
    if recipients is not None:
        gate.check_recipients(recipients)
    if keeps_data_key and path.is_file():
        _check_continuity(path)
    return gate


def _check_planned_groups(gate: WriteGate, current: SealedDocument | None,
                          recipients: Sequence[str] | None,
                          groups: Sequence[Sequence[str]] | None, threshold: int | None) -> None:
    """The key groups the write will leave: those given, none when only recipients are given
    for a file without groups, else the current file's."""
    from .policy import document_groups

    if groups is not None:
        gate.check_groups(threshold, groups)
    elif recipients is not None and (current is None or current.header.threshold is None):
        gate.check_groups(None, [])
    elif current is not None:
        gate.check_groups(current.header.threshold, document_groups(current))


def _check_continuity(path: Path) -> None:
    """Refuse to encrypt new secrets under a data key that changed since the committed version
    (HEAD) unless an accepted signer vouches for the change: a forged file can keep the id,
    raise the serial and plant a key its author knows (docs/SECURITY.md, B11)."""
    if os.environ.get("SEALER_ALLOW_REKEY") == "1":
        return
    from .git import head_blob, work_tree_of

    root = work_tree_of(path)
    current = _parsed(read_sealed, path)
    if root is None or current is None or current.header.commitment is None:
        return
    from .document import parse_sealed

    blob = head_blob(root, path)
    committed = _parsed(lambda _p: parse_sealed(blob or b"", source=str(path)), path)
    before = committed.header.commitment if committed is not None else None
    if before is None or before == current.header.commitment or _vouched(current, path):
        return
    raise PolicyError("the data key changed since the committed version and no accepted "
                      "signer vouches for it; nothing was changed", file=str(path),
                      hint="if you re-keyed it yourself (rekey, recipients remove), commit that "
                           "first or set SEALER_ALLOW_REKEY=1; otherwise restore it with `git "
                           "checkout HEAD -- FILE`")


def _parsed(read: Callable[[Path], SealedDocument], path: Path) -> SealedDocument | None:
    try:
        return read(path)
    except SealerError:
        return None


def _vouched(document: SealedDocument, path: Path) -> bool:
    rule = signer_rule(path)
    if rule is None or not document.signatures:
        return False
    from .signing import valid_signers

    return any(key in rule.keys for key in valid_signers(document)[0])


def _refuse_unsigned_over_signed(current: SealedDocument, path: Path) -> None:
    """An unsigned write over a signed file would drop its signatures: a reviewer who relied
    on "signed by alice" would see the file silently lose it. Refused unless the user says so
    (docs/SIGNING.md)."""
    if os.environ.get(DROP_SIGNATURES_ENV) == "1":
        return
    from .signing import short_key

    signers = ", ".join(printable(short_key(s.signer)) for s in current.signatures)
    raise PolicyError(f"the file is signed ({signers}) and SEALER_SIGNING_KEY is not set: an "
                      "unsigned write would drop the signature; nothing was changed",
                      file=str(path), hint=f"set SEALER_SIGNING_KEY to sign the result, or "
                                           f"{DROP_SIGNATURES_ENV}=1 to write it unsigned")


def _signing_key(path: Path) -> SigningKey | None:
    """$SEALER_SIGNING_KEY, loaded; refused when readers of `path` would not accept it, or
    required and missing."""
    from .signing import signing_key_from_env

    key_file = signing_key_from_env()
    rule = signer_rule(path)
    if key_file is None:
        if rule is not None:
            raise PolicyError(f"readers require a signature ({rule.origin}) and "
                              "SEALER_SIGNING_KEY is not set; nothing was changed",
                              file=str(path), hint=f"set SEALER_SIGNING_KEY to the private "
                                                   f"key of one of: {rule.names}")
        return None
    from .discovery import tty_prompt
    from .signing import load_signing_key

    key = load_signing_key(key_file, prompt=tty_prompt)
    if rule is not None and key.public not in rule.keys:
        raise PolicyError(f"SEALER_SIGNING_KEY ({key_file}) is not an accepted signer "
                          f"({rule.origin}); nothing was changed", file=str(path),
                          hint=f"sign with the key of one of: {rule.names}")
    return key
