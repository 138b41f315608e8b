#!/usr/bin/env bash
# Install PePR Desktop for the current user: a venv under ~/.local/share/pepr-desktop/venv, the
# `pepr` and `pepr-desktop` commands in ~/.local/bin, the menu entry, icons and AppStream metadata.
#   bash packaging/install-linux.sh            # install; PyTorch's CPU-only build unless an
#                                              # NVIDIA GPU is found (nvidia-smi, /proc/driver/nvidia)
#   bash packaging/install-linux.sh --cpu      # the CPU-only build (~0.8 GB instead of ~5.5 GB)
#   bash packaging/install-linux.sh --gpu      # PyPI's CUDA build
#   bash packaging/install-linux.sh --dry-run  # print the build chosen and the pip commands only
#   bash packaging/install-linux.sh --uninstall
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
DATA="${XDG_DATA_HOME:-$HOME/.local/share}"
BIN="$HOME/.local/bin"
VENV="$DATA/pepr-desktop/venv"
APP_ID=io.github.pepr_desktop.PeprDesktop
TORCH_INDEX="${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"
# how an NVIDIA GPU is found (overridable for the tests)
NVIDIA_PROC="${PEPR_NVIDIA_PROC:-/proc/driver/nvidia}"
NVIDIA_SMI="${PEPR_NVIDIA_SMI:-nvidia-smi}"

torch=auto dry=0 uninstall=0
for arg in "$@"; do
    case "$arg" in
        --cpu) torch=cpu ;;
        --gpu) torch=gpu ;;
        --dry-run) dry=1 ;;
        --uninstall) uninstall=1 ;;
        *) echo "unknown option $arg (use --cpu, --gpu, --dry-run or --uninstall)" >&2; exit 2 ;;
    esac
done

has_nvidia_gpu() {
    [[ -e "$NVIDIA_PROC/version" ]] || { command -v "$NVIDIA_SMI" >/dev/null && "$NVIDIA_SMI" -L >/dev/null 2>&1; }
}

run() {
    if (( dry )); then echo "+ $*"; else "$@"; fi
}

if (( uninstall )); then
    (( dry )) && { echo "+ would remove $VENV, $BIN/pepr{,-desktop}, the menu entry and icons"; exit 0; }
    rm -rf "$VENV" "$BIN/pepr" "$BIN/pepr-desktop" "$DATA/applications/pepr-desktop.desktop" \
        "$DATA/metainfo/$APP_ID.metainfo.xml"
    find "$DATA/icons/hicolor" -name 'pepr-desktop.*' -delete 2>/dev/null || true
    echo "PePR Desktop removed (your runs database in $DATA/pepr-desktop is kept)."
    exit 0
fi

if [[ "$torch" == auto ]]; then
    if has_nvidia_gpu; then torch=gpu; else torch=cpu; fi
    echo "PyTorch build: $torch (an NVIDIA GPU was $([[ $torch == gpu ]] || echo "not ")found; --cpu/--gpu to choose)"
fi

run python3 -m venv --clear "$VENV"  # --clear: no CUDA libraries left from an earlier install
if [[ "$torch" == cpu ]]; then
    # First, so that the app's `torch` requirement is already met by the CPU-only build.
    run "$VENV/bin/pip" install --quiet torch torchvision --index-url "$TORCH_INDEX" ||
        echo "warning: $TORCH_INDEX could not be reached: installing PyPI's (larger) build" >&2
fi
run "$VENV/bin/pip" install --quiet "$ROOT"
if (( dry )); then echo "(dry run: nothing installed)"; exit 0; fi
"$VENV/bin/python" "$HERE/torch_build.py" --expect "$([[ $torch == cpu ]] && echo cpu || echo any)"
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
