"""`sealer serve DIR`: the AWS Secrets Manager API and Agent routes, from sealed files."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

from .common import IdentityOption, identities
from .declare import Argument, Option, app


@app.command("serve", epilog="""Examples:

  sealer serve secrets/                       # http://127.0.0.1:2773, read-only

  sealer serve secrets/ --socket /run/app/sealer.sock

  sealer serve secrets/ --allow-write         # PutSecretValue, RotateSecret, …

Clients: an AWS SDK with endpoint_url=http://127.0.0.1:2773 and the token as its secret
access key (any access key id); the Agent's routes with the token in the
X-Aws-Parameters-Secrets-Token header:

  curl -H "X-Aws-Parameters-Secrets-Token: $(cat $XDG_RUNTIME_DIR/sealer/serve.token)" \\
       'http://127.0.0.1:2773/secretsmanager/get?secretId=prod/db'

docs/SERVE.md has the names, the operations and the security model.
""")
def serve(
    root: Annotated[Path, Argument(metavar="DIR",
                                         help="The directory of sealed files to serve: "
                                              "DIR/prod/db.sealed.yaml is the secret prod/db.")
                    ] = Path(),
    host: Annotated[str, Option("--host", help="Address to listen on (loopback unless "
                                                     "--allow-remote).")] = "127.0.0.1",
    port: Annotated[int, Option("--port", "-p", help="TCP port (0: any free port).")
                    ] = 2773,
    unix_socket: Annotated[Path | None, Option(
        "--socket", metavar="PATH", help="Listen on this unix socket (0600) instead of TCP.")
    ] = None,
    token_file: Annotated[Path | None, Option(
        "--token-file", metavar="FILE",
        help="The token clients must present; made (random, 0600) if missing. Default: "
             "$SEALER_SERVE_TOKEN, else $XDG_RUNTIME_DIR/sealer/serve.token.")] = None,
    allow_write: Annotated[bool, Option(
        "--allow-write", help="Answer PutSecretValue, UpdateSecretVersionStage and "
                              "RotateSecret (through the write gate: signing where "
                              "required).")] = False,
    allow_remote: Annotated[bool, Option(
        "--allow-remote", help="Listen on a non-loopback address (plain HTTP).")] = False,
    region: Annotated[str | None, Option(
        "--region", help="The region in ARNs (default: $AWS_REGION, "
                         "$AWS_DEFAULT_REGION, us-east-1).")] = None,
    account: Annotated[str, Option("--account", help="The account id in ARNs.")
                       ] = "000000000000",
    reload_interval: Annotated[float, Option(
        "--reload-interval", metavar="SECONDS",
        help="How often to look for changed files (SIGHUP reloads at once).")] = 2.0,
    verbose: Annotated[bool, Option("--verbose", "-v", help="Log every request "
                                                                  "(never a value).")] = False,
    identity: IdentityOption = None,
) -> None:
    """Serve sealed files as AWS Secrets Manager (and its Agent) does, so applications
    written for the AWS SDK read them unchanged.

    Each file is opened once through the read gate and kept decrypted in memory only; every
    value handed out is an audit entry. A change of the files or SIGHUP reloads them (a file
    that fails keeps the previous set). Loopback or a unix socket only, a token on every
    request, requests through a proxy refused.
    """
    from ..errors import UsageError
    from ..serve import ServeOptions, load_token
    from ..serve import serve as run

    if not root.is_dir():
        raise UsageError("not a directory", file=str(root),
                         hint="give the directory that holds the sealed files")
    if not 0 <= port <= 65535:
        raise UsageError("--port must be from 0 to 65535")
    if not 0.1 <= reload_interval <= 3600:
        raise UsageError("--reload-interval must be from 0.1 to 3600 seconds")
    if not (account.isdigit() and len(account) == 12):
        raise UsageError("--account must be 12 digits, as an AWS account id")
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") \
        or "us-east-1"
    token, where = load_token(token_file)
    options = ServeOptions(root=root, host=host, port=port, unix_socket=unix_socket,
                           allow_write=allow_write, allow_remote=allow_remote, region=region,
                           account=account, reload_interval=reload_interval, verbose=verbose)
    sys.stderr.write(f"sealer serve: token in {where}\n")
    run(options, token, identities(identity))
