# Sourced by scripts/run and scripts/test: one .venv for both, installed again only when a requirements file
# changes. requirements-dev.txt includes requirements.txt, so once it is in, scripts/run installs nothing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REQ_FILE=${1:-requirements.txt}
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
digest=$(cat requirements*.txt | sha256sum | cut -c1-16)
stamp=".venv/.installed-$digest-$(basename "$REQ_FILE")"
if [ ! -f "$stamp" ] && [ ! -f ".venv/.installed-$digest-requirements-dev.txt" ]; then
  echo "==> installing $REQ_FILE into .venv"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$REQ_FILE"
  find .venv -maxdepth 1 -name '.installed-*' ! -name ".installed-$digest-*" -delete
  touch "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"
