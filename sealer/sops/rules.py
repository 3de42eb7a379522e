"""`.sops.yaml` creation rules translated into sealer.yaml (docs/SOPS.md): path regexes as
globs where the regex is one, age keys as principals, each rule an environment; and the list
of what sealer has no equivalent for. Nothing is weakened silently: a rule whose keys sealer
cannot hold as they are (a Shamir threshold, only PGP or KMS keys) is left out and listed.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from ..errors import ConfigError

__all__ = ["Translated", "regex_to_glob", "translate"]

_OTHER_KEYS = {"pgp": "PGP", "kms": "AWS KMS", "gcp_kms": "GCP KMS",
               "azure_keyvault": "Azure Key Vault", "hc_vault_transit_uri": "HashiCorp Vault"}
_NO_EQUIVALENT = {
    "encrypted_suffix": "sealer encrypts every value except those its `clear` rule names",
    "encrypted_regex": "sealer encrypts every value except those its `clear` rule names",
    "mac_only_encrypted": "sealer's MAC always covers every key and value (stricter)",
    "unencrypted_comment_regex": "sealer keeps no comments",
    "encrypted_comment_regex": "sealer keeps no comments",
}
_AGE_KEY = re.compile(r"age1[02-9ac-hj-np-z]{58}\Z")
_GLOB_TOKENS = re.compile(r"\.\*|\[\^/\]\*|\[\^/\]\+|\\.|.", re.DOTALL)
_WILDCARDS = {".*": "**", "[^/]*": "*"}
_LITERAL = re.compile(r"[A-Za-z0-9_\-/ ~@%,=]\Z")


class Translated(NamedTuple):
    config: dict[str, Any]
    missing: list[str]  # one line for each thing with no equivalent


def regex_to_glob(pattern: str) -> str | None:
    """A glob matching the same paths as the sops `path_regex` (searched, as Go's
    `regexp.MatchString`), or None when the regex is not that simple."""
    body, start, end = pattern, False, False
    if body.startswith("^"):
        body, start = body[1:], True
    if body.endswith("$") and not body.endswith("\\$"):
        body, end = body[:-1], True
    out = []
    for part in _GLOB_TOKENS.findall(body):
        if part in _WILDCARDS:
            out.append(_WILDCARDS[part])
        elif part.startswith("\\") and len(part) == 2 and not part[1].isalnum() \
                and part[1] not in "*?[]":
            out.append(part[1])
        elif _LITERAL.match(part):
            out.append(part)
        else:
            return None
    glob = ("" if start else "**") + "".join(out) + ("" if end else "**")
    return re.sub(r"\*{3,}", "**", glob)


def translate(raw: Any, source: str) -> Translated:
    """sealer.yaml's content for a parsed `.sops.yaml`."""
    if not isinstance(raw, dict) or not isinstance(raw.get("creation_rules", []), list):
        raise ConfigError("not a .sops.yaml: `creation_rules` must be a list", file=source)
    missing = [f"`{key}`: a sops setting sealer has nothing like; ignored" for key in raw
               if key != "creation_rules"]
    principals: dict[str, str] = {}
    environments: dict[str, Any] = {}
    rules: list[dict[str, Any]] = []
    for number, rule in enumerate(raw.get("creation_rules") or [], 1):
        if not isinstance(rule, dict):
            raise ConfigError(f"creation rule {number} is not a mapping", file=source)
        converted = _rule(rule, number, principals, missing)
        if converted is not None:
            name = f"rule{number}"
            environments[name] = {"recipients": converted.pop("recipients")}
            rules.append({**converted, "environment": name})
    if not rules:
        raise ConfigError("no creation rule could be converted: "
                          + "; ".join(missing or ["it has none"]), file=source)
    config = {"version": 1, "principals": principals, "environments": environments,
              "creation_rules": rules}
    return Translated(config, missing)


def _rule(rule: dict[str, Any], number: int, principals: dict[str, str],
          missing: list[str]) -> dict[str, Any] | None:
    where = f"creation rule {number}"
    if "filename_regex" in rule and "path_regex" not in rule:
        rule = {**rule, "path_regex": rule["filename_regex"]}
    pattern = rule.get("path_regex")
    glob = "**" if pattern is None else regex_to_glob(str(pattern))
    if glob is None:
        missing.append(f"{where}: path_regex {pattern!r} is not a simple glob; not converted "
                       "(write its `path:` glob by hand)")
        return None
    keys = _age_keys(rule, where, missing)
    if keys is None:
        return None
    out: dict[str, Any] = {"path": glob, "recipients": [_principal(k, principals) for k in keys]}
    clear = {name: rule[f"unencrypted_{name}"] for name in ("suffix", "regex")
             if rule.get(f"unencrypted_{name}")}
    if clear:
        out["clear"] = clear
    for key, why in _NO_EQUIVALENT.items():
        if rule.get(key):
            missing.append(f"{where}: `{key}`: {why}")
    if not any(rule.get(k) for k in ("unencrypted_suffix", "unencrypted_regex",
                                     "encrypted_suffix", "encrypted_regex")):
        missing.append(f"{where}: sops leaves values under keys ending in `_unencrypted` in "
                       "clear by default; sealer encrypts them (add `clear: {suffix: "
                       "_unencrypted}` to keep sops' behaviour)")
    return out


def _age_keys(rule: dict[str, Any], where: str, missing: list[str]) -> list[str] | None:
    groups = rule.get("key_groups")
    if groups is not None:
        if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
            raise ConfigError(f"{where}: key_groups must be a list of mappings")
        if len(groups) > 1:
            missing.append(f"{where}: {len(groups)} key groups with a Shamir threshold: not "
                           "converted (write them as the environment's key_groups by hand, "
                           "docs/KEY-GROUPS.md)")
            return None
        sources = groups
    else:
        sources = [rule]
    keys: list[str] = []
    for source in sources:
        others = sorted(name for field, name in _OTHER_KEYS.items() if source.get(field))
        if others:
            missing.append(f"{where}: {', '.join(others)} keys: sealer encrypts to age and SSH "
                           "keys only; left out")
        keys += _split_age(source.get("age"), where)
    if not keys:
        missing.append(f"{where}: no age keys; not converted")
        return None
    return list(dict.fromkeys(keys))


def _split_age(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    keys = [str(item).strip() for item in items if str(item).strip()]
    for key in keys:
        if not _AGE_KEY.match(key):
            raise ConfigError(f"{where}: {key[:20]!r}… is not an age recipient")
    return keys


def _principal(key: str, principals: dict[str, str]) -> str:
    for name, known in principals.items():
        if known == key:
            return name
    name = f"key{len(principals) + 1}"
    principals[name] = key
    return name
