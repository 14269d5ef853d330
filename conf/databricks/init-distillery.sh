#!/usr/bin/env bash
# Databricks cluster init script for Distillery (runs as root on every node before Spark starts;
# referenced from conf/databricks/cluster.json as a workspace file). Idempotent.
#   - creates the node-local DJL cache (DJL_CACHE_DIR, on /local_disk0), writable only by root, the user
#     Databricks runs Spark as (DISTILLERY_CACHE_OWNER overrides), so no other user can plant a libtorch there;
#   - optionally unpacks a CUDA libtorch from DISTILLERY_LIBTORCH_URL (set it in spark_env_vars) into
#     /local_disk0/distillery/libtorch; then also set spark.executorEnv.PYTORCH_LIBRARY_PATH to
#     /local_disk0/distillery/libtorch/lib and DJL_OFFLINE=true in the cluster's spark_conf;
#   - writes the DJL environment into Spark's spark-env.sh for the driver and executors;
#   - logs the GPUs it sees (Databricks GPU runtimes discover GPUs for Spark themselves).
#   init-distillery.sh [--dry-run] [--help]
set -euo pipefail

PROG="init-distillery.sh"
DRY_RUN=false
case "${1:-}" in
  -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  --dry-run) DRY_RUN=true ;;
  "") ;;
  *) echo "$PROG: unknown option '$1' (see --help)" >&2; exit 2 ;;
esac

BASE="${DISTILLERY_BASE:-/local_disk0/distillery}"
CACHE="${DJL_CACHE_DIR:-$BASE/djl-cache}"
SPARK_ENV="${DISTILLERY_SPARK_ENV:-/databricks/spark/conf/spark-env.sh}"
LIBTORCH_URL="${DISTILLERY_LIBTORCH_URL:-}"
CACHE_OWNER="${DISTILLERY_CACHE_OWNER:-root:root}"

run() {
  if $DRY_RUN; then
    printf '+'; printf ' %q' "$@"; printf '\n'
  else
    "$@"
  fi
}

run mkdir -p "$CACHE"
run chown "$CACHE_OWNER" "$CACHE"
run chmod 0755 "$CACHE"

if [ -n "$LIBTORCH_URL" ]; then
  marker="$BASE/libtorch/.distillery-source"
  if [ -f "$marker" ] && [ "$(cat "$marker")" = "$LIBTORCH_URL" ]; then
    echo "$PROG: libtorch already in $BASE/libtorch" >&2
  else
    run rm -rf "$BASE/libtorch"
    run curl -fsSL --retry 5 -o "$BASE/libtorch.zip" "$LIBTORCH_URL"
    run unzip -q "$BASE/libtorch.zip" -d "$BASE"
    run rm -f "$BASE/libtorch.zip"
    run sh -c 'printf "%s\n" "$1" > "$2"' sh "$LIBTORCH_URL" "$marker"
  fi
fi

BEGIN="# >>> distillery >>>"
if [ -f "$SPARK_ENV" ] && grep -qF "$BEGIN" "$SPARK_ENV"; then
  echo "$PROG: $SPARK_ENV already has the Distillery environment" >&2
else
  block="$BEGIN
export RUST_FLAVOR=cpu
export PYTORCH_VERSION=\${PYTORCH_VERSION:-2.7.1}
export PYTORCH_FLAVOR=\${PYTORCH_FLAVOR:-cu128}
export DJL_CACHE_DIR=$(printf '%q' "$CACHE")
# <<< distillery <<<"
  run mkdir -p "$(dirname "$SPARK_ENV")"
  run sh -c 'printf "%s\n" "$1" >> "$2"' sh "$block" "$SPARK_ENV"
fi

if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader >&2 || true
else
  echo "$PROG: no nvidia-smi on this node (CPU node?)" >&2
fi
