"""`sealer seal` and `sealer unseal`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

from .common import (
    AllowRevertOption,
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


@app.command(epilog="""Examples:

  sealer seal app.yaml -r age1ql3z…               # writes app.sealed.yaml

  sealer seal app.yaml -R team.txt -o prod/app.sealed.yaml

  sealer seal .env -r age1ql3z…                   # dotenv input: writes .env.sealed.yaml

  sealer seal app.yaml --in-place -r age1ql3z…    # app.yaml becomes its sealed form

  sealer unseal app.sealed.yaml | sealer seal - -o app.sealed.yaml   # no-op: nothing changed

  sealer seal app.yaml --group age1…,arn:aws:kms:… --group age1… --group age1… --threshold 2
""")
def seal(
    inputs: Annotated[list[Path], Argument(
        metavar="INPUT...", help="Plaintext YAML or dotenv files ('-' = stdin).")],
    output: Annotated[Path | None, Option("--output", "--out", "-o", metavar="FILE",
                                                help="Sealed output (one input only). "
                                                     "Default: NAME.sealed.yaml.")] = None,
    recipient: RecipientOption = None,
    recipients_file: RecipientsFileOption = None,
    identity: IdentityOption = None,
    input_type: Annotated[str | None, Option(
        "--input-type", metavar="TYPE",
        help="yaml or dotenv (KEY=value lines). Default: dotenv for files named .env, "
             "NAME.env or .env.NAME, else yaml.")] = None,
    clear_suffix: Annotated[str | None, Option(
        help="Keep values in clear when a key on their path ends with this suffix.")] = None,
    clear_regex: Annotated[str | None, Option(
        help="Keep values in clear when a key on their path matches this regex.")] = None,
    in_place: Annotated[bool, Option(
        "--in-place", help="Replace the plaintext input with its sealed form (with -o: allow "
                           "replacing that plaintext file instead).")] = False,
    replace: Annotated[bool, Option(
        "--replace", help="Start a new sealed file (new id and data key) instead of updating "
                          "the existing one; needs no identity.")] = False,
    force: Annotated[bool, Option(
        "--force", help="With -r/-R on an existing sealed file: allow leaving out your own "
                        "key (the one that opened it).")] = False,
    file_only: FileOnlyOption = False,
    allow_revert: AllowRevertOption = False,
    group: Annotated[list[str] | None, Option(
        "--group", metavar="RECIPIENTS",
        help="A key group: comma-separated recipients (or sealer.yaml names); repeat for each "
             "group. With --threshold: any N groups open the file (docs/KEY-GROUPS.md).")] = None,
    threshold: Annotated[int | None, Option(
        "--threshold", metavar="N", help="How many --group groups are needed to open the "
                                         "file.")] = None,
) -> None:
    """Encrypt plaintext YAML (or dotenv) into a sealed file (keys in clear, every value
    encrypted).

    If the output already is a sealed file it is updated: same data key and recipients (unless
    -r/-R are given), and every unchanged value keeps its ciphertext so `git diff` shows only
    real changes. New recipients are listed on stderr (added, removed); leaving out your own
    key needs --force. SOPS-encrypted files are refused: decrypt them with sops first.
    """
    from ..errors import UsageError
    from ..files import seal_file
    from ..plaintext import INPUT_TYPES, input_type_for

    if output is not None and len(inputs) > 1:
        raise UsageError("-o/--output needs exactly one input", hint="seal one file at a time")
    if input_type is not None:
        check_format(input_type, INPUT_TYPES, what="input type")
    ids = identities(identity)
    if clear_regex:  # the user's own pattern: a bad one is a usage error, before any work
        from ..limits import MAX_CLEAR_REGEX
        from ..regex import compile_pattern

        compile_pattern(clear_regex, what="--clear-regex", error=UsageError,
                        limit=MAX_CLEAR_REGEX)
    clear = {k: v for k, v in (("suffix", clear_suffix), ("regex", clear_regex)) if v}
    if (group or threshold is not None) and (recipient or recipients_file
                                             or not group or threshold is None):
        raise UsageError("key groups take --group (one for each group) and --threshold, "
                         "without -r/-R", hint="sealer seal FILE --group age1…,age1… --group "
                                               "age1… --threshold 2")
    for source in inputs:
        target = output or _default_target(source, in_place)
        wanted = recipients(recipient, recipients_file, context=target)
        groups = [recipients([t.strip() for t in g.split(",") if t.strip()], None,
                             context=target) or [] for g in group or []]
        if not in_place and target.exists() and source.exists() and target.samefile(source):
            raise UsageError("refusing to overwrite the plaintext input with its sealed form",
                             file=str(source), hint="pass --in-place, or -o to write elsewhere")
        before = _recipients_of(target) if wanted is not None or groups else None
        # the input is read in the call, so that only seal_file holds it (and lets it go)
        written = seal_file(sys.stdin.buffer.read() if str(source) == "-" else _read(source),
                            target, source=str(source), recipients=wanted, identities=ids,
                            groups=groups or None, threshold=threshold,
                            clear=clear or None, replace=replace, overwrite_plaintext=in_place,
                            force=force, input_type=input_type or input_type_for(str(source)),
                            intent=write_intent(file_only, allow_revert))
        state = f"serial {written.document.header.serial}" if written.changed else "unchanged"
        note(f"{source} -> {target} ({state})")
        if before is not None:
            _recipient_changes(target, before, [w.recipient for w in written.document.recipients])
        if in_place and target == source:
            _name_note(target)


def _recipients_of(target: Path) -> list[str] | None:
    """The recipients of an existing sealed file (no key needed), else None."""
    from ..errors import SealerError
    from ..files import recipients_list

    if not target.is_file():
        return None
    try:
        return recipients_list(target)
    except SealerError:
        return None  # not a sealed file (yet): seal_file reports what is wrong with it


def _recipient_changes(target: Path, before: list[str], after: list[str]) -> None:
    """What -r/-R changed, on stderr: a removed key can still read every earlier version."""
    added = [r for r in after if r not in before]
    removed = [r for r in before if r not in after]
    for label, keys in (("added", added), ("removed", removed)):
        for key in keys:
            note(f"{target}: recipient {label}: {_recipient_label(key, target)}")
    if removed:
        note(f"{target}: a new data key; removed keys can still read the versions in git "
             "history: rotate what they could read")


def _recipient_label(key: str, target: Path) -> str:
    from ..config import project_for

    project = project_for(target)
    name = project.principal_for(key) if project is not None else None
    text = key if len(key) <= 100 else f"{key[:20]}…{key[-16:]}"
    return f"{text} ({name})" if name else text


def _name_note(target: Path) -> None:
    from ..sealedfiles import is_sealed_name, sealed_name

    if not is_sealed_name(target.name):
        note(f"{target} keeps its name; check, the git drivers and the hooks find sealed files "
             f"by their .sealed.yaml suffix: consider `git mv {target} {sealed_name(target)}`")


def _default_target(source: Path, in_place: bool) -> Path:
    from ..errors import UsageError
    from ..files import default_output

    if str(source) == "-":
        raise UsageError("reading from stdin needs -o/--output FILE")
    return source if in_place else default_output(source)


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
    output: Annotated[Path | None, Option(
        "--output", "--out", "-o", metavar="FILE",
        help="Write here (mode 0600) instead of stdout; `-` is stdout.")] = None,
    fmt: Annotated[str, Option("--format", "-f", help="yaml or json.")] = "yaml",
    metadata: Annotated[bool, Option(
        "--metadata", help="Include metadata under a `sealer:` key.")] = False,
    identity: IdentityOption = None,
) -> None:
    """Decrypt sealed files and print the plaintext YAML (or write it with -o)."""
    from ..errors import UsageError
    from ..files import unseal_file
    from ..fsio import atomic_write

    check_format(fmt, ("yaml", "json"))
    if output is not None and str(output) == "-":
        output = None  # stdout, as everywhere: never a plaintext file named `-`
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
