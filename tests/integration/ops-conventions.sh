#!/usr/bin/env bash
# ops.conventions — what an operator expects of the programs: every program answers --version
# with "NAME VERSION" (exit 0); the five man pages are built and render without a groff
# warning; the spongectl bash completion completes commands and options; every example pipeline
# has a sample input, and the one for fmnist is the 784 bytes its worker takes; every node config
# key the agent accepts is in sponged.json(5) and the README.
# Usage: ops-conventions.sh [BINARY_DIR [SOURCE_DIR]]
set -u
SRC=${2:-${SPONGE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}}
BUILD=${1:-${SPONGE_BINARY_DIR:-$SRC/build-ci}}
fails=0
fail() {
        echo "ops.conventions: FAIL: $*" >&2
        fails=$((fails + 1))
}
version=$(sed -n 's/^project(sponged VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
[ -n "$version" ] || fail "no project version in CMakeLists.txt"
for p in sponged spongectl sponge-load sponge-profile sponge-worker-echo sponge-worker-flops \
        sponge-worker-fmnist sponge-fmnist-train; do
        out=$("$BUILD/bin/$p" --version 2>&1)
        rc=$?
        [ "$rc" = 0 ] && [ "$out" = "$p $version" ] || fail "$p --version: exit $rc, \"$out\""
done
for page in sponged.8 spongectl.1 sponge-load.1 sponged.json.5 sponge-pipeline.5; do
        f=$BUILD/man/$page
        if [ ! -s "$f" ]; then
                fail "man page $page not built ($f)"
                continue
        fi
        warn=$(MANWIDTH=80 man --warnings=w -l "$f" 2>&1 >/dev/null)
        [ -z "$warn" ] || fail "man $page: $warn"
        grep -q "^\.TH \"\?${page%.*}\"\? \"\?${page##*.}\"\?" "$f" || fail "$page: no .TH ${page%.*} ${page##*.}"
done
grep -q 'watch' "$BUILD/man/spongectl.1" || fail "spongectl(1) does not document watch"
if [ -r /usr/share/bash-completion/bash_completion ]; then
        got=$(bash -c 'source /usr/share/bash-completion/bash_completion
                source "$1"
                COMP_WORDS=(spongectl w); COMP_CWORD=1; COMP_LINE="spongectl w"; COMP_POINT=11
                _spongectl; echo "${COMPREPLY[*]}"
                COMP_WORDS=(spongectl --v); COMP_CWORD=1; COMP_LINE="spongectl --v"; COMP_POINT=13
                _spongectl; echo "${COMPREPLY[*]}"' _ "$SRC/systemd/bash-completion/spongectl")
        [ "$got" = $'watch\n--version' ] || fail "completion gave \"$got\" for 'spongectl w' and 'spongectl --v'"
else
        echo "ops.conventions: bash-completion not installed: completion not exercised" >&2
fi
# Every node config key the agent accepts (the list in its unknown-key error, as `sponged --check`
# prints it) is documented in sponged.json(5) and in the README's table.
nk=$(mktemp)
echo '{"no_such_key": 1}' >"$nk"
keys=$("$BUILD/bin/sponged" --check --config "$nk" 2>&1 |
        sed -n 's/.*no_such_key: unknown key (accepted here: \(.*\))$/\1/p' | tr ',' '\n' | tr -d ' ')
rm -f "$nk"
[ "$(wc -l <<<"$keys")" -ge 20 ] || fail "could not read the accepted keys from sponged --check: $keys"
for k in $keys; do
        grep -q "^\*$k\* (" "$SRC/systemd/man/sponged.json.5.scd" || fail "sponged.json(5) does not document $k"
        grep -q "^| \`$k\` |" "$SRC/README.md" || fail "README.md's node config table does not document $k"
done
for j in "$SRC"/pipelines/examples/*.json; do
        n=$(basename "$j" .json)
        [ -s "$SRC/pipelines/examples/samples/$n.bin" ] || fail "no sample input for example $n"
done
[ "$(stat -c %s "$SRC/pipelines/examples/samples/fmnist.bin")" = 784 ] || fail "fmnist.bin is not 784 bytes"
[ "$fails" = 0 ] || exit 1
echo "ops.conventions: PASS"
