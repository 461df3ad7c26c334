#!/usr/bin/env bash
# Installs Folio into a temporary prefix and builds a C program against the
# installed library twice: with CMake's find_package(Folio) and with
# pkg-config. Both programs then answer a question over the sample corpus.
# usage: install_test.sh BUILD_DIR TEST_SRC_DIR FOLIO SAMPLE_DIR WORK_DIR CC
set -euo pipefail
build="$1" src="$2" folio="$3" sample="$4" work="$5" cc="$6"
rm -rf "$work" && mkdir -p "$work"
prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log"
test -f "$prefix/include/folio/folio.h"
test -f "$prefix/include/folio/folio.hpp"
"$folio" make-tiny --seed 4 -o "$work/tiny.gguf" 2>/dev/null

# find_package(Folio)
cmake -S "$src/consumer" -B "$work/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
      -DCMAKE_C_COMPILER="$cc" -DFOLIO_TEST_SOURCE="$src/c_api_test.c" >"$work/consumer-configure.log"
cmake --build "$work/consumer" >"$work/consumer-build.log"
"$work/consumer/consumer" "$work/tiny.gguf" "$sample" >"$work/cmake-run.txt"
echo "find_package(Folio): ok ($(head -1 "$work/cmake-run.txt"))"

# pkg-config
pcdir="$(dirname "$(find "$prefix" -name folio.pc | head -1)")"
flags="$(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs folio)"
libdir="$(PKG_CONFIG_PATH="$pcdir" pkg-config --variable=libdir folio)"
"$cc" -std=c99 -Wall -Wextra -pedantic -Werror "$src/c_api_test.c" $flags -Wl,-rpath,"$libdir" -o "$work/pc-consumer"
"$work/pc-consumer" "$work/tiny.gguf" "$sample" >"$work/pc-run.txt"
echo "pkg-config ($flags): ok ($(head -1 "$work/pc-run.txt"))"
