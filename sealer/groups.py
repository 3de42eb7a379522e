"""Key groups with a threshold (FORMAT.md §1.6, docs/KEY-GROUPS.md): the data key split with
Shamir's secret sharing so that any `threshold` of the groups open the file; each group's
share wrapped for every recipient of that group, as a format 1 file wraps the whole key.

In memory and without I/O, like `core`, which calls in here for files with groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import kms, limits, shamir
from .document import GROUPS_FORMAT, Header, SealedDocument, WrappedKey, group_count
from .envelope import DATA_KEY_BYTES, Keys, Seam
from .errors import IntegrityError, NoIdentityError, SealerError, UsageError
from .keys import Identity, Recipient, check_recipient_mix

if TYPE_CHECKING:
    from .core import Namer, Opened, Plan, Wrapper

__all__ = ["check_groups", "describe_group", "plan_groups", "unwrap_groups"]

SHARE_BYTES = DATA_KEY_BYTES + 1  # y values, then the x coordinate: the group's number
MAX_GROUPS = limits.MAX_GROUPS


def check_groups(groups: Sequence[Sequence[Recipient]], threshold: int | None,
                 source: str) -> list[Recipient]:
    """Refuse groups a reader would refuse (FORMAT.md §1.6); every recipient, flattened."""
    if not groups or len(groups) > MAX_GROUPS:
        raise UsageError(f"{len(groups)} key groups: give 1 to {MAX_GROUPS}; nothing was sealed",
                         file=source)
    if threshold is None or not 1 <= threshold <= len(groups):
        raise UsageError(f"the threshold must be 1 to {len(groups)} (the number of key groups); "
                         "nothing was sealed", file=source, hint="pass --threshold N")
    flat = [r for group in groups for r in {r.text: r for r in group}.values()]
    if any(not group for group in groups):
        raise UsageError("a key group has no recipients; nothing was sealed", file=source)
    texts = [r.text for r in flat]
    if len(texts) != len(set(texts)):
        twice = sorted({t for t in texts if texts.count(t) > 1})[0]
        raise UsageError(f"{twice[:40]} is in two key groups; a recipient belongs to one group",
                         file=source, hint="use a separate key for each group")
    return flat


def plan_groups(previous: Opened | None, recipients: Sequence[Recipient] | None,
                groups: Sequence[Sequence[Recipient]] | None, threshold: int | None,
                rekey: bool, seam: Seam, wrap: Wrapper, source: str) -> Plan:
    """The keys, header and wrapped shares of a file with key groups. Unchanged groups keep
    the data key and shares; any change to them (or `rekey`) makes a new data key."""
    from .core import Plan

    now = seam.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    old = previous.document if previous is not None else None
    if old is not None and groups is None:
        if recipients is not None and {r.text for r in recipients} != {
                w.recipient for w in old.recipients}:
            raise UsageError("this file has key groups: change its recipients by sealing it "
                             "again with every --group and --threshold", file=source,
                             hint=f"`sealer recipients list {source}` shows its groups")
        groups, threshold = _groups_of(old), old.header.threshold
    assert groups is not None and threshold is not None
    check_recipient_mix([r for g in groups for r in g], source=source)
    if old is None:
        header = Header(GROUPS_FORMAT, seam.random(16).hex(), 1, now, now, None, threshold)
    else:
        header = Header(GROUPS_FORMAT, old.header.id, old.header.serial + 1, old.header.created,
                        now, None, threshold)
    if previous is not None and old is not None and not rekey and _same_groups(old, groups) \
            and old.header.threshold == threshold:
        return Plan(previous.keys, header, list(old.recipients), previous.sealed_plaintexts(),
                    previous.version_plaintexts())
    data_key = seam.random(DATA_KEY_BYTES)
    shares = shamir.split(data_key, list(range(1, len(groups) + 1)), threshold,
                          random=seam.random)
    return Plan(Keys(data_key, header.id_bytes), header,
                _wrap_shares(groups, shares, header, wrap, source), {}, {})


def _wrap_shares(groups: Sequence[Sequence[Recipient]], shares: list[bytes], header: Header,
                 wrap: Wrapper, source: str) -> list[WrappedKey]:
    from .core import _wrap

    out = []
    for index, (group, share) in enumerate(zip(groups, shares, strict=True), start=1):
        unique = {r.text: r for r in group}
        out += [WrappedKey(text, _wrap(wrap, share, r, header, source, index), index)
                for text, r in sorted(unique.items())]
    return out


def _groups_of(doc: SealedDocument) -> list[list[Recipient]]:
    from .keys import parse_recipient

    groups: list[list[Recipient]] = [[] for _ in range(group_count(doc))]
    for w in doc.recipients:
        groups[(w.group or 1) - 1].append(parse_recipient(w.recipient, source=doc.source))
    return groups


def _same_groups(doc: SealedDocument, groups: Sequence[Sequence[Recipient]]) -> bool:
    if doc.header.threshold is None:
        return False
    have = [sorted(w.recipient for w in doc.recipients if w.group == g)
            for g in range(1, group_count(doc) + 1)]
    return have == [sorted({r.text for r in group}) for group in groups]


# -- opening ----------------------------------------------------------------------------------


def unwrap_groups(doc: SealedDocument, identities: Sequence[Identity],
                  names: Namer | None) -> tuple[Keys, Identity]:
    """The shares of `threshold` groups, local identities first, then AWS KMS (where this host
    allows it, $SEALER_KMS_KEYS) for the groups still missing; the data key combined."""
    threshold = doc.header.threshold or 1
    shares: dict[int, bytes] = {}
    opened_by: list[Identity] = []
    local = [i for i in identities if i.kind != kms.KIND]
    for group in range(1, group_count(doc) + 1):
        if len(shares) < threshold:
            _open_local(doc, group, local, shares, opened_by)
    failures: list[SealerError] = []
    for group in range(1, group_count(doc) + 1):
        if len(shares) < threshold and group not in shares:
            _open_kms(doc, group, shares, opened_by, failures)
    if len(shares) < threshold:
        raise _too_few(doc, shares, names, failures)
    from .core import tampered

    data_key = shamir.combine(list(shares.values())) if threshold > 1 \
        else next(iter(shares.values()))[:-1]
    if len(data_key) != DATA_KEY_BYTES:
        raise tampered(doc.source)
    return Keys(data_key, doc.header.id_bytes), opened_by[0]


def _entries(doc: SealedDocument, group: int, remote: bool) -> list[WrappedKey]:
    return [w for w in doc.recipients if w.group == group and kms.is_arn(w.recipient) == remote]


def _open_local(doc: SealedDocument, group: int, local: list[Identity],
                shares: dict[int, bytes], opened_by: list[Identity]) -> None:
    from .core import local_pairs

    for wrapped, identity in local_pairs(_entries(doc, group, remote=False), local):
        share = _try_share(wrapped, identity, doc.source)
        if share is not None:
            shares[group] = _checked(share, group, doc.source)
            opened_by.append(identity)
            return


def _try_share(wrapped: WrappedKey, identity: Identity, source: str) -> bytes | None:
    from . import agefile
    from .core import MAX_STANZAS, tampered

    try:
        return agefile.decrypt(wrapped.key.encode("utf-8"), [identity.native],
                               max_stanzas=MAX_STANZAS)
    except agefile.AgeError as exc:
        if exc.kind == "no match":
            return None
        raise tampered(source) from None


def _checked(share: bytes, group: int, source: str) -> bytes:
    """A share is 33 bytes whose x coordinate is its group's (FORMAT.md §1.6)."""
    from .core import tampered

    if len(share) != SHARE_BYTES or share[-1] != group:
        raise tampered(source)
    return share


