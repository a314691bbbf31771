#!/bin/sh
# Build a tiny OCI image from Debian's busybox-static and push it to a local registry, so the
# runtimes have an image to pull with no public registry reachable.
# Usage: sample-image.sh REGISTRY_HOSTPORT [WORKDIR]
# Idempotent: the OCI layout is built once per WORKDIR; the push skips blobs already present.
# The last line printed is the full image reference.
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 REGISTRY_HOSTPORT [WORKDIR]" >&2
    exit 2
fi
REGISTRY=$1
WORKDIR=${2:-${TMPDIR:-/tmp}/prominence-sample-image}
NAME=prominence/busybox
TAG=latest
BUSYBOX=/bin/busybox
LAYOUT=$WORKDIR/oci

for tool in umoci skopeo; do
    command -v "$tool" >/dev/null || { echo "$tool not found: run scripts/install-system.sh" >&2; exit 1; }
done
[ -x "$BUSYBOX" ] || { echo "$BUSYBOX not found: install busybox-static" >&2; exit 1; }

build() {
    tmp=$WORKDIR/build.$$
    rm -rf "$tmp"
    mkdir -p "$tmp"
    umoci init --layout "$tmp/oci"
    umoci new --image "$tmp/oci:$TAG"
    umoci unpack --image "$tmp/oci:$TAG" "$tmp/bundle" >/dev/null
    rootfs=$tmp/bundle/rootfs
    mkdir -p "$rootfs/bin" "$rootfs/sbin" "$rootfs/usr/bin" "$rootfs/usr/sbin" "$rootfs/etc" \
        "$rootfs/home" "$rootfs/root" "$rootfs/tmp" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev"
    chmod 1777 "$rootfs/tmp"
    cp "$BUSYBOX" "$rootfs/bin/busybox"
    # Applet links (bin/sh, bin/echo, usr/bin/env, ...) point at /bin/busybox.
    "$BUSYBOX" --list-full | while read -r applet; do
        [ -e "$rootfs/$applet" ] || ln -s /bin/busybox "$rootfs/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
        >"$rootfs/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
    umoci repack --image "$tmp/oci:$TAG" "$tmp/bundle"
    umoci config --image "$tmp/oci:$TAG" --config.cmd /bin/sh \
        --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    umoci gc --layout "$tmp/oci"
    mv "$tmp/oci" "$LAYOUT"
    rm -rf "$tmp"
}

mkdir -p "$WORKDIR"
[ -f "$LAYOUT/index.json" ] || build >&2

REF=$REGISTRY/$NAME:$TAG
skopeo copy --quiet --dest-tls-verify=false "oci:$LAYOUT:$TAG" "docker://$REF" >&2
echo "$REF"
