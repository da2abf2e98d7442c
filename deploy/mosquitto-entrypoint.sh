#!/bin/sh
# Mosquitto for fitmon's docker-compose: runs the broker on copies of the password file and ACL
# that `fitmon broker-auth` writes into the shared volume, and reloads them (SIGHUP, which makes
# Mosquitto reread both) within seconds of a change, so importing equipment and running
# broker-auth is all it takes to admit new devices. See docs/operations.md, "Broker".
#
# Usage: mosquitto-entrypoint.sh mosquitto -c /mosquitto/config/mosquitto.conf
# POSIX sh (the eclipse-mosquitto image has busybox). Settings, with their container defaults:
#   FITMON_AUTH_WRITTEN  /mosquitto/auth         where broker-auth writes passwd and acl
#   FITMON_AUTH_LOADED   /mosquitto/auth-loaded  the copies mosquitto.conf names
#   FITMON_AUTH_CHECK_S  2                       seconds between looks at the written files
#   FITMON_AUTH_OWNER    mosquitto               who the copies belong to when run as root
set -eu

written=${FITMON_AUTH_WRITTEN:-/mosquitto/auth}
loaded=${FITMON_AUTH_LOADED:-/mosquitto/auth-loaded}
every=${FITMON_AUTH_CHECK_S:-2}
owner=${FITMON_AUTH_OWNER:-mosquitto}

say() { echo "fitmon-mosquitto: $*" >&2; }

written_sum() { cat "$written/passwd" "$written/acl" 2>/dev/null | cksum; }

# Copies, not the written files themselves: Mosquitto rereads them on SIGHUP as its own user, after
# dropping root, and broker-auth's files belong to fitmon's user and are readable by it only.
# Each copy is swapped in whole, so a reload never reads half a file.
install_copies() {
    for name in passwd acl; do
        cp "$written/$name" "$loaded/.$name.new" || return 1
        chmod 600 "$loaded/.$name.new" || return 1
        if [ "$(id -u)" = 0 ]; then chown "$owner:$owner" "$loaded/.$name.new" || return 1; fi
        mv -f "$loaded/.$name.new" "$loaded/$name" || return 1
    done
}

for name in passwd acl; do
    if [ ! -r "$written/$name" ]; then
        say "no $written/$name: run \`fitmon broker-auth\` first (compose's broker-auth service)"
        exit 1
    fi
done
mkdir -p "$loaded"
chmod 700 "$loaded"
if [ "$(id -u)" = 0 ]; then chown "$owner:$owner" "$loaded"; fi
# The sum first: files broker-auth rewrites while they are copied differ from it, and load later.
loaded_sum=$(written_sum)
install_copies

"$@" &
broker=$!

# The watcher: broker-auth replaces passwd, then acl. A change is loaded once the pair has held
# still for one look, so the broker never runs on a new password file with the old ACL.
(
    trap - TERM INT HUP
    seen=$loaded_sum
    while kill -0 "$broker" 2>/dev/null; do
        sleep "$every"
        now=$(written_sum)
        if [ "$now" != "$seen" ]; then
            seen=$now
        elif [ "$now" != "$loaded_sum" ]; then
            if install_copies; then
                loaded_sum=$now
                kill -HUP "$broker" 2>/dev/null || true
                say "reloaded the password file and ACL broker-auth wrote (SIGHUP)"
            else
                say "could not copy $written/passwd and acl; trying again"
            fi
        fi
    done
) &
watcher=$!

# `docker compose stop` signals this script (PID 1), which hands the signal on; so does
# `docker compose kill -s HUP mosquitto`, after taking the files as they are.
trap 'kill -TERM "$broker" 2>/dev/null || true' TERM INT
trap 'install_copies || say "could not copy the files"; kill -HUP "$broker" 2>/dev/null || true' HUP

# A trapped signal ends `wait` early: wait again until the broker itself has exited.
while :; do
    if wait "$broker"; then status=0; else status=$?; fi
    kill -0 "$broker" 2>/dev/null || break
done
kill "$watcher" 2>/dev/null || true
exit "$status"
