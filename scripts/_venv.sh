# Shared by scripts/demo and scripts/test: make .venv with Python 3.11 if missing and
# install the project with the given extras, again only when pyproject.toml changed.
# Usage: ensure_venv EXTRAS   (EXTRAS: "" for the runtime only, or e.g. "dev,bench,eval")

ensure_venv() {
    local extras="$1"
    local spec="."
    [ -n "$extras" ] && spec=".[${extras}]"
    if [ ! -x .venv/bin/python ]; then
        echo "==> creating .venv (python3.11)"
        python3.11 -m venv .venv
        .venv/bin/python -m pip install --quiet --upgrade pip
    fi
    local stamp=".venv/.hrmon-installed-${extras:-runtime}"
    local want
    want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        echo "==> installing hrmon (${spec}) into .venv"
        .venv/bin/python -m pip install --quiet -e "$spec"
        echo "$want" >"$stamp"
    fi
}
