#!/usr/bin/env bash
# Node bootstrap for Distillery (an EMR bootstrap action, or any node init): runs on every node,
# before Spark starts, and may run again (idempotent: what is already in place is left alone).
#   - installs the GPU discovery script as PREFIX/bin/gpu-discovery.sh (from a local file or s3://);
#   - creates the node-local DJL cache and S3A buffer directories;
#   - optionally downloads and unpacks a CUDA libtorch (--libtorch-url) into PREFIX/libtorch, for
#     nodes without internet access (then submit with --libtorch-path PREFIX/libtorch/lib);
#   - writes the DJL environment to a profile file (default /etc/profile.d/distillery.sh).
# Run with --help for the options.
set -euo pipefail

PROG="bootstrap-node.sh"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() {
  cat <<EOF2
usage: $PROG [options]

  --prefix DIR             install directory (default: /opt/distillery)
  --discovery-script SRC   gpu-discovery.sh to install: a local path or an s3:// URI
                           (default: $HERE/gpu-discovery.sh when present)
  --libtorch-url URL       zip of a CUDA libtorch to unpack into PREFIX/libtorch (default: none; DJL then
                           downloads its own build into the DJL cache on first use), e.g.
                           https://download.pytorch.org/libtorch/cu128/libtorch-cxx11-abi-shared-with-deps-2.7.1%2Bcu128.zip
  --djl-cache-dir DIR      DJL cache directory (default: /mnt/distillery/djl-cache)
  --s3a-buffer-dir DIR     S3A upload buffer directory (default: /mnt/distillery/s3a)
  --pytorch-flavor F       PYTORCH_FLAVOR written to the profile (default: cu128)
  --pytorch-version V      PYTORCH_VERSION written to the profile (default: 2.7.1)
  --profile-file FILE      where the environment is written (default: /etc/profile.d/distillery.sh)
  --cache-owner USER:GROUP owner of the DJL cache and S3A buffer directories, the user Spark's executors run as
                           (default: yarn:hadoop where a 'yarn' user exists, as on EMR; else the calling user);
                           only that user and group can write there (mode 2770), so no other local user can
                           plant a libtorch that executors would load
  --dry-run                print what would be done and change nothing
  -h, --help               this help

Uses sudo for the changes when not run as root (EMR runs bootstrap actions as the hadoop user).
No credentials are read or written here: s3:// downloads use the node's instance role.
EOF2
}

fail() { echo "$PROG: $*" >&2; exit 2; }

PREFIX=/opt/distillery
DISCOVERY=""
LIBTORCH_URL=""
DJL_CACHE=/mnt/distillery/djl-cache
S3A_BUFFER=/mnt/distillery/s3a
FLAVOR=cu128
TORCH_VERSION=2.7.1
PROFILE_FILE=/etc/profile.d/distillery.sh
CACHE_OWNER=""
DRY_RUN=false

while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --prefix|--discovery-script|--libtorch-url|--djl-cache-dir|--s3a-buffer-dir|--pytorch-flavor|--pytorch-version|--profile-file|--cache-owner)
      [ $# -ge 2 ] || fail "option $1 needs a value"
      case "$1" in
        --prefix) PREFIX="$2" ;;
        --discovery-script) DISCOVERY="$2" ;;
        --libtorch-url) LIBTORCH_URL="$2" ;;
        --djl-cache-dir) DJL_CACHE="$2" ;;
        --s3a-buffer-dir) S3A_BUFFER="$2" ;;
        --pytorch-flavor) FLAVOR="$2" ;;
        --pytorch-version) TORCH_VERSION="$2" ;;
        --profile-file) PROFILE_FILE="$2" ;;
        --cache-owner) CACHE_OWNER="$2" ;;
      esac
      shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    *) fail "unknown option '$1' (see --help)" ;;
  esac
done

if [ -z "$DISCOVERY" ] && [ -f "$HERE/gpu-discovery.sh" ]; then
  DISCOVERY="$HERE/gpu-discovery.sh"
fi
[ -n "$DISCOVERY" ] || fail "no gpu-discovery.sh next to this script: pass --discovery-script PATH|s3://..."

SUDO=()
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
fi

