#!/usr/bin/env bash
# Every check of the project, in the order CI runs them (README, "test command"). Each step runs
# even when an earlier one failed, so one failing test does not hide a broken chapter or book
# build; the last lines say which steps failed, and the exit status is non-zero if any did.
#
#   1. tests      the library's tests (pytest)
#   2. chapters   every chapter under nbval at the smoke profile
#   3. book       the Jupyter Book build, warnings as errors
#   4. release    wheel and sdist built, the wheel installed in a fresh venv, demo and info run
#
# Usage: bash tools/test.sh [STEP ...]   (default: all four)
set -uo pipefail
cd "$(dirname "$0")/.."

declare -A commands=(
  [tests]="python -m pytest"
  [chapters]="ENAS_EDU_PROFILE=smoke python -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider notebooks/"
  [book]="jupyter-book build . -W -n --keep-going"
  [release]="bash tools/check_release.sh"
)
steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(tests chapters book release)

passed=0 failed=()
for step in "${steps[@]}"; do
  cmd=${commands[$step]:-}
  if [ -z "$cmd" ]; then
    echo "test.sh: unknown step '$step'; the steps are: tests chapters book release" >&2
    exit 2
  fi
  echo "== $step: $cmd"
  start=$SECONDS
  if bash -c "$cmd"; then
    passed=$((passed + 1)); echo "== $step: passed in $((SECONDS - start)) s"
  else
    failed+=("$step"); echo "== $step: FAILED in $((SECONDS - start)) s"
  fi
done
[ ${#failed[@]} -gt 0 ] && echo "test.sh: failed steps: ${failed[*]}"
echo "steps: $passed passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
