#!/bin/sh
# Install the system pieces the container runtimes need, as root, on Debian bookworm:
# the local registry and image tools from bookworm, and apptainer from Debian sid relocated onto
# a private copy of sid's libc (bookworm has no apptainer package; sid's needs glibc >= 2.38).
# The browser tests need chromium and its driver, and Node.js for the test OIDC provider.
# docker-compose only checks docker/compose.yaml in the tests (tests/scripts/test_compose.py).
# Idempotent: a fast no-op when everything is present.
set -eu

PREFIX=${PROMINENCE_APPTAINER_PREFIX:-/opt/prominence/apptainer}
BINLINK=/usr/local/bin/apptainer
# passt: `pasta`, the user-mode network of each job's namespace (only the API's port on loopback).
# openmpi-bin, mpich and their -dev: the MPI test images (scripts/mpi_image.py) are built from them.
# iproute2 and socat: worker hosts' namespaces and the relays over their links (scripts/stack_hosts.py).
# squashfuse: apptainer, run as a job's uid, mounts the SIF instead of unpacking it (unsquashfs)
# into a temporary folder at every task's start (see allow_fuse).
PACKAGES="python3-venv postgresql-client time docker-registry skopeo umoci busybox-static proot patchelf squashfs-tools uidmap
e2fsprogs ca-certificates passt docker-compose chromium chromium-driver openmpi-bin libopenmpi-dev mpich libmpich-dev
iproute2 socat squashfuse"
SID_PACKAGES="apptainer libc6 libseccomp2 libsqlite3-0"
ARCH_LIBDIR=lib/x86_64-linux-gnu

log() { echo "install-system: $*" >&2; }

[ "$(id -u)" = 0 ] || { log "must run as root"; exit 1; }

