#!/bin/sh
# .ci/deps.sh - make sure the packages kdl needs are installed.
#
# Run by `make demo`, `make check` and `make bench` before anything else.
# As root it apt-get installs what is missing; otherwise it prints the exact
# command to run and fails. Packages (Debian 12 names):
#   flex, bison      - the lexer and parser generators (compiler/)
#   llvm-14-tools    - FileCheck, not, count (tests/)
#   libopenblas-dev  - cblas_sgemm for the runtime's GEMM (runtime/)
#   pkg-config       - to find OpenBLAS
#   make, gcc        - the build itself
set -eu

missing=""
need() { # need PACKAGE TEST-COMMAND...
    pkg=$1; shift
    if ! "$@" >/dev/null 2>&1; then missing="$missing $pkg"; fi
}
need flex command -v flex
need bison command -v bison
need gcc command -v gcc
need make command -v make
need pkg-config command -v pkg-config
need llvm-14-tools sh -c 'command -v FileCheck || test -x /usr/lib/llvm-14/bin/FileCheck || ls /usr/lib/llvm-*/bin/FileCheck'
# OpenBLAS itself, not just some cblas.h: Debian's reference libblas-dev ships
# a cblas.h too, and then the link against -lopenblas fails.
need libopenblas-dev sh -c 'pkg-config --exists openblas || ls /usr/lib/*/libopenblas.so /usr/lib/libopenblas.so /usr/local/lib/libopenblas.so'

[ -z "$missing" ] && exit 0

cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "deps: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || true
    apt-get install -y -qq --no-install-recommends $missing >&2
else
    echo "deps: missing packages:$missing" >&2
    echo "deps: install them with:  sudo $cmd" >&2
    exit 1
fi
