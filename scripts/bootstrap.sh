# Sourced by scripts/serve and scripts/test: a project virtualenv in .venv with the given extras.
# Usage: bootstrap_venv EXTRAS   (e.g. "server" or "dev")
bootstrap_venv() {
  local extras="$1"
  as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  if [ ! -x .venv/bin/python ]; then
    if ! python3 -m venv .venv 2>/dev/null; then
      # Debian ships venv separately.
      as_root apt-get update -qq && as_root apt-get install -y -qq python3-venv
      rm -rf .venv && python3 -m venv .venv
    fi
  fi
  .venv/bin/python -m pip install -q --upgrade 'pip>=23' 2>&1 | grep -v WARNING || true
  .venv/bin/python -m pip install -q -e ".[${extras}]" 2>&1 | grep -v WARNING || true
  .venv/bin/python -c "import yotel" || { echo "install failed" >&2; exit 1; }
}
