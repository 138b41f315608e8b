#!/usr/bin/env bash
# Build the one-folder bundle from this checkout and smoke-test it: `pepr --version`, a CLI command
# that reads the bundled sample, and the GUI started offscreen until its window is ready.
#   bash packaging/smoke_test.sh          (needs .venv with the project; installs pyinstaller)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
$PY -m pip install --quiet 'pyinstaller>=6.0'
start=$(date +%s)
$PY -m PyInstaller --noconfirm --log-level WARN --distpath dist --workpath build \
    packaging/pepr-desktop.spec
echo "build time: $(( $(date +%s) - start )) s"
BUNDLE=dist/pepr-desktop
echo "bundle size: $(du -sh "$BUNDLE" | cut -f1) ($($PY packaging/torch_build.py))"
export QT_QPA_PLATFORM=offscreen PEPR_DB="$(mktemp -d)/smoke.sqlite"
"$BUNDLE/pepr" --version
"$BUNDLE/pepr" datasets --no-medmnist | grep -q sample
"$BUNDLE/pepr-desktop" --version
"$BUNDLE/pepr-desktop" --smoke
echo "smoke test passed"
