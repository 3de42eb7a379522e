"""`sealer seal` and `sealer unseal`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .app import app
from .common import (
    FilesArgument,
    IdentityOption,
    RecipientOption,
    RecipientsFileOption,
    check_format,
    dump,
    identities,
    note,
    recipients,
    write_stdout,
)


@app.command(epilog="""Examples:

  sealer seal app.yaml -r age1ql3z…               # writes app.sealed.yaml

  sealer seal app.yaml -R team.txt -o prod/app.sealed.yaml

  sealer unseal app.sealed.yaml | sealer seal - -o app.sealed.yaml   # no-op: nothing changed
""")
def seal(
    inputs: Annotated[list[Path], typer.Argument(metavar="INPUT...",
                                                 help="Plaintext YAML files ('-' = stdin).")],
    output: Annotated[Path | None, typer.Option("--output", "--out", "-o", metavar="FILE",
                                                help="Sealed output (one input only). "
                                                     "Default: NAME.sealed.yaml.")] = None,
    recipient: RecipientOption = None,
    recipients_file: RecipientsFileOption = None,
    identity: IdentityOption = None,
    clear_suffix: Annotated[str | None, typer.Option(
        help="Keep values in clear when a key on their path ends with this suffix.")] = None,
    clear_regex: Annotated[str | None, typer.Option(
        help="Keep values in clear when a key on their path matches this regex.")] = None,
    in_place: Annotated[bool, typer.Option(
        "--in-place", help="Allow replacing a plaintext file with its sealed form.")] = False,
    replace: Annotated[bool, typer.Option(
        "--replace", help="Start a new sealed file (new id and data key) instead of updating "
                          "the existing one; needs no identity.")] = False,
) -> None:
    """Encrypt plaintext YAML into a sealed file (keys in clear, every value encrypted).

    If the output already is a sealed file it is updated: same data key and recipients (unless
    -r/-R are given), and every unchanged value keeps its ciphertext so `git diff` shows only
    real changes.
    """
    from ..errors import UsageError
    from ..files import seal_file

    if output is not None and len(inputs) > 1:
        raise UsageError("-o/--output needs exactly one input", hint="seal one file at a time")
    ids = identities(identity)
    clear = {k: v for k, v in (("suffix", clear_suffix), ("regex", clear_regex)) if v}
    for source in inputs:
        target = output or _default_target(source)
        wanted = recipients(recipient, recipients_file, context=target)
        if not in_place and target.exists() and source.exists() and target.samefile(source):
            raise UsageError("refusing to overwrite the plaintext input with its sealed form",
                             file=str(source), hint="pass --in-place, or -o to write elsewhere")
        text = sys.stdin.buffer.read() if str(source) == "-" else _read(source)
        written = seal_file(text, target, source=str(source), recipients=wanted, identities=ids,
                            clear=clear or None, replace=replace, overwrite_plaintext=in_place)
        state = f"serial {written.document.header.serial}" if written.changed else "unchanged"
        note(f"{source} -> {target} ({state})")


def _default_target(source: Path) -> Path:
    from ..errors import UsageError
    from ..files import default_output

    if str(source) == "-":
        raise UsageError("reading from stdin needs -o/--output FILE")
    return default_output(source)


def _read(source: Path) -> bytes:
    from ..fsio import read_bytes
    from ..yamlio import MAX_BYTES

    return read_bytes(source, limit=MAX_BYTES)


def _is_sealed(path: Path) -> bool:
    """Whether `path` holds a sealed file (which plaintext must never replace)."""
    from ..document import looks_sealed
    from ..errors import SealerError
    from ..yamlio import load

    try:
        return looks_sealed(load(_read(path), source=str(path)))
    except SealerError:
        return False


@app.command(epilog="""Examples:

  sealer unseal app.sealed.yaml

  sealer unseal app.sealed.yaml -o app.yaml        # written with mode 0600

  sealer unseal app.sealed.yaml --format json | jq .db
""")
def unseal(
    files: FilesArgument,
    output: Annotated[Path | None, typer.Option(
        "--output", "--out", "-o", metavar="FILE",
        help="Write here (mode 0600) instead of stdout.")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="yaml or json.")] = "yaml",
    metadata: Annotated[bool, typer.Option(
        "--metadata", help="Include metadata under a `sealer:` key.")] = False,
    identity: IdentityOption = None,
) -> None:
    """Decrypt sealed files and print the plaintext YAML (or write it with -o)."""
    from ..errors import UsageError
    from ..files import unseal_file
    from ..fsio import atomic_write

    check_format(fmt, ("yaml", "json"))
    if output is not None and len(files) > 1:
        raise UsageError("-o/--output needs exactly one file")
    if output is not None and output.exists() and (output.samefile(files[0])
                                                   or _is_sealed(output)):
        raise UsageError("refusing to overwrite a sealed file with plaintext",
                         file=str(output), hint="choose another -o path")
    ids = identities(identity)
    texts = [dump(unseal_file(f, ids, with_metadata=metadata), fmt) for f in files]
    if output is not None:
        atomic_write(output, texts[0].encode("utf-8"), mode=0o600)
        note(f"{files[0]} -> {output} (plaintext, mode 0600)")
        return
    write_stdout(("---\n" if len(texts) > 1 else "").join(texts))
