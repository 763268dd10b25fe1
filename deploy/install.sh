#!/usr/bin/env bash
# Install sis-watcher as a systemd service on this machine (or into a staging root).
#
#   deploy/install.sh [OPTIONS] [PACKAGE]
#
# PACKAGE is what pip installs: a source checkout, a wheel or an sdist (default: the checkout this
# script is in). In order, the script:
#   1. installs the unit files and the sysusers.d/tmpfiles.d files under /usr/local/lib;
#   2. creates the sis-watcher user and group (systemd-sysusers) and the folders (systemd-tmpfiles);
#   3. creates or reuses the venv /opt/sis-watcher and pip-installs PACKAGE into it;
#   4. copies config.example.yaml to /etc/sis-watcher/config.yaml (0640 root:sis-watcher) unless
#      that file exists, and says where the Canvas token goes;
#   5. reloads systemd, runs `sis-watcher check -c CONFIG --offline` as the sis-watcher user, and
#      enables the unit (and starts it with --start) when the check passes.
# Running it again changes nothing but the package: configs and tokens are never overwritten.
#
# Options:
#   --instance NAME   set up sis-watcher@NAME.service (config /etc/sis-watcher/NAME.yaml, token
#                     /etc/sis-watcher/NAME.canvas-token, folders /var/lib/sis-watcher/NAME/...)
#                     instead of sis-watcher.service; repeatable
#   --start           also start (or restart) the unit(s) now
#   --no-enable       do not enable (nor start) any unit
#   --no-check        skip the offline config check
#   --python PATH     the Python that creates the venv (default: python3; 3.11 or newer)
#   --config-example PATH
#                     the example config to copy (default: config.example.yaml in the checkout)
#   --root DIR        install under DIR instead of / (DESTDIR-style, also taken from $DESTDIR):
#                     for tests and image builds. Users and folders are created inside DIR, units
#                     are enabled with `systemctl --root`, nothing is started, and the check runs
#                     as the invoking user. The venv works only at DIR/opt/sis-watcher.
#   --dry-run         print every step without changing anything (no root needed)
#   -h, --help        show this text
#
# Exit status: 0 done; 1 a step or the offline check failed (fix it and run the script again);
# 2 bad usage.

set -euo pipefail

readonly VENV=/opt/sis-watcher
readonly UNIT_DIR=/usr/local/lib/systemd/system
readonly SYSUSERS_DIR=/usr/local/lib/sysusers.d
readonly TMPFILES_DIR=/usr/local/lib/tmpfiles.d
readonly INSTANCE_TMPFILES_DIR=/etc/tmpfiles.d
readonly CONFIG_DIR=/etc/sis-watcher
readonly SERVICE_USER=sis-watcher

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
checkout=$(dirname -- "$here")

root=${DESTDIR:-}
dry_run=0
start=0
enable=1
check=1
python=python3
config_example=$checkout/config.example.yaml
package=
instances=()

say() { printf 'install.sh: %s\n' "$*"; }
warn() { printf 'install.sh: warning: %s\n' "$*" >&2; }
die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }
usage_error() {
    printf 'install.sh: %s (see --help)\n' "$*" >&2
    exit 2
}
usage() { sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

# Run a command, or only show it with --dry-run.
run() {
    printf '+'
    printf ' %q' "$@"
    printf '\n'
    if ((!dry_run)); then
        "$@"
    fi
}

while (($#)); do
    case $1 in
    --root | --python | --config-example | --instance)
        (($# >= 2)) || usage_error "$1 needs a value"
        option=$1 value=$2
        shift 2
        ;;
    --root=* | --python=* | --config-example=* | --instance=*)
        option=${1%%=*} value=${1#*=}
        shift
        ;;
    --dry-run) dry_run=1 && shift && continue ;;
    --start) start=1 && shift && continue ;;
    --no-enable) enable=0 && shift && continue ;;
    --no-check) check=0 && shift && continue ;;
    -h | --help) usage && exit 0 ;;
    -*) usage_error "unknown option $1" ;;
    *)
        [[ -z $package ]] || usage_error "only one PACKAGE, got $package and $1"
        package=$1
        shift
        continue
        ;;
    esac
    case $option in
    --root) root=$value ;;
    --python) python=$value ;;
    --config-example) config_example=$value ;;
    --instance)
        # Letters, digits, _ and -: the name goes into unit names and paths unescaped.
        [[ $value =~ ^[A-Za-z0-9][A-Za-z0-9_-]*$ ]] || usage_error "bad instance name: $value"
        instances+=("$value")
        ;;
    esac
