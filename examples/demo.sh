#!/bin/sh
# The quick start, end to end on examples/: seal the example secrets, inspect the sealed file
# without any key, change one value, and read values back with the DEMO key.
# Works on a copy in a temporary directory; the repository is not modified.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
cp "$here/app.yaml" "$here/sealer.yaml" "$work/"
cd "$work"

# DEMO KEY: published in this repository, anyone can read it. Never seal real secrets for it.
# git checks files out 0644, and sealer (like ssh) refuses a private key others can read: use a
# private copy.
cp "$here/demo.agekey" "$work/demo.agekey"
chmod 600 "$work/demo.agekey"
export SEALER_IDENTITY_FILE="$work/demo.agekey"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "seal: keys stay readable, every value encrypted for the recipients sealer.yaml names"
sealer seal app.yaml
head -n 12 app.sealed.yaml

step "show: structure, types and recipients, no key needed"
sealer show app.sealed.yaml

step "check: schema and policy (who may decrypt, names, rotation age), no key needed"
sealer check .

step "get: one value, raw, for scripts"
sealer get app.sealed.yaml database.password
echo

step "set: change one value; only its ciphertext changes"
cp app.sealed.yaml before.sealed.yaml
printf 'n3w-passw0rd' | sealer set app.sealed.yaml database.password
diff before.sealed.yaml app.sealed.yaml || true

step "unseal: the whole document, with types kept (0123 and no stay strings)"
sealer unseal app.sealed.yaml

step "done"
echo "Sealed file and plaintext lived in $work, now removed."
