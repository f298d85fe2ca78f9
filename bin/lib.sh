# Shared by bin/demo and bin/test: a virtualenv in .venv with Jifen installed.
# shellcheck shell=bash

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
    as_root apt-get install -y "$@" || { as_root apt-get update && as_root apt-get install -y "$@"; }
}

ensure_venv() {
    local extras=$1
    local python=${PYTHON:-python3}
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
        echo "Jifen needs Python 3.11 or newer ($python is $("$python" --version 2>&1))." >&2
        exit 1
    }
    if [ ! -x .venv/bin/python ]; then
        "$python" -m venv .venv 2>/dev/null || {
            rm -rf .venv
            apt_install python3-venv
            "$python" -m venv .venv
        }
    fi
    # Install again only when what is installed changed: a second start goes
    # straight to the app (and its sign-in guide) instead of pip's output.
    local stamp=".venv/.installed-${extras//[^a-z]/_}"
    local wanted
    wanted=$(cat setup.cfg pyproject.toml | sha256sum | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
        return
    fi
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e "$extras"
    echo "$wanted" > "$stamp"
}
