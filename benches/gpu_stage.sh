#!/usr/bin/env bash
# Stage, on the CPU machine, what benches/gpu_run.sh needs on the lent GPU machine, under the
# ignored folder .gpu of the checkout the device tool sends (it sends that checkout only):
#
#   .gpu/deps.tar.xz          polars + polars-runtime-32 + ijson installed for CPython 3.12
#                             (made once from the wheels in .whl/, remade when .whl/ is newer)
#   .gpu/poisonscreen.tar.xz  poisonscreen/ from TREE/python/poisonscreen + the cp312 extension
#   .gpu/tree/                TREE's pyproject, README, python/, tests/ and benches/ (tracked and
#                             untracked-not-ignored files): the tests and benchmark that run there
#
# usage: benches/gpu_stage.sh [TREE] [SO312]
#   TREE   the source tree (default: this script's repository)
#   SO312  the CPython 3.12 build of the extension (default: $PS_SO312, else
#          /work/target312/_poisonscreen.cpython-312-x86_64-linux-gnu.so). Build it with
#          CARGO_TARGET_DIR=/work/target312 maturin build --release -i python3.12 and take the .so
#          out of the wheel.
#   env PS_DEST: the checkout the device sends (default: this script's repository); PS_WHL: the
#   wheels (default: $PS_DEST/.whl), fetched as the device README says (pip download --no-deps
#   --only-binary=:all: --python-version 3.12 ... polars==X polars-runtime-32==X ijson==Y).
# The xz compression is what keeps the working tree under the 64 MiB the device takes: the polars
# runtime wheel alone is 54 MB, the extension 18 MB stripped.
set -euo pipefail
HERE_REPO=$(cd "$(dirname "$0")/.." && pwd)
TREE=$(cd "${1:-$HERE_REPO}" && pwd)
SO=${2:-${PS_SO312:-/work/target312/_poisonscreen.cpython-312-x86_64-linux-gnu.so}}
DEST=${PS_DEST:-$HERE_REPO}
STAGE=$DEST/.gpu
WHL=${PS_WHL:-$DEST/.whl}
PY=${PY:-python3}

exclude=$(git -C "$DEST" rev-parse --git-path info/exclude)
case $exclude in /*) ;; *) exclude=$DEST/$exclude ;; esac
for p in /.gpu/ /.whl/; do grep -qxF "$p" "$exclude" 2>/dev/null || echo "$p" >>"$exclude"; done
mkdir -p "$STAGE"
[ -f "$SO" ] || { echo "no cp312 extension at $SO" >&2; exit 1; }
case $(basename "$SO") in *cpython-312-x86_64-linux-gnu.so) ;; *) echo "not a cp312 build: $SO" >&2; exit 1 ;; esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ ! -f "$STAGE/deps.tar.xz" ] || [ "$WHL" -nt "$STAGE/deps.tar.xz" ]; then
    echo "deps: installing $(ls "$WHL"/*.whl | xargs -n1 basename | tr '\n' ' ')"
    "$PY" -m pip install -q --no-deps --no-index --no-compile --target "$work/deps" \
        --python-version 3.12 --implementation cp --only-binary=:all: \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 "$WHL"/*.whl
    rm -rf "$work/deps/bin"
    echo "deps: compressing (xz -9, a few minutes on 2 cores)"
    tar -C "$work/deps" -cf - . | xz -T2 -9 >"$STAGE/deps.tar.xz.part"
    mv "$STAGE/deps.tar.xz.part" "$STAGE/deps.tar.xz"
fi

# the package: the tree's files (not its ignored builds) and the one cp312 extension
mkdir -p "$work/pkg"
(cd "$TREE" && git ls-files -co --exclude-standard -- python/poisonscreen) | while read -r f; do
    case $f in *.so) continue ;; esac
    mkdir -p "$work/pkg/$(dirname "${f#python/}")"
    cp "$TREE/$f" "$work/pkg/${f#python/}"
done
strip -o "$work/pkg/poisonscreen/_poisonscreen.cpython-312-x86_64-linux-gnu.so" "$SO"
n_so=$(find "$work/pkg/poisonscreen" -name '*.so*' | wc -l)
[ "$n_so" -eq 1 ] || { echo "expected one shared library in the package, found $n_so" >&2; exit 1; }
tar -C "$work/pkg" -cf - poisonscreen | xz -T2 -6 >"$STAGE/poisonscreen.tar.xz"

# the tests and benchmark that run there
rm -rf "$STAGE/tree"
mkdir -p "$STAGE/tree"
(cd "$TREE" && git ls-files -co --exclude-standard -- pyproject.toml README.md python tests benches) |
    while read -r f; do
        case $f in *.so) continue ;; esac
        mkdir -p "$STAGE/tree/$(dirname "$f")"
        cp "$TREE/$f" "$STAGE/tree/$f"
    done

echo "staged from $TREE ($(git -C "$TREE" rev-parse --short HEAD)$(git -C "$TREE" diff --quiet HEAD -- python tests benches || echo ', with uncommitted changes'))"
du -sh "$STAGE"/deps.tar.xz "$STAGE"/poisonscreen.tar.xz "$STAGE"/tree
total=$(( $(du -sb "$STAGE" | cut -f1) + $(cd "$DEST" && git ls-files -co --exclude-standard -z | xargs -0 du -cb 2>/dev/null | tail -n1 | cut -f1) ))
echo "what travels (the checkout's files + .gpu): $((total / 1048576)) MiB of 64"
[ "$total" -lt $((60 * 1048576)) ] || { echo "too close to the 64 MiB limit" >&2; exit 1; }
