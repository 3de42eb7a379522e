"""`sealer get`, `set`, `unset` and `show`: one value at a time, and the redacted view."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

from .common import (
    AllowRevertOption,
    FileArgument,
    FileOnlyOption,
    FilesArgument,
    IdentityOption,
    RecipientOption,
    RecipientsFileOption,
    check_format,
    dump,
    identities,
    note,
    recipients,
    write_intent,
    write_stdout,
)
from .declare import Argument, Option, app

VALUE_TYPES = ("str", "int", "float", "bool", "null", "bytes", "yaml")


@app.command(epilog="""Examples:

  sealer get app.sealed.yaml db.password

  PGPASSWORD=$(sealer get app.sealed.yaml db.password) psql …

  sealer get app.sealed.yaml 'users[0]' --format json

  sealer get app.sealed.yaml db --stage previous     # the value before the last rotation

  sealer get app.sealed.yaml db --version-id 5f1c…   # one version, by id (`sealer versions`)
""")
def get(
    file: FileArgument,
    key: Annotated[str, Argument(metavar="KEY.PATH",
                                       help='Key path: db.password, users[0].name, "a.b".c')],
    fmt: Annotated[str, Option("--format", "-f",
                                     help="raw (default), yaml or json.")] = "raw",
    force: Annotated[bool, Option("--force", help="Print binary values to a terminal.")
                     ] = False,
    stage: Annotated[str, Option(
        "--stage", help="current (default), previous, pending or another staging label: which "
                        "version of a rotated secret (see `sealer versions`).")] = "current",
    version_id: Annotated[str | None, Option(
        "--version-id", metavar="ID", help="The version with this id (AWS: VersionId).")] = None,
    identity: IdentityOption = None,
) -> None:
    """Print one decrypted value, raw, for scripts.

    Strings and binary values are printed exactly, with no newline added unless stdout is a
    terminal; numbers, booleans and null as YAML scalars; mappings and lists as YAML or JSON.
    """
    from ..files import get_value

    check_format(fmt, ("raw", "yaml", "json"))
    value = get_value(file, key, identities(identity), stage=stage, version_id=version_id)
    if fmt != "raw" or isinstance(value, dict | list):
        write_stdout(dump(value, "json" if fmt == "json" else "yaml"))
        return
    write_stdout(_raw(value), binary=isinstance(value, bytes), force=force)
    if sys.stdout.isatty() and not isinstance(value, bytes):
        write_stdout("\n")


def _raw(value: Any) -> bytes | str:
    if isinstance(value, bytes | str):
        return value
    from ..yamlio import dump as dump_yaml

    return dump_yaml(value).removesuffix("\n...\n").rstrip("\n")


@app.command("set", epilog="""Examples:

  sealer set app.sealed.yaml db.password          # prompts, or reads stdin when piped

  openssl rand -hex 32 | sealer set app.sealed.yaml api.token

  sealer set app.sealed.yaml tls.key --from-file key.pem

  sealer set app.sealed.yaml db.port 5433           # db.port stays an int

  sealer set app.sealed.yaml db.port 5432 --type str
