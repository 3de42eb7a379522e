"""`sealer render` and `sealer exec`: sealed files into outputs and processes at deploy time."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

from .common import IdentityOption, identities, note, write_stdout
from .declare import COMMAND_KEY, Argument, Context, Option, app

if TYPE_CHECKING:
    from ..render import NameRule, Rendered, RenderSpec


AllowOverrideOption = Annotated[bool, Option(
    "--allow-override", help="Let a later file redefine keys of an earlier one (an overlay). "
                             "Without it a key defined twice is an error.")]
SelectOption = Annotated[str | None, Option(
    "--select", metavar="KEY.PATH", help="Use only the mapping at this key path.")]
PrefixOption = Annotated[str, Option(
    "--prefix", metavar="TEXT", help="Put this in front of every name (e.g. APP_).")]
SeparatorOption = Annotated[str, Option(
    "--separator", metavar="TEXT", help="Join nested keys with this (default _): "
                                        "db.password -> db_password.")]
UpperOption = Annotated[bool, Option(
    "--upper", help="Uppercase the names made from keys: DB_PASSWORD.")]
AllowEnvOption = Annotated[list[str] | None, Option(
    "--allow-env", metavar="NAME",
    help="Let a secret be the variable NAME although it changes how programs run (PATH, HOME, "
         "LD_*, PYTHON*, NODE_OPTIONS, …; see docs/RENDER.md). Repeatable. Only the command "
         "line can allow these, never sealer.yaml.")]


@app.command(epilog="""Examples:

  sealer render app.sealed.yaml -f dotenv -o .env

  sealer render base.sealed.yaml prod.sealed.yaml --allow-override -f k8s -o secret.yaml

  sealer render app.sealed.yaml -t nginx.conf.j2 -o /etc/nginx/conf.d/app.conf

  sealer render app.sealed.yaml -f github --upper -i -     # in a GitHub Actions step, key on stdin

  sealer render app.sealed.yaml -f dotenv -o .env --check  # exit 1 if .env is out of date

  sealer render app.sealed.yaml -f files -o /etc/app/credentials   # one file per secret

  sealer render app.sealed.yaml -f json -o - | jq .db      # - is stdout

  sealer render app.sealed.yaml -f sops -o app.enc.yaml    # for Flux, helm-secrets, KSOPS

  sealer render --env prod                   # every prod target named in sealer.yaml
