# shellcheck shell=bash
# What regenerate.sh and torch/profile.sh share, sourced from the repository root:
#   profile_setup BUILD_DIR ROOT_NAME    sets $profile (BUILD_DIR's sponge-profile), $out (this
#                                        folder) and $root (ROOT_NAME under the mount of the cgroup
#                                        cpu controller: v1's, else the v2 hierarchy)
#   want NAME                            true when NAME is in $selected or $selected is empty
#   profile_run NAME OPTIONS... -- COMMAND...
#                                        sponge-profile with a dedicated boosted cgroups root:
#                                        $out/NAME.json (the `profile` block) and NAME.report.json
profile_setup() {
        local mount
        profile="$1/bin/sponge-profile"
        out=pipelines/worker/profiles
        mount=$(awk '$3 == "cgroup" && $4 ~ /(^|,)cpu(,|$)/ {print $2; exit}' /proc/mounts)
        [ -n "$mount" ] || mount=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts)
        root="$mount/$2"
}

want() { [ ${#selected[@]} -eq 0 ] || [[ " ${selected[*]} " == *" $1 "* ]]; }

profile_run() {
        local name=$1
        shift
        echo "== $name" >&2
        "$profile" --boost --cgroup-root "$root" --out "$out/$name.json" \
                --report "$out/$name.report.json" "$@"
}