""")
def set_(
    file: FileArgument,
    key: Annotated[str, Argument(metavar="KEY.PATH", help="Key path to set.")],
    value: Annotated[str | None, Argument(
        metavar="[VALUE]", help="The value. Omit it to be prompted or to read stdin, so the "
                                "secret stays out of shell history and the process list.")] = None,
    from_file: Annotated[Path | None, Option(
        "--from-file", metavar="PATH", help="Read the value from a file, byte for byte.")] = None,
    type_: Annotated[str | None, Option(
        "--type", "-t", help="str, int, float, bool, null, bytes, or yaml for a structured "
                             "value. Default: the type of the value being replaced when it is "
                             "an int, float or bool and the new text is one too (5433, 1.5, "
                             "false), else str.")] = None,
    recipient: RecipientOption = None,
    recipients_file: RecipientsFileOption = None,
    identity: IdentityOption = None,
    file_only: FileOnlyOption = False,
    allow_revert: AllowRevertOption = False,
    token: Annotated[str | None, Option(
        "--client-request-token", metavar="TOKEN",
        help="A rotated key: the new version's id (32-64 characters, e.g. a UUID), so a retry "
             "is a no-op, as AWS's ClientRequestToken.")] = None,
) -> None:
    """Set one value and re-seal; only that value's ciphertext changes.

    The value comes from the argument, --from-file, a hidden prompt on a terminal, or stdin
    (one trailing newline removed). Without --type, a number or boolean stays one: replacing
    the int 5432 with "5433" stores the int 5433. A missing file is created when -r/-R name
    its readers.
    """
    from ..files import create_with_value, set_value

    if type_ is not None:
        check_format(type_, VALUE_TYPES, what="type")
    raw = _value_bytes(value, from_file, key)
    type_, retyped = (type_, None) if type_ is not None else _default_type(file, key, raw)
    parsed = _convert(raw, type_, key)
    wanted = recipients(recipient, recipients_file, context=file)
    if wanted and file.exists():
        from ..errors import UsageError

        raise UsageError("-r/-R only apply when set creates a new file", file=str(file),
                         hint=f"to give more keys access use `sealer recipients add {file}`")
    if wanted:
        written = create_with_value(file, key, parsed, wanted)
    else:
        written = set_value(file, key, parsed, identities(identity),
                            intent=write_intent(file_only, allow_revert, token))
    note(f"{file}: {key} {'set' if written.changed else 'unchanged'}")
    if retyped:
        note(f"{file}: {key} was {retyped} and is str now (--type chooses the type)")


def _value_bytes(value: str | None, from_file: Path | None, key: str) -> bytes:
    from ..errors import UsageError

    if value is not None and from_file is not None:
        raise UsageError("give the value either as an argument or with --from-file, not both")
    if value is not None:
        return value.encode("utf-8")
    if from_file is not None:
        from ..fsio import read_bytes
        from ..limits import MAX_VALUE_BYTES

        return read_bytes(from_file, limit=MAX_VALUE_BYTES)
    if sys.stdin.isatty():
        import getpass

        data = getpass.getpass(f"Value for {key}: ").encode("utf-8")
    else:
        data = _read_stdin(key)
    if not data:
        raise UsageError(f"the value for {key} is empty; nothing was changed",
                         hint="to store an empty string on purpose, pass '' as the value")
    return data


def _read_stdin(key: str) -> bytes:
    """The value on stdin, one trailing newline removed; bounded: at most the limit and that
    newline are read (docs/LIMITS.md)."""
    from ..errors import SealerError
    from ..limits import MAX_VALUE_BYTES, mib

    data = sys.stdin.buffer.read(MAX_VALUE_BYTES + 3)
    data = data[:-2] if data.endswith(b"\r\n") else data.removesuffix(b"\n")
    if len(data) > MAX_VALUE_BYTES:
        raise SealerError(f"the value for {key} on stdin is larger than the "
                         f"{mib(MAX_VALUE_BYTES)} limit for one value; nothing was changed",
                         hint="sealed files hold secrets, not bulk data: keep large files "
                              "elsewhere and seal a key or a digest of them")
    return data


_KEPT_TYPES = ("int", "float", "bool")


def _default_type(file: Path, key: str, raw: bytes) -> tuple[str, str | None]:
    """Without --type: (the type to store, the replaced value's type when it is lost). An int,
    float or bool stays one when `raw` reads as one of that type; everything else is a str."""
    from ..errors import SealerError
    from ..files import stored_type

    try:
        existing = stored_type(file, key) if file.exists() else None
    except SealerError:
        return "str", None  # not a readable sealed file: set_value reports what is wrong
    if existing not in _KEPT_TYPES:
        return "str", None
    try:
        _convert(raw, existing, key)
    except SealerError:
        return "str", f"an {existing}" if existing == "int" else f"a {existing}"
    return existing, None


def _convert(raw: bytes, type_: str, key: str) -> Any:
    from ..errors import UsageError
    from ..yamlio import load, resolve_plain

    if type_ == "bytes":
        return raw
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError("the value is not UTF-8 text", hint="use --type bytes") from None
    if type_ == "str":
        return text
    if type_ == "yaml":
        return load(text, source=f"value for {key}")
    value = resolve_plain(text.strip())
    wanted = {"int": int, "float": float, "bool": bool, "null": type(None)}[type_]
    if wanted is float and type(value) is int:
        return float(value)
    if type(value) is not wanted:
        raise UsageError(f"the value is not a valid {type_}",
                         hint="int: 42, float: 1.5, bool: true/false, null: null")
    return value


@app.command(epilog="""Example:

  sealer unset app.sealed.yaml legacy.token 'users[2]'
""")
def unset(
    file: FileArgument,
    keys: Annotated[list[str], Argument(metavar="KEY.PATH...", help="Keys to remove.")],
    identity: IdentityOption = None,
    file_only: FileOnlyOption = False,
) -> None:
    """Remove keys (and their metadata) from a sealed file."""
    from ..files import unset_values

    written = unset_values(file, keys, identities(identity), intent=write_intent(file_only))
    note(f"{file}: removed {', '.join(keys)} (serial {written.document.header.serial})")


@app.command(epilog="""Examples:

  sealer show app.sealed.yaml

  sealer show secrets/*.sealed.yaml --format json
""")
def show(
    files: FilesArgument,
    fmt: Annotated[str, Option("--format", "-f", help="yaml or json.")] = "yaml",
) -> None:
    """Show structure, value types, metadata and recipients; values stay redacted.

    Needs no key: this is what reviewers and CI can always run.
    """
    from ..files import show_file

    check_format(fmt, ("yaml", "json"))
    views = [show_file(f) for f in files]
    if fmt == "json":
        write_stdout(dump(views if len(views) > 1 else views[0], "json"))
    else:
        write_stdout("---\n".join(dump(v, "yaml") for v in views))
