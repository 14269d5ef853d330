#!/usr/bin/env bash
# Creates and/or runs the Distillery job on Databricks, from conf/databricks/job.json (a spark_jar_task
# running dev.distillery.cli.Distillery 'pipeline --config ...' on a fixed-size GPU job cluster).
# Uses the Databricks CLI (v0.205+) when present, else the Jobs 2.1 REST API with curl.
# Credentials: DATABRICKS_HOST / DATABRICKS_TOKEN from the environment (or the CLI's own profile);
# the token is never printed or written to a file. Run with --help.
set -euo pipefail

PROG="databricks-submit.sh"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() {
  cat <<EOF2
usage: $PROG [--job-json FILE] [--job-id ID] [--create-only] [--api cli|curl] [--dry-run]

  --job-json FILE   job specification (default: $ROOT/conf/databricks/job.json)
  --job-id ID       run this existing job now (no create)
  --create-only     create the job and print its id, do not run it
  --api A           cli (databricks jobs create / run-now) or curl (REST API 2.1);
                    default: cli when 'databricks' is on PATH, else curl
  --dry-run         print the commands, run nothing (no CLI, host or token needed)
  -h, --help        this help

Before the first run: upload the jar and the pipeline YAML to the paths job.json names, and the init
script to the workspace path cluster.json names (see README, "Running on a cluster").
EOF2
}

fail() { echo "$PROG: $*" >&2; exit 2; }

JOB_JSON="$ROOT/conf/databricks/job.json"
JOB_ID=""
CREATE_ONLY=false
API=""
DRY_RUN=false
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --job-json) [ $# -ge 2 ] || fail "option $1 needs a value"; JOB_JSON="$2"; shift 2 ;;
    --job-id) [ $# -ge 2 ] || fail "option $1 needs a value"; JOB_ID="$2"; shift 2 ;;
    --create-only) CREATE_ONLY=true; shift ;;
    --api) [ $# -ge 2 ] || fail "option $1 needs a value"; API="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    *) fail "unknown option '$1' (see --help)" ;;
  esac
done

[ -z "$JOB_ID" ] || [[ "$JOB_ID" =~ ^[0-9]+$ ]] || fail "--job-id must be a number, got '$JOB_ID'"
[ -n "$JOB_ID" ] || [ -f "$JOB_JSON" ] || fail "job specification not found: $JOB_JSON"
if [ -z "$API" ]; then
  if command -v databricks >/dev/null 2>&1; then API=cli; else API=curl; fi
fi
[[ "$API" == cli || "$API" == curl ]] || fail "--api must be cli or curl, got '$API'"

# The commands, as text for --dry-run ($DATABRICKS_HOST / $DATABRICKS_TOKEN left unexpanded).
show_create() {
  if [ "$API" = cli ]; then
    echo "databricks jobs create --json @$JOB_JSON"
  else
    echo "curl -sS --fail -X POST \"\$DATABRICKS_HOST/api/2.1/jobs/create\" -H \"Authorization: Bearer \$DATABRICKS_TOKEN\" -H 'Content-Type: application/json' --data @$JOB_JSON"
  fi
}
show_run() {
  if [ "$API" = cli ]; then
    echo "databricks jobs run-now $1"
  else
    echo "curl -sS --fail -X POST \"\$DATABRICKS_HOST/api/2.1/jobs/run-now\" -H \"Authorization: Bearer \$DATABRICKS_TOKEN\" -H 'Content-Type: application/json' --data '{\"job_id\": $1}'"
  fi
}

if $DRY_RUN; then
  if [ -z "$JOB_ID" ]; then
    show_create
    $CREATE_ONLY || show_run '<job_id from the create response>'
  else
    show_run "$JOB_ID"
  fi
  exit 0
fi

# curl_api PATH BODY-ARG...: POST to the REST API; the token goes to curl on stdin, not in argv.
curl_api() {
  local path="$1"
  shift
  [ -n "${DATABRICKS_HOST:-}" ] || fail "DATABRICKS_HOST is not set"
  [ -n "${DATABRICKS_TOKEN:-}" ] || fail "DATABRICKS_TOKEN is not set"
  command -v curl >/dev/null 2>&1 || fail "curl not found"
  printf 'header = "Authorization: Bearer %s"\n' "$DATABRICKS_TOKEN" |
    curl -sS --fail --config - -X POST "${DATABRICKS_HOST%/}/api/2.1/$path" \
      -H 'Content-Type: application/json' "$@"
}

if [ "$API" = cli ]; then
  command -v databricks >/dev/null 2>&1 || fail "the databricks CLI is not on PATH (or use --api curl)"
fi

if [ -z "$JOB_ID" ]; then
  if [ "$API" = cli ]; then
    response="$(databricks jobs create --json "@$JOB_JSON")"
  else
    response="$(curl_api jobs/create --data "@$JOB_JSON")"
  fi
  JOB_ID="$(printf '%s' "$response" | sed -n 's/.*"job_id"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\).*/\1/p' | head -1)"
  [ -n "$JOB_ID" ] || fail "no job_id in the create response: $response"
  echo "$PROG: created job $JOB_ID" >&2
  if $CREATE_ONLY; then
    echo "$JOB_ID"
    exit 0
  fi
fi

if [ "$API" = cli ]; then
  databricks jobs run-now "$JOB_ID"
else
  curl_api jobs/run-now --data "{\"job_id\": $JOB_ID}"
  echo
fi
