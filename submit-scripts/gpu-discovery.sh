#!/usr/bin/env bash
# Spark GPU discovery script (spark.executor.resource.gpu.discoveryScript): prints the GPUs this
# executor may use as Spark resource JSON, e.g. {"name": "gpu", "addresses": ["0","1"]}.
#
# Addresses are CUDA device ordinals as the executor process sees them, which is what DJL's
# Device.gpu(N) takes: with CUDA_VISIBLE_DEVICES set (indices or GPU-UUIDs), the visible devices are
# renumbered 0..k-1 in the order listed, and listing stops at the first entry that names no GPU
# (as CUDA does). CUDA_VISIBLE_DEVICES set but empty means no GPU. Without nvidia-smi, or when it
# fails (no driver), the list is empty. Exit status 0 in every case.
#   gpu-discovery.sh [--help]
set -euo pipefail

if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi

emit() { # emit ADDRESS...
  local out="" a
  for a in "$@"; do
    out+="${out:+,}\"$a\""
  done
  printf '{"name": "gpu", "addresses": [%s]}\n' "$out"
}

NVIDIA_SMI="${NVIDIA_SMI:-nvidia-smi}"
if ! command -v "$NVIDIA_SMI" >/dev/null 2>&1; then
  emit
  exit 0
fi
if ! listing="$("$NVIDIA_SMI" --query-gpu=index,uuid --format=csv,noheader 2>/dev/null)"; then
  emit
  exit 0
fi

indices=()
uuids=()
while IFS=, read -r index uuid; do
  index="${index//[[:space:]]/}"
  uuid="${uuid//[[:space:]]/}"
  [[ "$index" =~ ^[0-9]+$ ]] || continue
  indices+=("$index")
  uuids+=("$uuid")
done <<<"$listing"

if [ -z "${CUDA_VISIBLE_DEVICES+x}" ]; then
  emit ${indices[@]+"${indices[@]}"}
  exit 0
fi

visible=0
IFS=, read -r -a wanted <<<"${CUDA_VISIBLE_DEVICES}"
for entry in ${wanted[@]+"${wanted[@]}"}; do
  entry="${entry//[[:space:]]/}"
  found=false
  for i in "${!indices[@]}"; do
    if [ "$entry" = "${indices[$i]}" ] || { [ -n "$entry" ] && [[ "${uuids[$i]}" == "$entry"* ]] && [[ "$entry" == GPU-* || "$entry" == MIG-* ]]; }; then
      found=true
      break
    fi
  done
  $found || break
  visible=$((visible + 1))
done

addresses=()
for ((n = 0; n < visible; n++)); do addresses+=("$n"); done
emit ${addresses[@]+"${addresses[@]}"}
