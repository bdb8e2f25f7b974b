#!/usr/bin/env bash
# format-check.sh - lists the C/CUDA files (.c .h .cu .cuh) changed since a
# base commit that clang-format (the repo's .clang-format) would change, and
# fails if there are any. Whole files are checked, not only changed lines.
#   scripts/format-check.sh          base = merge base with main, or HEAD~1
#                                    when HEAD is on main
#   scripts/format-check.sh BASE     any commit-ish (origin/main, HEAD~3, ...)
# Uncommitted changes count as changed. Fix a listed file with
#   clang-format -i FILE
# CLANG_FORMAT picks the binary (default clang-format-14, else clang-format;
# other major versions format some constructs differently).
set -euo pipefail
cd "$(dirname "$0")/.."

cf=${CLANG_FORMAT:-}
if [ -z "$cf" ]; then
  if command -v clang-format-14 >/dev/null 2>&1; then cf=clang-format-14
  else cf=clang-format; fi
fi
command -v "$cf" >/dev/null 2>&1 || {
  echo "format-check: $cf not found (scripts/install-deps.sh --ci)" >&2
  exit 2
}

base=${1:-}
if [ -z "$base" ]; then
  base=$(git merge-base HEAD main 2>/dev/null || true)
  if [ -z "$base" ] || [ "$base" = "$(git rev-parse HEAD)" ]; then
    if git rev-parse -q --verify HEAD~1 >/dev/null; then base=HEAD~1
    else base=$(git hash-object -t tree /dev/null); fi  # first commit
  fi
fi

mapfile -t files < <(git diff --name-only --diff-filter=ACMR "$base" -- \
                       '*.c' '*.h' '*.cu' '*.cuh')
bad=()
for f in "${files[@]}"; do
  if ! "$cf" --style=file "$f" | cmp -s - "$f"; then bad+=("$f"); fi
done
echo "format-check: ${#files[@]} changed C file(s) since $(git rev-parse --short "$base" 2>/dev/null || echo "$base"), ${#bad[@]} not formatted"
if [ ${#bad[@]} -gt 0 ]; then
  printf '  %s\n' "${bad[@]}"
  echo "format-check: run $cf -i on the files above" >&2
  exit 1
fi