# run CMD...: prints the step; runs it unless --dry-run.
run() {
  if $DRY_RUN; then
    printf '+'
    printf ' %q' "$@"
    printf '\n'
  else
    ${SUDO[@]+"${SUDO[@]}"} "$@"
  fi
}
say() { echo "$PROG: $*" >&2; }

# 1. directories
run mkdir -p "$PREFIX/bin"
if [ -z "$CACHE_OWNER" ]; then
  if id yarn >/dev/null 2>&1; then CACHE_OWNER="yarn:hadoop"; else CACHE_OWNER="$(id -un):$(id -gn)"; fi
fi
[[ "$CACHE_OWNER" =~ ^[a-z_][a-z0-9_.-]*(:[a-z_][a-z0-9_.-]*)?$ ]] \
  || fail "--cache-owner must be USER or USER:GROUP, got '$CACHE_OWNER'"
run mkdir -p "$DJL_CACHE" "$S3A_BUFFER"
run chown "$CACHE_OWNER" "$DJL_CACHE" "$S3A_BUFFER"
run chmod 2770 "$DJL_CACHE" "$S3A_BUFFER"

# 2. the GPU discovery script
TARGET="$PREFIX/bin/gpu-discovery.sh"
if [[ "$DISCOVERY" == s3://* || "$DISCOVERY" == s3a://* ]]; then
  run aws s3 cp "${DISCOVERY/#s3a:/s3:}" "$TARGET.download"
  run install -m 0755 "$TARGET.download" "$TARGET"
  run rm -f "$TARGET.download"
else
  [ -f "$DISCOVERY" ] || fail "discovery script not found: $DISCOVERY"
  if [ -f "$TARGET" ] && cmp -s "$DISCOVERY" "$TARGET"; then
    say "$TARGET is up to date"
  else
    run install -m 0755 "$DISCOVERY" "$TARGET"
  fi
fi

# 3. optional libtorch (CUDA) download
LIBTORCH_DIR="$PREFIX/libtorch"
if [ -n "$LIBTORCH_URL" ]; then
  MARKER="$LIBTORCH_DIR/.distillery-source"
  if [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$LIBTORCH_URL" ]; then
    say "libtorch from $LIBTORCH_URL is already in $LIBTORCH_DIR"
  else
    run rm -rf "$LIBTORCH_DIR" "$PREFIX/libtorch.zip"
    if [[ "$LIBTORCH_URL" == s3://* ]]; then
      run aws s3 cp "$LIBTORCH_URL" "$PREFIX/libtorch.zip"
    else
      run curl -fsSL --retry 5 -o "$PREFIX/libtorch.zip" "$LIBTORCH_URL"
    fi
    run unzip -q "$PREFIX/libtorch.zip" -d "$PREFIX"
    run rm -f "$PREFIX/libtorch.zip"
    run sh -c 'printf "%s\n" "$1" > "$2"' sh "$LIBTORCH_URL" "$MARKER"
  fi
fi

# 4. the environment for shells and services started on this node
# Values are shell-quoted, so a path with spaces or shell characters cannot run code in every login shell.
export_line() { printf 'export %s=%q\n' "$1" "$2"; }
PROFILE_TEXT="# Written by Distillery's $PROG; rewritten on every run.
$(export_line PYTORCH_VERSION "$TORCH_VERSION")
$(export_line PYTORCH_FLAVOR "$FLAVOR")
$(export_line DJL_CACHE_DIR "$DJL_CACHE")
export RUST_FLAVOR=cpu"
if [ -n "$LIBTORCH_URL" ]; then
  PROFILE_TEXT+="
$(export_line PYTORCH_LIBRARY_PATH "$LIBTORCH_DIR/lib")
export DJL_OFFLINE=true"
fi
if [ -f "$PROFILE_FILE" ] && [ "$(cat "$PROFILE_FILE")" = "$PROFILE_TEXT" ]; then
  say "$PROFILE_FILE is up to date"
else
  run mkdir -p "$(dirname "$PROFILE_FILE")"
  run sh -c 'printf "%s\n" "$1" > "$2"' sh "$PROFILE_TEXT" "$PROFILE_FILE"
fi

if $DRY_RUN; then
  say "dry run: nothing was changed"
else
  say "done: $TARGET, $DJL_CACHE, $PROFILE_FILE"
fi