done

# R prefixes every path; empty for the real system.
if [[ -z $root || $root == / ]]; then
    R=
else
    [[ $root == /* ]] || root=$PWD/$root
    R=${root%/}
fi
offline=$([[ -n $R ]] && echo 1 || echo 0)

if [[ -z $package ]]; then
    [[ -f $checkout/pyproject.toml ]] || usage_error "no PACKAGE given and $checkout is not a checkout"
    package=$checkout
fi
[[ -e $package ]] || usage_error "no such package: $package"
package=$(cd -- "$(dirname -- "$package")" && pwd)/$(basename -- "$package")

if ((!dry_run)) && [[ $(id -u) != 0 ]]; then
    die "run as root (or with --dry-run to see the steps)"
fi
for tool in systemd-sysusers systemd-tmpfiles "$python"; do
    command -v "$tool" >/dev/null || die "$tool not found (Debian: apt-get install systemd python3-venv)"
done

# One entry per unit to set up: unit name, config file, token file, tmpfiles.d file or "".
units=() configs=() tokens=() instance_tmpfiles=()
if ((${#instances[@]} == 0)); then
    units+=(sis-watcher.service)
    configs+=("$CONFIG_DIR/config.yaml")
    tokens+=("$CONFIG_DIR/canvas-token")
else
    for name in "${instances[@]}"; do
        units+=("sis-watcher@$name.service")
        configs+=("$CONFIG_DIR/$name.yaml")
        tokens+=("$CONFIG_DIR/$name.canvas-token")
        instance_tmpfiles+=("sis-watcher-$name.conf")
    done
fi

# --- 1. Files for systemd ------------------------------------------------------------------------
say "installing the units, sysusers.d and tmpfiles.d files${R:+ under $R}"
[[ -z $R ]] || run install -d -m 0755 "$R/etc"
run install -D -m 0644 -t "$R$UNIT_DIR" "$here/sis-watcher.service" "$here/sis-watcher@.service"
run install -D -m 0644 -t "$R$SYSUSERS_DIR" "$here/sysusers.d/sis-watcher.conf"
run install -D -m 0644 -t "$R$TMPFILES_DIR" "$here/tmpfiles.d/sis-watcher.conf"
for name in "${instances[@]}"; do
    target=$R$INSTANCE_TMPFILES_DIR/sis-watcher-$name.conf
    say "writing $target"
    if ((!dry_run)); then
        install -d -m 0755 "$R$INSTANCE_TMPFILES_DIR"
        sed "s/@INSTANCE@/$name/g" "$here/tmpfiles.d/sis-watcher-instance.conf.in" >"$target.new"
        chmod 0644 "$target.new"
        mv -f "$target.new" "$target"
    fi
done

# --- 2. User, group and folders ------------------------------------------------------------------
# A bare file name is looked up in the sysusers.d/tmpfiles.d folders (under --root when given).
root_option=()
[[ -z $R ]] || root_option=(--root="$R")
run systemd-sysusers "${root_option[@]}" sis-watcher.conf
run systemd-tmpfiles --create "${root_option[@]}" sis-watcher.conf "${instance_tmpfiles[@]}"

# --- 3. The venv ---------------------------------------------------------------------------------
if ((!dry_run)) && "$R$VENV/bin/python" -c '' 2>/dev/null; then
    say "reusing the venv $R$VENV"
else
    # --clear: a venv whose Python is gone (an OS upgrade) is rebuilt rather than patched.
    run "$python" -m venv --clear "$R$VENV"
fi
pip=("$R$VENV/bin/python" -m pip --disable-pip-version-check --no-input)
run "${pip[@]}" install --upgrade "$package"
# The same version again (a rebuilt wheel, a changed checkout) must still replace the code.
run "${pip[@]}" install --force-reinstall --no-deps "$package"

# --- 4. Config and token -------------------------------------------------------------------------
group_id() {
    local gid
    gid=$(awk -F: -v name="$SERVICE_USER" '$1 == name { print $3 }' "$R/etc/group" 2>/dev/null)
    if [[ -z $gid && -z $R ]]; then
        gid=$(getent group "$SERVICE_USER" | cut -d: -f3)
    fi
    [[ -n $gid ]] || die "group $SERVICE_USER not found in $R/etc/group"
    printf '%s\n' "$gid"
}

token_help=()
for index in "${!units[@]}"; do
    config=${configs[index]} token=${tokens[index]}
    if [[ -e $R$config ]]; then
        say "keeping $R$config"
    elif [[ -f $config_example ]]; then
        say "creating $R$config from $config_example"
        if ((!dry_run)); then
            gid=$(group_id)
            if ((${#instances[@]})); then
                # An instance gets its own folders, as the template unit expects.
                name=${units[index]#sis-watcher@} name=${name%.service}
                sed "s#/var/lib/sis-watcher/\(drop\|queue\|done\|failed\)#/var/lib/sis-watcher/$name/\1#g" \
                    "$config_example" >"$R$config.new"
            else
                cp -- "$config_example" "$R$config.new"
            fi
            chown "0:$gid" "$R$config.new"
            chmod 0640 "$R$config.new"
            mv -n -- "$R$config.new" "$R$config"
            rm -f -- "$R$config.new"
        fi
    else
        warn "no $config_example to copy: write $config yourself (0640 root:$SERVICE_USER)"
    fi
    # The unit can write only the folders in its ReadWritePaths=; say so if the config differs.
    if [[ -f $R$config ]]; then
        case ${units[index]} in
        sis-watcher@*) name=${units[index]#sis-watcher@} && state=/var/lib/sis-watcher/${name%.service} ;;
        *) state=/var/lib/sis-watcher ;;
        esac
        for folder in "$state/drop" "$state/queue" "$state/done" "$state/failed"; do
            grep -q -- "$folder" "$R$config" ||
                warn "$config does not use $folder: its folders need ReadWritePaths= in a drop-in (systemctl edit ${units[index]})"
        done
    fi
    if [[ -e $R$token ]]; then
        mode=$(stat -c '%a %u' -- "$R$token")
        [[ $mode == "600 0" ]] || warn "$token should be mode 0600 and owned by root (it is $mode)"
    else
        token_help+=("$token")
    fi
done

# --- 5. systemd ----------------------------------------------------------------------------------
systemd_running=0
if ((offline)); then
    say "--root given: no daemon-reload; units are enabled inside $R only"
elif [[ -d /run/systemd/system ]]; then
    systemd_running=1
    run systemctl daemon-reload
else
    say "systemd is not running here (no /run/systemd/system): skipping systemctl daemon-reload, enable and start"
fi

failed=0
for index in "${!units[@]}"; do
    unit=${units[index]} config=${configs[index]}
    if ((check)); then
        binary=$R$VENV/bin/sis-watcher
        if ((offline)); then
            as_user=()
        else
            # As the service user, so that folder permissions are checked as the daemon sees them.
            as_user=(runuser -u "$SERVICE_USER" --)
        fi
        say "checking $R$config"
        if ! run "${as_user[@]}" "$binary" check -c "$R$config" --offline; then
            warn "the offline check of $R$config failed: fix it, then run install.sh again"
            failed=1
            continue
        fi
    fi
    if ((!enable)); then
        continue
    fi
    if ((offline)); then
        run systemctl --root="$R" enable "$unit"
        ((!start)) || say "not starting $unit: --root given"
    elif ((systemd_running)); then
        run systemctl enable "$unit"
        if ((!start)); then
            continue
        elif [[ ! -e ${tokens[index]} ]]; then
            say "not starting $unit: no token in ${tokens[index]} yet"
        elif ! run systemctl restart "$unit"; then
            warn "$unit did not start: see systemctl status $unit"
            failed=1
        fi
    fi
done

# --- Next steps ----------------------------------------------------------------------------------
for token in "${token_help[@]}"; do
    say "no Canvas token yet: put it in $token (mode 0600, owner root), for example:"
    say "    sudo sh -c 'umask 077 && cat > $token'   # paste the token, then Ctrl-D"
done
if ((${#token_help[@]})) && ((!offline)); then
    say "the unit cannot start without it (LoadCredential= fails with status 243/CREDENTIALS)"
fi
if ((failed)); then
    exit 1
fi
say "done${R:+ (under $R)}"
if ((!start)) && ((enable)) && ((systemd_running)); then
    say "start with: systemctl start ${units[*]}"
fi
