#!/usr/bin/env bash
# gpu-bundle.sh - build blockd with the CUDA backend (Release) into
# build-gpu and make what the GPU device check runs self-contained, so it
# starts on a bare CUDA machine with none of our packages:
#
#   build-gpu/blockd                       the daemon
#   build-gpu/tests/test_backend_ops       the backend conformance suite
#   build-gpu/tests/test_device_move       model moves through every GPU
#   build-gpu/bench/bench_gpu_mlp          the in-process MLP timing
#   build-gpu/*.so                         the plugins the suites load
#   build-gpu/lib/                         every non-system shared library
#                                          they need (libmicrohttpd and its
#                                          GnuTLS chain, cJSON, libuv,
#                                          OpenBLAS, Check, ...)
#
# The binaries carry an RPATH ($ORIGIN/lib, $ORIGIN/../lib, as DT_RPATH so
# it also covers the libraries' own dependencies). Not bundled: glibc and
# its parts, libstdc++/libgcc_s (every CUDA host has newer ones), the
# driver (libcuda) and cuBLAS (about 600 MB with cublasLt; the device
# check finds the host's CUDA 13 copy). cudart is linked statically.
#
# All of it is also packed into build-gpu/bundle.tar.xz (about 12 MB
# instead of 55): that one file is what travels.
# Run from anywhere; prints the carry list and the bundle's size last.
# Environment: BUILD_DIR (default <repo>/build-gpu), JOBS (default 2).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bd=${BUILD_DIR:-$root/build-gpu}
jobs=${JOBS:-2}

command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ] || {
  echo "gpu-bundle: no CUDA compiler (nvcc) found" >&2; exit 1; }
export PATH=$PATH:/usr/local/cuda/bin

# The RPATH is set at link time (patchelf is not needed, nor installed).
mkdir -p "$bd"
# shellcheck disable=SC2016 # $ORIGIN is for the dynamic loader, not bash
cmake -S "$root" -B "$bd" -DCMAKE_BUILD_TYPE=Release -DBLOCKD_CUDA=ON \
  -DBLOCKD_WERROR=OFF \
  '-DCMAKE_BUILD_RPATH=$ORIGIN/lib;$ORIGIN/../lib' \
  -DCMAKE_EXE_LINKER_FLAGS=-Wl,--disable-new-dtags >"$bd/configure.log" 2>&1 || {
  cat "$bd/configure.log" >&2; exit 1; }
grep -q "CUDA backend ON" "$bd/configure.log" || {
  echo "gpu-bundle: CMake did not enable the CUDA backend" >&2; exit 1; }
cmake --build "$bd" -j"$jobs"

# The plugins (the example MyLinear, the test suites' broken ones) sit in
# the build root, where the HTTP and parity suites look for them.
plugins=()
for so in "$bd"/*.so; do [ -e "$so" ] && plugins+=("$so"); done
bins=("$bd/blockd" "$bd/tests/test_backend_ops" "$bd/tests/test_device_move"
      "$bd/bench/bench_gpu_mlp")
rm -rf "$bd/lib"
mkdir -p "$bd/lib"
# System libraries every Linux (and CUDA) host provides, and cuBLAS.
skip='^(linux-vdso|ld-linux|libc\.so|libm\.so|libmvec|libpthread|libdl\.so|librt\.so|libutil|libresolv|libcuda\.so|libnvidia|libcublas|libcublasLt|libstdc\+\+|libgcc_s)'
missing=0
for b in "${bins[@]}" "${plugins[@]}"; do
  while read -r name _ path _; do
    [ -n "$name" ] || continue
    if [ "$path" = "not" ]; then
      echo "gpu-bundle: $b needs $name, which is not found here" >&2
      missing=1; continue
    fi
    [[ $name =~ $skip ]] && continue
    [ -f "$path" ] || continue
    [ -e "$bd/lib/$name" ] || cp -L "$path" "$bd/lib/$name"
  done < <(ldd "$b" 2>/dev/null | sed -n 's/^[[:space:]]*\([^ ]*\) => \(.*\) (0x.*$/\1 => \2/p' |
           awk '{print $1, $2, $3}')
done
[ "$missing" = 0 ] || exit 1
chmod u+w "$bd"/lib/*
strip --strip-unneeded "$bd"/lib/* 2>/dev/null || true
strip --strip-unneeded "${bins[@]}"

# Check: every bundled dependency resolves inside build-gpu/lib.
for b in "${bins[@]}"; do
  readelf -d "$b" | grep -q 'RPATH.*\$ORIGIN/lib' || {
    echo "gpu-bundle: $b has no \$ORIGIN RPATH" >&2; exit 1; }
  while read -r name _ path _; do
    [ -e "$bd/lib/$name" ] || continue
    [ "$(realpath "$path")" = "$(realpath "$bd/lib/$name")" ] || {
      echo "gpu-bundle: $b resolves $name to $path, outside the bundle" >&2
      exit 1; }
  done < <(ldd "$b" | grep ' => /')
done

# Everything travels as one compressed archive (OpenBLAS alone is 36 MB):
# carry build-gpu/bundle.tar.xz; the device check unpacks it in place.
(cd "$bd" && tar -cf - blockd tests/test_backend_ops tests/test_device_move \
   bench/bench_gpu_mlp lib \
   "${plugins[@]#"$bd"/}") | xz -6 -T"$jobs" >"$bd/bundle.tar.xz"

echo "gpu-bundle: bundled libraries:"
ls -l "$bd/lib" | awk 'NR > 1 {printf "  %10d  %s\n", $5, $9}'
rel=${bd#"$root"/}
total=$(du -cb "$bd/bundle.tar.xz" | tail -1 | cut -f1)
unpacked=$(du -cb "$bd/lib" "${bins[@]}" "${plugins[@]}" | tail -1 | cut -f1)
echo "gpu-bundle: carry this path to the GPU machine: $rel/bundle.tar.xz"
echo "  (then, there: tests/gpu/device-check.sh)"
awk -v t="$total" -v u="$unpacked" 'BEGIN { printf "gpu-bundle: bundle size %d bytes (%.1f MiB) to carry, %.1f MiB unpacked\n", t, t / 1048576, u / 1048576 }'
