#!/usr/bin/env bash
# Builds the repository's Dockerfile with podman on a machine that has neither a container registry
# nor a Docker engine, then runs a command inside the built image. scripts/container-test.sh uses it.
#
#   scripts/container-check.sh [--tag NAME] [-- COMMAND ARGS...]
#
# 1. Installs podman and debootstrap from Debian's packages when they are missing.
# 2. Makes the base image debian:bookworm-slim locally from a minimal Debian 12 tree (debootstrap),
#    once per machine, since no registry can be reached to pull it.
# 3. Builds the Dockerfile (chroot isolation: no daemon and no cgroups needed).
# 4. Prints the image's user, entrypoint, command, volumes and size, unpacks it into a temporary
#    folder and runs COMMAND there under chroot, as root (chroot does not honour the image's USER:
#    read it from the printed line). Default COMMAND: list the installed hookless programs.
# Exit status: the build's when it failed, else COMMAND's. Needs root (debootstrap, mount, chroot).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tag=hookless:check
while [[ $# -gt 0 ]]; do
  case $1 in
    --tag) tag=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "container-check: unknown argument $1 (expected --tag NAME or -- COMMAND...)" >&2; exit 2 ;;
  esac
done
cd "$root"

missing=()
command -v podman >/dev/null || missing+=(podman)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if ((${#missing[@]})); then
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi

base=docker.io/library/debian:bookworm-slim
if ! podman image exists "$base"; then
  tree=$(mktemp -d -t container-check-base.XXXXXX)
  log=${TMPDIR:-/tmp}/container-check-debootstrap.log
  echo "container-check: making $base from a minimal Debian 12 tree (a few minutes, once per machine)" >&2
  debootstrap --variant=minbase bookworm "$tree" >"$log" 2>&1 ||
    { echo "container-check: debootstrap failed, see $log" >&2; exit 1; }
  tar -C "$tree" -c . | podman import - "$base" >/dev/null
  rm -rf --one-file-system "$tree"
fi

podman --cgroup-manager=cgroupfs build --pull=never --isolation=chroot -t "$tag" .
podman image inspect "$tag" --format 'image {{.Id}}: user={{.Config.User}} entrypoint={{.Config.Entrypoint}} cmd={{.Config.Cmd}} volumes={{.Config.Volumes}} size={{.Size}}'

image_root=$(mktemp -d -t container-check-root.XXXXXX)
cleanup() {
  umount "$image_root/proc" "$image_root/dev" 2>/dev/null || true
  rm -rf --one-file-system "$image_root"  # never into /proc or /dev, should an umount have failed
}
trap cleanup EXIT
container=$(podman create "$tag" true)
podman export "$container" | tar -C "$image_root" -x
podman rm "$container" >/dev/null
mount --bind /proc "$image_root/proc" 2>/dev/null || true
mount --bind /dev "$image_root/dev" 2>/dev/null || true
status=0
if [[ $# -gt 0 ]]; then
  chroot "$image_root" "$@" || status=$?
else
  chroot "$image_root" sh -c 'ls -l /usr/local/bin /usr/bin/hookless* 2>/dev/null' || status=$?
fi
exit "$status"
