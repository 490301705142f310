# Sourced by scripts/run and scripts/test: make .venv and install the pinned requirements when they change.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REQ_FILE=${1:-requirements.txt}
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$(cat requirements*.txt | sha256sum | cut -c1-16)-$(basename "$REQ_FILE")"
if [ ! -f "$stamp" ]; then
  echo "==> installing $REQ_FILE into .venv"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$REQ_FILE"
  rm -f .venv/.installed-* && touch "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"
