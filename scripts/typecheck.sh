#!/usr/bin/env bash
# Type-check palaryn_proxy with addons/ and policy-packs/ mapped in as they are installed (palaryn_proxy.addons,
# palaryn_proxy.policy_packs). mypy cannot follow the editable install's import hook and, run from the repo root,
# skips the mapped folders, so it runs on a throw-away tree of symlinks that has the installed layout.
# Extra arguments go to mypy. Paths in its output are mapped back to the repo's.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
case $VENV in /*) ;; *) VENV=$ROOT/$VENV ;; esac
TREE=$(mktemp -d)
trap 'rm -rf "$TREE"' EXIT
mkdir "$TREE/palaryn_proxy"
for entry in "$ROOT"/palaryn_proxy/*; do
  case ${entry##*/} in __pycache__) continue ;; esac
  ln -s "$entry" "$TREE/palaryn_proxy/"
done
ln -s "$ROOT/addons" "$TREE/palaryn_proxy/addons"
ln -s "$ROOT/policy-packs" "$TREE/palaryn_proxy/policy_packs"
cd "$TREE"
"$VENV/bin/mypy" --config-file "$ROOT/pyproject.toml" --cache-dir "$ROOT/.mypy_cache" \
  --python-executable "$VENV/bin/python" -p palaryn_proxy "$@" \
  | sed -e 's#^palaryn_proxy/addons/#addons/#' -e 's#^palaryn_proxy/policy_packs/#policy-packs/#'
