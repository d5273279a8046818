#!/usr/bin/env bash
# Sets up Transfer Lens on a fresh Debian/Ubuntu machine. Safe and fast to re-run.
#   scripts/setup.sh            runtime: virtualenv + requirements + Fashion-MNIST files
#   scripts/setup.sh --dev      also test tools and Chromium for the browser test
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=0
[ "${1:-}" = "--dev" ] && DEV=1
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

# --- Debian packages: Fashion-MNIST's IDX files (offline default), Chromium for browser tests ---
apt_packages=()
[ -d /usr/share/datasets/fashion-mnist ] || apt_packages+=(dataset-fashion-mnist)
if [ "$DEV" = 1 ] && [ ! -x /usr/bin/chromium ]; then apt_packages+=(chromium); fi
if [ ${#apt_packages[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    say "skipping ${apt_packages[*]}: no apt-get here (the app falls back to digits; the browser test is skipped)"
  else
    SUDO=""
    if [ "$(id -u)" != 0 ]; then
      if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO=""; fi
    fi
    if [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; then
      say "installing Debian packages: ${apt_packages[*]}"
      $SUDO apt-get update -qq >/dev/null || say "apt-get update failed; trying the install anyway"
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        "${apt_packages[@]}" >/dev/null \
        || say "could not install ${apt_packages[*]} (the app falls back to digits without Fashion-MNIST)"
    else
      say "skipping ${apt_packages[*]}: not root and no passwordless sudo. Run: sudo apt-get install ${apt_packages[*]}"
    fi
  fi
fi

# --- Python virtual environment ---
if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtual environment $VENV with $($PYTHON --version 2>&1)"
  "$PYTHON" -m venv "$VENV"
fi
reqs=(requirements.txt)
[ "$DEV" = 1 ] && reqs+=(requirements-dev.txt)
# One stamp per set of requirement files, named by their hash. The dev set includes the
# runtime one, so installing it stamps both: `make run` after `make test` installs nothing.
runtime_stamp="$VENV/.installed-$(cat requirements.txt | sha1sum | cut -c1-12)"
stamp="$runtime_stamp"
[ "$DEV" = 1 ] && stamp="$VENV/.installed-dev-$(cat "${reqs[@]}" | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  if ls "$VENV"/.installed-* >/dev/null 2>&1; then  # an earlier set was installed here
    say "the requirement files changed since the last install: updating the packages"
  else
    say "installing Python packages from ${reqs[*]} (first time: a few minutes, about 2.5 GB)"
  fi
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  args=()
  for r in "${reqs[@]}"; do args+=(-r "$r"); done
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${args[@]}"
  touch "$stamp" "$runtime_stamp"
else
  say "Python packages already installed ($stamp)"
fi
