#!/usr/bin/env sh
# Print the path of a Python >= 3.12 interpreter (PATH first, then pyenv's versions), or fail with a clear message.
for candidate in python3.13 python3.12 python3 \
    $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -rV); do
  path=$(command -v "$candidate" 2>/dev/null) || continue
  if "$path" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
    echo "$path"
    exit 0
  fi
done
echo "palaryn-proxy needs Python >= 3.12 (mitmproxy 12 requires it); none found on PATH or in pyenv." >&2
echo "Install one (e.g. 'pyenv install 3.12') or run: make PYTHON=/path/to/python3.12 <target>" >&2
exit 1