def _open_kms(doc: SealedDocument, group: int, shares: dict[int, bytes],
              opened_by: list[Identity], failures: list[SealerError]) -> None:
    keys = [kms.parse_arn(w.recipient) for w in _entries(doc, group, remote=True)]
    recorded = {w.recipient: w.key for w in _entries(doc, group, remote=True)}
    for key in kms.preferred_first([k for k in keys if kms.allowed(k)]):
        try:
            share = kms.unwrap(key, recorded[key.arn], doc.header.id, doc.source, group)
        except (NoIdentityError, IntegrityError) as exc:
            failures.append(exc)
            continue
        shares[group] = _checked(share, group, doc.source)
        opened_by.append(Identity(key.arn, kms.KIND, None, "AWS KMS"))
        return


def describe_group(doc: SealedDocument, group: int, names: Namer | None = None) -> str:
    """`group 2 (platform, arn:aws:kms:…)`: its number, and who is in it."""
    from .core import _short

    who = []
    for w in doc.recipients:
        if w.group == group:
            name = names(w.recipient) if names is not None else None
            who.append(name if name else _short(w.recipient))
    return f"group {group} ({', '.join(who)})"


def _too_few(doc: SealedDocument, shares: dict[int, bytes], names: Namer | None,
             failures: list[SealerError]) -> SealerError:
    threshold, count = doc.header.threshold or 1, group_count(doc)
    missing = [describe_group(doc, g, names) for g in range(1, count + 1) if g not in shares]
    hint = (f"{threshold - len(shares)} more needed, from the missing groups: point "
            "SEALER_IDENTITY (or -i) at their keys, or ask their holders")
    if failures:
        hint += f"; AWS KMS: {failures[0].message}"
    return NoIdentityError(
        f"key groups: {len(shares)} of the {threshold} needed of {count} groups opened with "
        f"your identities; missing: {'; '.join(missing)}", file=doc.source, hint=hint)
