#!/usr/bin/env bash
# Every check of the project, in the order CI runs them (README, "test command"). Each step runs
# even when an earlier one failed, so one failing test does not hide a broken chapter or book
# build; the last lines say which steps failed, and the exit status is non-zero if any did.
#
#   1. tests      the library's tests (pytest), on this machine's CPU kernels
#   2. tests-avx2 the same tests on the kernels of a CPU without AVX-512, as most laptops are
#                 (oneDNN and ATen capped at AVX2: issue #36; tests/test_cpu_kernels.py, which
#                 runs both kernel sets itself, is left out)
#   3. chapters   every chapter under nbval at the smoke profile
#   4. book       the Jupyter Book build, warnings as errors
#   5. release    wheel and sdist built, the wheel installed in a fresh venv, demo and info run
#
# Usage: bash tools/test.sh [STEP ...]   (default: all five)
set -uo pipefail
cd "$(dirname "$0")/.."

declare -A commands=(
  [tests]="python -m pytest"
  [tests-avx2]="ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 python -m pytest -p no:cacheprovider --ignore=tests/test_cpu_kernels.py"
  [chapters]="ENAS_EDU_PROFILE=smoke python -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider notebooks/"
  [book]="jupyter-book build . -W -n --keep-going"
  [release]="bash tools/check_release.sh"
)
steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(tests tests-avx2 chapters book release)

passed=0 failed=()
for step in "${steps[@]}"; do
  cmd=${commands[$step]:-}
  if [ -z "$cmd" ]; then
    echo "test.sh: unknown step '$step'; the steps are: tests tests-avx2 chapters book release" >&2
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
