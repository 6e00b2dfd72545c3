#!/usr/bin/env bash
# Set up keymanager on a Debian/Ubuntu machine and run it, or run its whole test suite.
#
#   ./dev.sh app [ARGS...]   install what is missing, then start keymanager
#   ./dev.sh test [PYTEST ARGS...]
#                            install what is missing, then run ruff, mypy and pytest
#
# Idempotent: system packages are installed only when missing, and the virtual
# environment (.venv) is rebuilt only when pyproject.toml, setup.py or the C
# accelerator changed.  Needs root or sudo the first time only.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

apt_packages=(
    # build pyscard and the optional C accelerator
    gcc python3-dev python3-venv swig libpcsclite-dev
    # the real PC/SC stack, the virtual reader and OpenSC's tools for interop tests
    pcscd libpcsclite1 vsmartcard-vpcd opensc
    # validators for the desktop file and the AppStream metainfo
    appstream desktop-file-utils
    # Qt's offscreen and xcb platforms (Qt >= 6.5's xcb plugin needs the xcb-cursor,
    # icccm, keysyms, image, render-util, shape, xkb, randr and xinerama libraries)
    libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libglib2.0-0
    libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
    libxcb-shape0 libxcb-xkb1 libxcb-randr0 libxcb-xinerama0
    # a real X server for the tests that open dialogs in xcb windows (tests/gui_xcb)
    xvfb
)

install_system_packages() {
    local missing=() pkg
    for pkg in "${apt_packages[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "dev.sh: installing system packages: ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

venv=.venv
install_python_packages() {
    local stamp want
    want=$(cat pyproject.toml setup.py keymanager/dkek/_md5chain.c | sha256sum | cut -d' ' -f1)
    stamp="$venv/.keymanager-installed"
    if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    echo "dev.sh: installing keymanager into $venv" >&2
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q -e '.[test]'
    echo "$want" >"$stamp"
}

install_system_packages
install_python_packages

command="${1:-app}"
[ $# -gt 0 ] && shift
case "$command" in
    app)
        # The desktop app; with no arguments it opens on a demo simulated card
        # (~/.local/state/keymanager/demo-card.json) with key domains, keys and
        # certificates.  Without a display it renders the window to a PNG instead and
        # shows the same card with the command-line tool.
        if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ] && [ $# -eq 0 ]; then
            shot="${TMPDIR:-/tmp}/keymanager-demo.png"
            "$venv/bin/keymanager" --screenshot "$shot"
            echo "dev.sh: no display; the main window was rendered to $shot" >&2
            export KEYMANAGER_DEMO_PIN=648219  # the demo card's published PIN, not a secret
            state="${XDG_STATE_HOME:-$HOME/.local/state}/keymanager/demo-card.json"
            exec "$venv/bin/keymanager-cli" status --simulator "$state" --pin-env KEYMANAGER_DEMO_PIN
        fi
        exec "$venv/bin/keymanager" "$@"
        ;;
    test)
        "$venv/bin/ruff" check keymanager tests benchmarks
        "$venv/bin/ruff" format --check keymanager tests benchmarks
        "$venv/bin/mypy" keymanager
        exec "$venv/bin/python" -m pytest "$@"
        ;;
    *)
        echo "usage: $0 app [ARGS...] | test [PYTEST ARGS...]" >&2
        exit 2
        ;;
esac
