#!/usr/bin/env bash
# A stand-in for python:3.11-slim-bookworm, built from Debian's packages, for machines that reach
# Debian's mirror but not Docker Hub (the development and CI machines of this project).
#
#   tools/docker_base.sh                 # builds actbench-standin/python:3.11-slim-bookworm (skips if present)
#   tools/docker_base.sh --force         # rebuilds it
#   docker build --build-arg BASE_IMAGE=actbench-standin/python:3.11-slim-bookworm -t actbench .
#
# Why it exists: the Dockerfile builds FROM the official python:3.11-slim-bookworm, pinned by digest,
# and `make docker-check` must build and run that Dockerfile for real where Docker Hub cannot be
# pulled. Everything in the Dockerfile stays as users build it; only its BASE_IMAGE argument names
# this image instead. Users never need this script.
#
# What it is: `debootstrap --variant=minbase bookworm` plus python3 (3.11), python3-venv,
# ca-certificates, netbase and tzdata (the runtime packages of the official image), upgraded from
# bookworm-updates and bookworm-security, slimmed and configured the way Debian's slim images are (no
# docs, man pages or locales, now and for later installs; apt keeps no downloaded packages), then
# `docker import`ed. `python`, `python3` and
# `pip` are /usr/local/bin, as in the official image: /usr/local is a venv of Debian's python3, so
# `pip install` works as root without --break-system-packages and installs into
# /usr/local/lib/python3.11/site-packages, where the official image's pip installs. ENV PATH,
# LANG=C.UTF-8 and CMD ["python3"] are the official image's.
#
# How it differs from the official image: Python is Debian's 3.11.2 (with Debian's security
# patches), not a 3.11.x built from python.org sources; pip is Debian's 23.0.1 and setuptools
# 66.1.1 (no wheel); there is no GPG_KEY/PYTHON_VERSION/PYTHON_SHA256 in the environment, and the
# packages are today's bookworm, not those of the digest's date. And it trusts this machine's
# extra CA certificates (the files update-ca-certificates installed from
# /usr/local/share/ca-certificates, when there are any), because package registries are reached
# here through a TLS-intercepting proxy and pip inside the build must verify it. The certificates
# are added here, in the stand-in only: the project's Dockerfile adds none, and an image built on
# the official base contains none of this machine's.
#
# Environment: DOCKER (the client, default docker), ACTBENCH_BASE_IMAGE (the tag),
# ACTBENCH_DOCKER_ROOT (where the root filesystem is assembled: needs ~300 MB, removed at the end),
# DEBIAN_MIRROR (default http://deb.debian.org/debian), DEBIAN_SECURITY_MIRROR.
set -euo pipefail

DOCKER=${DOCKER:-docker}
TAG=${ACTBENCH_BASE_IMAGE:-actbench-standin/python:3.11-slim-bookworm}
WORK_ROOT=${ACTBENCH_DOCKER_ROOT:-/var/lib/actbench-docker}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
HOST_CERTS=/usr/local/share/ca-certificates

if [[ ${1:-} != --force ]] && "$DOCKER" image inspect "$TAG" >/dev/null 2>&1; then
  echo "docker_base: $TAG exists (--force rebuilds it)"
  exit 0
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  echo "docker_base: debootstrap is missing: apt-get install debootstrap" >&2
  exit 1
fi

start=$SECONDS
mkdir -p "$WORK_ROOT"
rootfs=$(mktemp -d "$WORK_ROOT/standin-rootfs.XXXXXX")
log=$rootfs.log
trap 'rm -rf "$rootfs" "$log"' EXIT
chmod 755 "$rootfs" # the image's / (mktemp makes it 0700)
# Runs a step, its output in the log, shown only if it fails.
quiet() { "$@" >>"$log" 2>&1 || { tail -20 "$log" >&2; exit 1; }; }

quiet debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,netbase,tzdata \
  bookworm "$rootfs" "$MIRROR"

# The apt sources of the official Debian images, and their slimming (debuerreotype's excludes).
rm -f "$rootfs/etc/apt/sources.list"
cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/info/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/man/*
EOF
cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
echo 'Acquire::GzipIndexes "true";' >"$rootfs/etc/apt/apt.conf.d/docker-gzip-indexes"
echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$rootfs/etc/apt/apt.conf.d/docker-autoremove-suggests"

# This machine's extra CA certificates, before anything in the image reaches a registry.
if compgen -G "$HOST_CERTS/*.crt" >/dev/null || compgen -G "$HOST_CERTS/*/*.crt" >/dev/null; then
  cp -a "$HOST_CERTS/." "$rootfs/usr/local/share/ca-certificates/"
  quiet chroot "$rootfs" update-ca-certificates
  echo "docker_base: added this machine's CA certificates from $HOST_CERTS (stand-in only)"
fi

quiet chroot "$rootfs" sh -c 'export DEBIAN_FRONTEND=noninteractive;
  apt-get update -qq && apt-get upgrade -y -qq && apt-get clean'
quiet chroot "$rootfs" python3 -m venv /usr/local
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/log/*.log \
  "$rootfs"/usr/share/info/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/groff/* \
  "$rootfs"/usr/share/lintian/* "$rootfs"/usr/share/linda/* "$rootfs"/tmp/*
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
find "$rootfs" -name __pycache__ -type d -prune -exec rm -rf {} +
: >"$rootfs/etc/resolv.conf"
: >"$rootfs/etc/hostname"

tar --numeric-owner --xattrs -C "$rootfs" -c . | "$DOCKER" import \
  --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'LABEL org.opencontainers.image.description="stand-in for python:3.11-slim-bookworm (tools/docker_base.sh), not for distribution"' \
  --change 'CMD ["python3"]' \
  - "$TAG" >/dev/null
python=$("$DOCKER" run --rm "$TAG" python --version)
pip=$("$DOCKER" run --rm "$TAG" pip --version | cut -d' ' -f1-2)
size=$("$DOCKER" image inspect --format '{{.Size}}' "$TAG")
echo "docker_base: built $TAG ($python, $pip, $((size / 1000000)) MB) in $((SECONDS - start)) s"
