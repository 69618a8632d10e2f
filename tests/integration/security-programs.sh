#!/usr/bin/env bash
# security.programs — which programs may run (issue 15, point 3). A worker's argv[0] is
# resolved once (realpath) and must lie in a worker directory whose every component, and the
# file, is owned by root or the agent and not writable by group or others. Refused, with the
# path and the reason, and nothing runs: a program outside the directories (by path and by bare
# name through PATH), one in a group-writable directory, a group-writable program, a symlink in
# a worker directory pointing outside. A pipeline file in pipelines.d naming such a program is
# refused at load with a log line. A script with a shebang installed in a worker directory (the
# convention for interpreted workers) runs.
# Usage: security-programs.sh [BINARY_DIR [SOURCE_DIR]]
source "$(dirname "$0")/security-lib.sh"
security_init security.programs 18852 "$@"
agent_config "\"worker_dirs\": [\"$BIN\", \"$TRUSTED\"]"
agent_start
CT=(-H 'Content-Type: application/json')

# refused NAME COMMAND_JSON DETAIL — PUT as root over the socket: 403/400 naming the reason.
refused() {
        local name=$1 cmd=$2 detail=$3 want=${4:-403}
        probe_pipeline "$name" "$cmd"
        http PUT "/v1/pipelines/$name" "${CT[@]}" --data-binary "@$TMP/$name.json"
        expect_json_error "$want" "PUT $name ($cmd)" "$detail"
        [ -e "$PIPELINES_DIR/$name.json" ] && fail "refused pipeline $name was persisted"
}

refused outside "[\"/usr/bin/touch\", \"$MARKS/outside.ran\"]" "/usr/bin/touch) is not in a worker directory"
refused bypath "[\"touch\", \"$MARKS/bypath.ran\"]" "/usr/bin/touch) is not in a worker directory"
ln -s /usr/bin/touch "$TRUSTED/link"
refused symlink "[\"$TRUSTED/link\", \"$MARKS/symlink.ran\"]" "(/usr/bin/touch) is not in a worker directory"
mkdir -m 0775 "$TRUSTED/gw"
chmod 0775 "$TRUSTED/gw" # whatever the umask
install_probe gwdir
mv "$TRUSTED/gwdir" "$TRUSTED/gw/gwdir"
refused gwdir "[\"$TRUSTED/gw/gwdir\"]" "$TRUSTED/gw is writable by its group (mode 0775)"
install_probe gwfile
chmod 0775 "$TRUSTED/gwfile"
refused gwfile "[\"$TRUSTED/gwfile\"]" "$TRUSTED/gwfile is writable by its group"
install_probe notmine
chown nobody "$TRUSTED/notmine"
refused notmine "[\"$TRUSTED/notmine\"]" "is owned by uid 65534"
refused missing "[\"no-such-worker-program\"]" "not found" 400
pass "programs outside the worker directories refused, with the path and why"

# At load: a file in pipelines.d naming a program outside is refused with a log line.
probe_pipeline loaded "[\"/usr/bin/touch\", \"$MARKS/loaded.ran\"]"
cp "$TMP/loaded.json" "$PIPELINES_DIR/loaded.json"
kill -HUP "$SPONGED_PID"
wait_until 10 "the refusal of loaded.json in the log" \
        grep -q "Pipeline loaded from $PIPELINES_DIR/loaded.json: refused: .*/usr/bin/touch) is not in a worker directory" "$LOG"
rm -f "$PIPELINES_DIR/loaded.json"

# The convention for interpreted workers: an executable script in a worker directory.
install_probe script
probe_pipeline script "[\"script\"]"
apply_pipeline "$TMP/script.json"
wait_ready script 30 || fail "a script in a worker directory did not become ready"
sleep 1
for m in outside bypath symlink gwdir gwfile notmine loaded; do
        [ -e "$MARKS/$m.ran" ] && fail "refused program $m ran"
done
[ -e "$MARKS/script.ran" ] || fail "the accepted script did not run"
agent_finish