""")
def render(
    files: Annotated[list[Path] | None, Argument(
        metavar="[FILE]...", help="Sealed files, merged in order ('-' = stdin), or use "
                                  "--env/--target.")
    ] = None,
    env: Annotated[str | None, Option(
        "--env", metavar="ENV", help="Build every target of this environment in sealer.yaml.")
    ] = None,
    target: Annotated[list[str] | None, Option(
        "--target", metavar="NAME", help="Build this named target of sealer.yaml. Repeatable.")
    ] = None,
    fmt: Annotated[str | None, Option(
        "--format", "-f", metavar="FORMAT",
        help="dotenv, dotenv-literal (values verbatim, for docker --env-file and kubectl "
             "--from-env-file), shell, systemd, json, yaml, k8s (a Secret manifest), template, "
             "github, files (one file per secret in the directory -o DIR), or sops (a SOPS "
             "file for the age recipients the files share).")] = None,
    output: Annotated[Path | None, Option(
        "--output", "--out", "-o", metavar="FILE",
        help="Write here, atomically, mode 0600 (new directories 0700); - prints to stdout, as "
             "--stdout. files: the directory. github: default $GITHUB_ENV or "
             "$GITHUB_OUTPUT.")] = None,
    stdout: Annotated[bool, Option(
        "--stdout", help="Print instead of writing a file (refused to a terminal).")] = False,
    force: Annotated[bool, Option(
        "--force", help="With --stdout: print secrets to a terminal all the same.")] = False,
    check: Annotated[bool, Option(
        "--check", help="Write nothing; exit 1 if the output file differs from what would be "
                        "written (no values are printed).")] = False,
    allow_override: AllowOverrideOption = False,
    select: SelectOption = None,
    prefix: PrefixOption = "",
    separator: SeparatorOption = "_",
    upper: UpperOption = False,
    name: Annotated[str | None, Option(
        "--name", metavar="NAME",
        help="k8s: the Secret's name (default: the first file's name).")] = None,
    namespace: Annotated[str | None, Option(
        "--namespace", metavar="NAMESPACE", help="k8s: the Secret's namespace.")] = None,
    kind: Annotated[str, Option(
        "--type", metavar="TYPE", help="k8s: Opaque, kubernetes.io/tls, kubernetes.io/basic-auth, "
                       "kubernetes.io/dockerconfigjson, ….")] = "Opaque",
    label: Annotated[list[str] | None, Option(
        "--label", metavar="KEY=VALUE", help="k8s: a label. Repeatable.")] = None,
    annotation: Annotated[list[str] | None, Option(
        "--annotation", metavar="KEY=VALUE", help="k8s: an annotation. Repeatable.")] = None,
    string_data: Annotated[bool, Option(
        "--string-data", help="k8s: values as text in stringData instead of base64 in "
                              "data.")] = False,
    template: Annotated[Path | None, Option(
        "--template", "-t", metavar="FILE",
        help="A Jinja2 template (implies --format template).")] = None,
    github_output: Annotated[bool, Option(
        "--github-output", help="github: step outputs ($GITHUB_OUTPUT) instead of environment "
                                "variables ($GITHUB_ENV).")] = False,
    allow_env: AllowEnvOption = None,
    identity: IdentityOption = None,
) -> None:
    """Render sealed files into an env file, a Secret manifest, a config file or CI variables.

    Several files are merged in order (a base, then overlays). Everything is rendered in memory
    first: a failure (a bad key, a template error, a missing file) writes nothing and leaves
    the previous output as it was. See docs/RENDER.md for each format's exact rules.
    """
    from ..render import (
        KubernetesOptions,
        RenderSpec,
        check_spec,
        is_current,
        write_output,
    )
    from ..render import render as render_files

    if env is not None or target:
        if files or fmt or output or template or stdout:
            from ..errors import UsageError

            raise UsageError("--env/--target take their files, formats and outputs from "
                             "sealer.yaml", hint="drop FILE arguments and -f/-o/-t/--stdout")
        _render_targets(env, target or [], check=check, ids=identities(identity),
                        allow_env=tuple(allow_env or ()))
        return
    if not files:
        from ..errors import UsageError

        raise UsageError("no sealed files given", hint="sealer render FILE… -f FORMAT, or "
                                                       "sealer render --env ENV")
    _check_stdin(files, identity)
    output, stdout, printing = _dash_output(output, stdout)
    _refuse_dash_template(template)
    kubernetes = KubernetesOptions(name, namespace, kind, _pairs(label, "--label"),
                                   _pairs(annotation, "--annotation"), string_data)
    spec = RenderSpec(_format(fmt, template), output, allow_override, select,
                      _names(prefix, separator, upper), kubernetes, template,
                      "output" if github_output else "env", allow_env=tuple(allow_env or ()))
    check_spec(spec)
    _check_destination(spec, stdout=stdout, check=check, force=force, printing=printing)
    rendered = render_files(files, spec, identities(identity))
    if check:
        _report_check(rendered, is_current(rendered))
    elif stdout:
        write_stdout(rendered.content)
    else:
        if rendered.commands:
            write_stdout(rendered.commands)
        write_output(rendered)
        note(_written(files, rendered))


def _render_targets(env: str | None, names: list[str], *, check: bool, ids: Any,
                    allow_env: tuple[str, ...]) -> None:
    """Render every chosen target in memory first; only then write (or compare) them all.

    `allow_env` (from the command line) applies to every target; sealer.yaml has no say."""
    from ..config import find_config, load_config
    from ..errors import ConfigError
    from ..render import check_spec, is_current, write_outputs
    from ..render import render as render_files
    from ..render.targets import select_targets

    path = find_config(Path.cwd())
    if path is None:
        raise ConfigError("no sealer.yaml here or in any parent directory",
                          hint="named targets live in sealer.yaml (docs/RENDER.md)")
    chosen = [t._replace(spec=t.spec._replace(allow_env=allow_env))
              for t in select_targets(load_config(path), environment=env, names=names)]
    for t in chosen:
        check_spec(t.spec)
    rendered = [render_files(t.files, t.spec, ids) for t in chosen]
    if check:
        stale = [r for r in rendered if not is_current(r)]
        for r in stale:
            note(f"{r.output}: out of date")
        if stale:
            raise SystemExit(1)
        note(f"{len(rendered)} target(s) up to date")
        return
    for r in rendered:
        if r.commands:
            write_stdout(r.commands)
    write_outputs(rendered)
    for t, r in zip(chosen, rendered, strict=True):
        note(f"{t.name}: {_written(t.files, r)}")


def _format(fmt: str | None, template: Path | None) -> str:
    from ..errors import UsageError
    from ..render import FORMATS

    if fmt is None and template is not None:
        return "template"
    if fmt is None:
        raise UsageError("no --format given", hint=f"use one of: {', '.join(FORMATS)}")
    return fmt


def _names(prefix: str, separator: str, upper: bool) -> NameRule:
    from ..render import NameRule

    return NameRule(separator, prefix, upper)


def _pairs(items: list[str] | None, option: str) -> dict[str, str]:
    from ..errors import UsageError

    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{option} takes KEY=VALUE, not {item!r}")
        out[key] = value
    return out


def _check_stdin(files: list[Path], identity: list[str] | None) -> None:
    """`-` reads a sealed file from stdin: once, and not when the key comes from there too."""
    from ..errors import UsageError

    dashes = sum(str(f) == "-" for f in files)
    if dashes > 1:
        raise UsageError("stdin can be read only once: give - for one sealed file only")
    if dashes and identity and "-" in identity:
        raise UsageError("the key (-i -) and a sealed file (-) cannot both come from stdin",
                         hint="pass the key in $SEALER_IDENTITY or with -i FILE")


def _dash_output(output: Path | None, stdout: bool) -> tuple[Path | None, bool, str]:
    """`-o -` is --stdout (a file named - takes its full path): (output, stdout, how asked)."""
    if output is None or str(output) != "-":
        return output, stdout, "--stdout"
    if stdout:
        from ..errors import UsageError

        raise UsageError("--stdout and -o - both print the output", hint="give one of them")
    return None, True, "-o -"


def _refuse_dash_template(template: Path | None) -> None:
    if template is not None and str(template) == "-":
        from ..errors import UsageError

        raise UsageError("the template cannot come from stdin: the templates it includes are "
                         "found next to it", hint="save it to a file and pass --template FILE")


def _check_destination(spec: RenderSpec, *, stdout: bool, check: bool, force: bool,
                       printing: str = "--stdout") -> None:
    """The flags that say where the output goes must make sense together (before decrypting)."""
    from ..errors import UsageError

    if spec.format == "github" and (stdout or check):
        raise UsageError(f"{printing if stdout else '--check'} does not apply to the github "
                         "format", hint="it appends to $GITHUB_ENV, or to -o FILE")
    if spec.format == "sops" and check:
        raise UsageError("--check does not apply to the sops format: each render encrypts "
                         "under a new data key", hint="render it again instead")
    if spec.format == "files" and stdout:
        raise UsageError("the files format writes a directory, one file per secret: it cannot "
                         f"be printed ({printing})", hint="pass -o DIR")
    if stdout and (check or spec.output is not None):
        raise UsageError(f"{printing} prints the output; it cannot go with "
                         f"{'--check' if check else '-o/--output'}")
    if stdout and not force and sys.stdout.isatty():
        raise UsageError("refusing to print secrets to a terminal",
                         hint="redirect stdout to a file or a pipe, or pass --force")
    if not stdout and spec.output is None and spec.format != "github":
        files = spec.format == "files"
        raise UsageError("no output file" if not check else "--check needs the file to "
                         "compare with", hint=f"pass -o {'DIR' if files else 'FILE'}"
                         + ("" if check or files else ", or --stdout to print"))


def _report_check(rendered: Rendered, current: bool) -> None:
    from ..errors import SealerError

    if not current:
        missing = rendered.output is not None and not rendered.output.exists()
        raise SealerError("does not exist" if missing else "is out of date",
                          file=str(rendered.output),
                          hint="run the same command without --check to write it")
    note(f"{rendered.output}: up to date")


def _written(files: list[Path], rendered: Rendered) -> str:
    sources = ", ".join(map(str, files))
    if rendered.append:
        masked = "; values masked in the log" if rendered.commands else ""
        return f"{sources} -> {rendered.output} (appended{masked})"
    if rendered.files is not None:
        return f"{sources} -> {rendered.output}/ ({len(rendered.files)} files, mode 0600)"
    return f"{sources} -> {rendered.output} ({rendered.format}, mode 0600)"


# -- exec --------------------------------------------------------------------------------------


@app.command("exec", words_after_dashdash=True, epilog="""Examples:

  sealer exec app.sealed.yaml -- ./manage.py migrate

  sealer exec base.sealed.yaml prod.sealed.yaml --allow-override --upper -- node server.js

  sealer exec app.sealed.yaml --clean-env --select db -- /usr/bin/env

  sealer exec app.sealed.yaml --upper --allow-env JAVA_TOOL_OPTIONS -- java -jar app.jar

  sealer exec app.sealed.yaml --file k8s -- kubectl apply --server-side -f {}

  sealer exec app.sealed.yaml --select gcp --file json:key.json -- ./app --credentials {}