install_debian_packages() {
    missing=
    for pkg in $PACKAGES; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
        [ "$status" = "install ok installed" ] || missing="$missing $pkg"
    done
    # A Node.js of another origin (say, NodeSource's, which bundles npm) is used as it is.
    command -v node >/dev/null && command -v npm >/dev/null || missing="$missing nodejs npm"
    [ -n "$missing" ] || return 0
    log "installing$missing"
    apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# The package's own service would bind :5000 on all interfaces with its default config;
# the stack starts its own registry on loopback instead.
disable_registry_service() {
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
        if systemctl is-enabled --quiet docker-registry.service 2>/dev/null ||
            systemctl is-active --quiet docker-registry.service 2>/dev/null; then
            log "disabling the docker-registry service"
            systemctl disable --now docker-registry.service >/dev/null 2>&1 || true
        fi
    elif [ -x /etc/init.d/docker-registry ]; then
        if ls /etc/rc[2-5].d/S*docker-registry >/dev/null 2>&1; then
            log "disabling the docker-registry init script"
            update-rc.d docker-registry disable >/dev/null 2>&1 || true
        fi
        if [ -f /var/run/docker-registry.pid ] || [ -f /run/docker-registry.pid ]; then
            /etc/init.d/docker-registry stop >/dev/null 2>&1 || true
        fi
    fi
}

# An apptainer or singularity that is not ours (e.g. a site install) is used as is.
system_apptainer() {
    for name in apptainer singularity; do
        path=$(command -v "$name" 2>/dev/null) || continue
        case "$(readlink -f "$path")" in
            "$PREFIX"/*) ;;
            *) echo "$path"; return 0 ;;
        esac
    done
    return 1
}

# The Debian archive URI already configured for bookworm, so sid comes from the same mirror.
debian_mirror() {
    uri=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
        /etc/apt/sources.list.d/*.sources |
        grep -oE '(https?|file):/+[^ ]*/debian/?( |$)' | grep -v security | head -n1 | tr -d ' ')
    echo "${uri:-http://deb.debian.org/debian}"
}

# Download sid's .debs through apt with a private sources list, state and cache, so the
# system's apt configuration never sees sid.
fetch_sid_debs() {
    dest=$1
    apt_dir=$dest/apt
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$dest/debs"
    cat >"$apt_dir/sid.sources" <<EOF
Types: deb
URIs: $(debian_mirror)
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    set -- -q -o "Dir::Etc::SourceList=$apt_dir/sid.sources" -o Dir::Etc::SourceParts=/nonexistent \
        -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" \
        -o Dir::State::status=/dev/null -o APT::Sandbox::User=root
    apt-get "$@" update >/dev/null
    # shellcheck disable=SC2086
    (cd "$dest/debs" && apt-get "$@" download $SID_PACKAGES >/dev/null)
}

# Lay the sid packages out as a relocatable install: apptainer finds its config, starter and
# session dir relative to its own binary (the starter looks one level up from lib/, hence the
# lib/var link). The binaries are pointed at the private libc with an RPATH (not RUNPATH) so
# that their libraries' own dependencies resolve there too.
install_apptainer() {
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    log "fetching apptainer and its libc from Debian sid"
    fetch_sid_debs "$work"
    root=$work/root
    for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$root"; done

    stage=$PREFIX.new
    rm -rf "$stage"
    mkdir -p "$stage/libc" "$stage/$ARCH_LIBDIR" "$stage/var"
    cp -a "$root/usr/bin" "$stage/bin"
    cp -a "$root/usr/$ARCH_LIBDIR/apptainer" "$stage/$ARCH_LIBDIR/apptainer"
    mkdir -p "$stage/etc"
    cp -a "$root/etc/apptainer" "$stage/etc/apptainer"
    cp -a "$root/var/lib" "$stage/var/lib"
    ln -s ../var "$stage/lib/var"
    # Run as a job's uid, apptainer unpacks the SIF with a helper that reads etc/ from there too.
    ln -s ../etc "$stage/lib/etc"
    cp -a "$root/usr/$ARCH_LIBDIR"/*.so* "$stage/libc/"
    for bin in "$stage/bin/apptainer" "$stage/$ARCH_LIBDIR"/apptainer/bin/starter*; do
        patchelf --set-interpreter "$PREFIX/libc/ld-linux-x86-64.so.2" \
            --force-rpath --set-rpath "$PREFIX/libc" "$bin"
    done
    # Root here lacks CAP_SYS_RESOURCE and there is no systemd to delegate cgroups.
    sed -i -e 's/^root default capabilities = .*/root default capabilities = no/' \
        -e 's/^systemd cgroups = .*/systemd cgroups = no/' "$stage/etc/apptainer/apptainer.conf"
    dpkg-deb -f "$work/debs"/apptainer_*.deb Version >"$stage/.version"

    rm -rf "$PREFIX.old"
    [ ! -e "$PREFIX" ] || mv "$PREFIX" "$PREFIX.old"
    mv "$stage" "$PREFIX"
    rm -rf "$PREFIX.old"
    ln -sfn "$PREFIX/bin/apptainer" "$BINLINK"
    "$BINLINK" version >/dev/null
    log "apptainer $(cat "$PREFIX/.version") installed in $PREFIX"
}

ensure_apptainer() {
    if existing=$(system_apptainer); then
        log "using the system's $existing"
        return 0
    fi
    if [ -f "$PREFIX/.version" ] && "$PREFIX/bin/apptainer" version >/dev/null 2>&1; then
        [ -e "$PREFIX/lib/etc" ] || ln -s ../etc "$PREFIX/lib/etc"
        [ "$(readlink "$BINLINK" 2>/dev/null)" = "$PREFIX/bin/apptainer" ] ||
            ln -sfn "$PREFIX/bin/apptainer" "$BINLINK"
        return 0
    fi
    install_apptainer
}

# A stack's components log in to PostgreSQL as a role of their own, a member of the group
# prominence_stacks (scripts/stack_database.py): on each local cluster, that group must give its
# password whatever the rules after these say (pg_hba.conf's first matching line decides).
# Without a local PostgreSQL server there is nothing to do.
PG_HBA_RULES="local all +prominence_stacks scram-sha-256
host all +prominence_stacks 127.0.0.1/32 scram-sha-256
host all +prominence_stacks ::1/128 scram-sha-256"

require_stack_passwords() {
    command -v pg_lsclusters >/dev/null || return 0
    pg_lsclusters -h | while read -r version cluster _port status _rest; do
        hba=/etc/postgresql/$version/$cluster/pg_hba.conf
        [ -f "$hba" ] || continue
        missing=$(echo "$PG_HBA_RULES" | while read -r rule; do
            awk -v rule="$rule" '{ $1 = $1 } $0 == rule { found = 1 } END { exit !found }' "$hba" || echo "$rule"
        done)
        [ -n "$missing" ] || continue
        log "asking the password of prominence_stacks in $hba"
        awk -v rules="$missing" '
            !done && $0 !~ /^[[:space:]]*(#|$)/ { print rules; done = 1 }
            { print }
            END { if (!done) print rules }' "$hba" >"$hba.new"
        chown --reference="$hba" "$hba.new"
        chmod --reference="$hba" "$hba.new"
        mv "$hba.new" "$hba"
        case $status in
            online*) pg_ctlcluster "$version" "$cluster" reload ;;
        esac
    done
}

# With squashfuse on PATH apptainer mounts every SIF with it, and fails where the job's uid cannot
# open /dev/fuse. Debian's udev gives it mode 0666; a machine without udev (a container) has 0600.
allow_fuse() {
    [ -c /dev/fuse ] || return 0
    case $(stat -c %a /dev/fuse) in
        666) ;;
        *) log "making /dev/fuse usable by job uids (mode 0666, as Debian's udev sets it)"; chmod 0666 /dev/fuse ;;
    esac
}

install_debian_packages
allow_fuse
disable_registry_service
ensure_apptainer
require_stack_passwords
