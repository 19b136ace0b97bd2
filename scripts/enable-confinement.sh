#!/usr/bin/env bash
# Make bubblewrap work on this machine, so that grading confines the student's code (dlgrade batch refuses without).
#
# Installs bubblewrap where it is missing. On Ubuntu 23.10 and later (GitHub's ubuntu-24.04 runners among them)
# AppArmor lets no unprivileged program create user namespaces, which bwrap needs: this gives bwrap alone an AppArmor
# profile that allows them (the way Ubuntu ships one for other sandboxes), rather than lifting the restriction for
# every program with the kernel.apparmor_restrict_unprivileged_userns sysctl. Then it proves a sandbox starts.
# Safe to run again. Root is not needed to grade, only here (it uses sudo when not root).
set -euo pipefail

RESTRICT="${DLGRADE_USERNS_RESTRICT:-/proc/sys/kernel/apparmor_restrict_unprivileged_userns}"
PROFILES="${DLGRADE_APPARMOR_DIR:-/etc/apparmor.d}"
as_root=()
[ "$(id -u)" = 0 ] || as_root=(sudo)

if ! command -v bwrap >/dev/null; then
    echo "installing bubblewrap"
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" apt-get install -y -qq bubblewrap >/dev/null
fi
bwrap_path="$(command -v bwrap)"

if [ -r "$RESTRICT" ] && [ "$(cat "$RESTRICT")" = 1 ]; then
    echo "AppArmor restricts unprivileged user namespaces here: allowing them to $bwrap_path alone"
    profile="$PROFILES/dlgrade-bwrap"
    "${as_root[@]}" tee "$profile" >/dev/null <<PROFILE
abi <abi/4.0>,
include <tunables/global>

profile dlgrade-bwrap $bwrap_path flags=(unconfined) {
  userns,
  include if exists <local/dlgrade-bwrap>
}
PROFILE
    "${as_root[@]}" apparmor_parser --replace "$profile"
else
    echo "no AppArmor restriction on user namespaces here"
fi

if "$bwrap_path" --unshare-all --unshare-user --ro-bind / / --proc /proc --dev /dev /bin/true; then
    echo "bubblewrap starts sandboxes here: student code will be confined"
else
    echo "bubblewrap still cannot start a sandbox here; see docs/github.md, 'Confinement'" >&2
    exit 1
fi
