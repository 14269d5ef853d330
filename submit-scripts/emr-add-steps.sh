#!/usr/bin/env bash
# Adds Distillery steps to a running EMR cluster: one 'pipeline' step, or one step per stage.
# Each step is a Spark step (spark-submit in YARN cluster deploy mode) whose arguments come from
# spark-submit-distillery, so EMR runs exactly what the wrapper would run. Run with --help.
set -euo pipefail

PROG="emr-add-steps.sh"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WRAPPER="$HERE/spark-submit-distillery"
DEFAULT_STAGES="tokenize,teacher-training,calibrate,plan,prune,distill,evaluate"

usage() {
  cat <<EOF2
usage: $PROG --cluster-id ID --jar S3-URI (--config S3-URI | --mode stages --config-prefix S3-URI) [options]

  --cluster-id ID          EMR cluster (j-XXXXXXXXXXXXX)
  --jar URI                the application jar on S3 (distillery-jobs-*-spark.jar, uploaded by you)
  --mode M                 pipeline (default): one step running 'pipeline --config CONFIG';
                           stages: one step per stage, in order, each 'COMMAND --config PREFIX/STAGE.yaml'
  --config URI             the pipeline YAML on S3 (mode pipeline)
  --config-prefix URI      where the per-stage YAML files are (mode stages), e.g. s3://YOUR-BUCKET/conf/4b-width
  --stages LIST            stages for mode stages (default: $DEFAULT_STAGES);
                           teacher-training runs the distill command
  --executors N            executors = distill world-size (default: 4)
  --gpus-per-executor G    GPUs per executor (default: 8)
  --action-on-failure A    CANCEL_AND_WAIT (default), CONTINUE or TERMINATE_CLUSTER
  --region R               AWS region for the aws CLI (default: its own configuration)
  --conf KEY=VALUE         extra Spark setting for every step (repeatable)
  --dry-run                print the aws command and the steps JSON, run nothing (no aws CLI needed)
  -h, --help               this help

Credentials: the aws CLI's own chain (environment, profile, instance role); nothing is stored here.
EOF2
}

fail() { echo "$PROG: $*" >&2; exit 2; }

CLUSTER_ID=""
JAR=""
MODE=pipeline
CONFIG=""
CONFIG_PREFIX=""
STAGES="$DEFAULT_STAGES"
EXECUTORS=4
GPUS=8
ON_FAILURE=CANCEL_AND_WAIT
REGION=""
DRY_RUN=false
EXTRA=()

while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --dry-run) DRY_RUN=true; shift ;;
    --cluster-id|--jar|--mode|--config|--config-prefix|--stages|--executors|--gpus-per-executor|--action-on-failure|--region|--conf)
      [ $# -ge 2 ] || fail "option $1 needs a value"
      case "$1" in
        --cluster-id) CLUSTER_ID="$2" ;;
        --jar) JAR="$2" ;;
        --mode) MODE="$2" ;;
        --config) CONFIG="$2" ;;
        --config-prefix) CONFIG_PREFIX="${2%/}" ;;
        --stages) STAGES="$2" ;;
        --executors) EXECUTORS="$2" ;;
        --gpus-per-executor) GPUS="$2" ;;
        --action-on-failure) ON_FAILURE="$2" ;;
        --region) REGION="$2" ;;
        --conf) EXTRA+=(--conf "$2") ;;
      esac
      shift 2 ;;
    *) fail "unknown option '$1' (see --help)" ;;
  esac
done

[ -n "$CLUSTER_ID" ] || fail "missing --cluster-id"
[ -n "$JAR" ] || fail "missing --jar (the application jar on S3)"
[[ "$JAR" == s3://* || "$JAR" == s3a://* ]] || fail "--jar must be an S3 URI, got '$JAR'"
case "$ON_FAILURE" in CANCEL_AND_WAIT|CONTINUE|TERMINATE_CLUSTER) ;; *) fail "unknown --action-on-failure '$ON_FAILURE'" ;; esac
case "$MODE" in
  pipeline) [ -n "$CONFIG" ] || fail "missing --config (the pipeline YAML on S3)" ;;
  stages) [ -n "$CONFIG_PREFIX" ] || fail "missing --config-prefix (mode stages)" ;;
  *) fail "--mode must be pipeline or stages, got '$MODE'" ;;
esac
[ -x "$WRAPPER" ] || fail "spark-submit-distillery not found next to this script"

json_string() { # JSON string literal of $1
  local s="$1"
  s="${s//\\/\\\\}"
  s="${s//\"/\\\"}"
  printf '"%s"' "$s"
}

# step NAME COMMAND CONFIG-URI: one Spark step object
step() {
  local name="$1" command="$2" config="$3" args first=true arg out
  args="$("$WRAPPER" --master yarn --deploy-mode cluster --executors "$EXECUTORS" --gpus-per-executor "$GPUS" \
    --s3 --jar "$JAR" --name "distillery-$name" ${EXTRA[@]+"${EXTRA[@]}"} --print-args "$command" --config "$config")"
  out="    {\"Type\": \"Spark\", \"Name\": $(json_string "distillery $name"), \"ActionOnFailure\": \"$ON_FAILURE\", \"Args\": ["
  while IFS= read -r arg; do
    $first || out+=", "
    first=false
    out+="$(json_string "$arg")"
  done <<<"$args"
  out+="]}"
  printf '%s' "$out"
}

STEPS="["
if [ "$MODE" = pipeline ]; then
  STEPS+=$'\n'"$(step pipeline pipeline "$CONFIG")"
else
  IFS=, read -r -a stage_list <<<"$STAGES"
  [ ${#stage_list[@]} -gt 0 ] || fail "--stages is empty"
  sep=""
  for stage in "${stage_list[@]}"; do
    command="$stage"
    [ "$stage" = teacher-training ] && command=distill
    STEPS+="$sep"$'\n'"$(step "$stage" "$command" "$CONFIG_PREFIX/$stage.yaml")"
    sep=","
  done
fi
STEPS+=$'\n'"]"

AWS=(aws emr add-steps --cluster-id "$CLUSTER_ID")
[ -z "$REGION" ] || AWS+=(--region "$REGION")

if $DRY_RUN; then
  printf '%s' "${AWS[*]}"
  printf ' --steps file://STEPS.json\n'
  printf '# STEPS.json:\n%s\n' "$STEPS"
  exit 0
fi

command -v aws >/dev/null 2>&1 || fail "the aws CLI is not on PATH"
STEPS_FILE="$(mktemp "${TMPDIR:-/tmp}/distillery-steps.XXXXXX.json")"
trap 'rm -f "$STEPS_FILE"' EXIT
printf '%s\n' "$STEPS" >"$STEPS_FILE"
"${AWS[@]}" --steps "file://$STEPS_FILE"
