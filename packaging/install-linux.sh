#!/usr/bin/env bash
# Install PePR Desktop for the current user: a venv under ~/.local/share/pepr-desktop/venv, the
# `pepr` and `pepr-desktop` commands in ~/.local/bin, the menu entry, icons and AppStream metadata.
#   bash packaging/install-linux.sh            # install
#   bash packaging/install-linux.sh --uninstall
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
DATA="${XDG_DATA_HOME:-$HOME/.local/share}"
BIN="$HOME/.local/bin"
VENV="$DATA/pepr-desktop/venv"
APP_ID=io.github.pepr_desktop.PeprDesktop

if [[ "${1:-}" == "--uninstall" ]]; then
    rm -rf "$VENV" "$BIN/pepr" "$BIN/pepr-desktop" "$DATA/applications/pepr-desktop.desktop" \
        "$DATA/metainfo/$APP_ID.metainfo.xml"
    find "$DATA/icons/hicolor" -name 'pepr-desktop.*' -delete 2>/dev/null || true
    echo "PePR Desktop removed (your runs database in $DATA/pepr-desktop is kept)."
    exit 0
fi

python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet "$ROOT"
mkdir -p "$BIN" "$DATA/applications" "$DATA/metainfo"
ln -sf "$VENV/bin/pepr" "$BIN/pepr"
ln -sf "$VENV/bin/pepr-desktop" "$BIN/pepr-desktop"
sed "s|^Exec=pepr-desktop|Exec=$BIN/pepr-desktop|" "$HERE/pepr-desktop.desktop" \
    > "$DATA/applications/pepr-desktop.desktop"
cp "$HERE/$APP_ID.metainfo.xml" "$DATA/metainfo/"
for png in "$HERE"/icons/pepr-desktop-*.png; do
    size="$(basename "$png" .png)"; size="${size##*-}"
    mkdir -p "$DATA/icons/hicolor/${size}x${size}/apps"
    cp "$png" "$DATA/icons/hicolor/${size}x${size}/apps/pepr-desktop.png"
done
mkdir -p "$DATA/icons/hicolor/scalable/apps"
cp "$HERE/icons/pepr-desktop.svg" "$DATA/icons/hicolor/scalable/apps/pepr-desktop.svg"
command -v update-desktop-database >/dev/null && update-desktop-database "$DATA/applications" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q "$DATA/icons/hicolor" || true
echo "installed: $BIN/pepr, $BIN/pepr-desktop and the menu entry 'PePR Desktop'"
