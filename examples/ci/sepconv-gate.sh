#!/usr/bin/env bash
# Gate a model's cost in CI and write a pull-request comment with the per-layer diff.
#
#   examples/ci/sepconv-gate.sh NEW_SPEC [BASE_SPEC_OR_REPORT]
#
# Fails (exit 1) when the model is over its budget or grew more than allowed against the
# base; exit 2 when a spec is invalid. Always writes sepconv-report.json and, when a base is
# given, sepconv-comment.md (markdown for the pull request) before failing.
set -uo pipefail

NEW_SPEC=${1:?usage: sepconv-gate.sh NEW_SPEC [BASE_SPEC_OR_REPORT]}
BASE=${2:-}
MAX_MACS=${SEPCONV_MAX_MACS:-600M}
MAX_PARAMS=${SEPCONV_MAX_PARAMS:-4.5M}
MAX_INCREASE=${SEPCONV_MAX_INCREASE:-macs=2%}

sepconv validate "$NEW_SPEC" || exit $?   # exit 2: fix the spec first

status=0
sepconv profile "$NEW_SPEC" --no-time --format json --output sepconv-report.json \
  --max-macs "$MAX_MACS" --max-params "$MAX_PARAMS" || status=$?

if [ -n "$BASE" ]; then
  sepconv compare "$BASE" sepconv-report.json --max-increase "$MAX_INCREASE" \
    --format markdown --output sepconv-comment.md || { rc=$?; [ "$status" -eq 0 ] && status=$rc; }
fi
exit "$status"
