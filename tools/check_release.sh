#!/usr/bin/env bash
# The package as a user gets it: build the wheel and the sdist, check that both hold the shipped
# data, install the *wheel* (not this tree) into a fresh virtual environment, and run
# `enas-edu info` and `enas-edu demo` from a folder outside the repository, so that a missing
# package-data entry or an import of a file that is not packaged fails here.
#
# Usage: bash tools/check_release.sh [DIST_DIR]   (default: a temporary folder)
# Needs: the `build` package in the calling environment; the package registry (or a local
# torch wheel) for the fresh environment's dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dist=${1:-$work/dist}

echo "== build: wheel and sdist into $dist"
python -m build --outdir "$dist" . >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
version=$(python -c 'import sys; sys.path.insert(0, "tools"); import sync_book; print(sync_book.version())')
wheel="$dist/enas_edu-$version-py3-none-any.whl"
sdist="$dist/enas_edu-$version.tar.gz"
[ -f "$wheel" ] && [ -f "$sdist" ] || { echo "release: expected $wheel and $sdist; built: $(ls "$dist")" >&2; exit 1; }

echo "== contents: every shipped data file and every module is in both"
python - "$wheel" "$sdist" "$version" <<'EOF'
import sys, tarfile, zipfile
from pathlib import Path
wheel, sdist, version = sys.argv[1:]
shipped = sorted(p.as_posix() for p in Path("enas_edu").rglob("*")
                 if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
in_wheel = set(zipfile.ZipFile(wheel).namelist())
in_sdist = {n.split("/", 1)[1] for n in tarfile.open(sdist).getnames() if "/" in n}
missing = [("wheel", p) for p in shipped if p not in in_wheel] + [("sdist", p) for p in shipped if p not in in_sdist]
if missing:
    sys.exit("release: not packaged (add them to [tool.setuptools.package-data] in pyproject.toml):\n  "
             + "\n  ".join(f"{where}: {p}" for where, p in missing))
meta = zipfile.ZipFile(wheel).read(f"enas_edu-{version}.dist-info/METADATA").decode()
assert f"\nVersion: {version}\n" in meta, "the wheel's version is not enas_edu.__version__"
print(f"release: {len(shipped)} files of enas_edu/ in the wheel and the sdist, version {version}")
EOF

echo "== fresh environment: the CPU torch wheel, then the built wheel"
python -m venv "$work/venv"
py="$work/venv/bin/python"
"$py" -m pip install --quiet "torch==2.13.0"
# A dry-run resolve first: installing enas-edu must not replace an installed torch >= 2.4 (Colab's).
"$py" -m pip install --quiet --dry-run --report "$work/resolve.json" "$wheel"
"$py" - "$work/resolve.json" <<'EOF'
import json, sys
names = [item["metadata"]["name"].lower() for item in json.load(open(sys.argv[1]))["install"]]
if "torch" in names:
    sys.exit(f"release: installing the wheel would replace the installed torch: {names}")
print(f"release: the wheel installs {len(names)} packages and keeps the installed torch")
EOF
"$py" -m pip install --quiet "$wheel"

echo "== enas-edu info and enas-edu demo from the installed wheel, outside the repository"
cd "$work"
"$py" - "$root" <<'EOF'
import sys
from pathlib import Path
import enas_edu
where = Path(enas_edu.__file__).resolve()
if Path(sys.argv[1]) in where.parents:
    sys.exit(f"release: enas_edu was imported from the repository ({where}), not from the wheel")
print(f"release: enas_edu {enas_edu.__version__} imported from {where.parent}")
EOF
"$work/venv/bin/enas-edu" info --data-dir "$work/data"
"$work/venv/bin/enas-edu" demo --quiet --out "$work/demo"
echo "release: wheel and sdist of enas-edu $version built, installed and run"