""")
def exec_(
    ctx: Context,
    files: Annotated[list[Path], Argument(
        metavar="FILE...", help="Sealed files, merged in order ('-' = stdin).")],
    clean_env: Annotated[bool, Option(
        "--clean-env", help="Give the command only the secrets, not this environment (the "
                            "command is still looked up in the current PATH).")] = False,
    keep_key_env: Annotated[bool, Option(
        "--keep-key-env", help="Pass on SEALER_IDENTITY, SEALER_IDENTITY_FILE, SOPS_AGE_KEY "
                               "and SOPS_AGE_KEY_FILE (removed by default).")] = False,
    allow_override: AllowOverrideOption = False,
    select: SelectOption = None,
    prefix: PrefixOption = "",
    separator: SeparatorOption = "_",
    upper: UpperOption = False,
    allow_env: AllowEnvOption = None,
    file: Annotated[str | None, Option(
        "--file", metavar="FORMAT[:NAME]",
        help="Hand the command a file instead of variables: the secrets rendered as FORMAT "
             "(a render format but template and github: dotenv, json, k8s, files, …) in a "
             "private 0700 directory that is removed when the command exits. Each {} in its "
             "arguments becomes the file's path. NAME: the file's name (default secrets.env, "
             "secrets.json, …).")
    ] = None,
    identity: IdentityOption = None,
) -> int:
    """Run a command with the secrets in its environment, named as in the dotenv format, or
    in a file that is removed when it exits (--file).

    The command replaces sealer (exec), so its exit code and signals reach the caller
    unchanged. Values are never put in its arguments. A secret named like a variable that
    changes how programs run (PATH, LD_PRELOAD, BASH_ENV, …) is refused (exit 2) unless
    --allow-env names it. Exit 127 if the command is not found, 126 if it cannot be run.

    With --file sealer waits for the command instead, passes on the signals sent to it, then
    removes the file and exits as the command did.
    """
    from ..errors import UsageError
    from ..render import exec_command, secret_environment
    from ..render.process import find_command
    from ..render.spec import RenderSpec, check_spec

    command = ctx.meta.get(COMMAND_KEY)
    if not command:
        raise UsageError("no command: give it after --" if command is None else
                         "no command after --", hint="sealer exec FILE... -- CMD [ARGS...]")
    _check_stdin(files, identity)
    names, allowed = _names(prefix, separator, upper), tuple(allow_env or ())
    if file is not None:
        spec = RenderSpec("dotenv", allow_override=allow_override, select=select, names=names,
                          allow_env=allowed)
        _exec_with_file(command, files, file, spec, clean_env=clean_env,
                        keep_key_env=keep_key_env, ids=identities(identity))
    check_spec(RenderSpec("dotenv", names=names, select=select, allow_env=allowed))
    find_command(command[0])  # a typo fails before anything is decrypted
    env = secret_environment(files, identities(identity), names=names,
                             allow_override=allow_override, select=select,
                             base={} if clean_env else None, keep_key_variables=keep_key_env,
                             allow_env=allowed)
    exec_command(command, env)


def _exec_with_file(command: list[str], files: list[Path], option: str, spec: RenderSpec, *,
                    clean_env: bool, keep_key_env: bool, ids: Any) -> NoReturn:
    from ..environ import child_environment
    from ..render.process import (
        check_placeholder,
        exit_as,
        find_command,
        parse_exec_file,
        run_with_file,
    )
    from ..render.spec import check_spec

    chosen = parse_exec_file(option)
    spec = spec._replace(format=chosen.format)
    check_spec(spec)
    check_placeholder(command)
    find_command(command[0])  # mistakes fail before anything is decrypted
    env = child_environment({} if clean_env else None, keep_keys=keep_key_env)
    status = run_with_file(command, files, spec, chosen.name, ids, env=env)
    # SystemExit, not typer.Exit: the code is the command's own (its 130 is not sealer's Ctrl-C)
    raise SystemExit(exit_as(status))
