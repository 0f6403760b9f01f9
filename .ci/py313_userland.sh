#!/usr/bin/env bash
# A Python 3.13 userland (Debian trixie) in a chroot, with two venvs of esjax from this tree:
#   /venv-test : pip install -e "/src[test]"  (gymnax caps jax < 0.12: resolves jaxlib 0.11.x)
#   /venv-plain: pip install -e /src          (resolves the newest jax, 0.12.x)
# Nothing is installed on the host except debootstrap. Idempotent: an existing DIR is reused,
# an existing venv is only re-synced with pip.
#
# Usage: bash .ci/py313_userland.sh [DIR]        (DIR defaults to /work/py313)
#        bash .ci/py313_userland.sh DIR -- CMD...  (set up, then run CMD in /src in the chroot,
#                                                  e.g. -- /venv-test/bin/python -m pytest -q)
# Mounts (/proc, /dev, the tree at /src, the host's local wheel folders) are undone on exit.
set -euo pipefail
DIR=/work/py313
if [[ $# -gt 0 && $1 != -- ]]; then DIR=$1; shift; fi
[[ ${1:-} == -- ]] && shift
SRC=$(cd "$(dirname "$0")/.." && pwd)

if [[ ! -x $DIR/usr/bin/python3 ]]; then
  command -v debootstrap >/dev/null || { apt-get update -qq; apt-get install -y -qq debootstrap; }
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    trixie "$DIR" http://deb.debian.org/debian
fi

# Network and pip set-up as on the host: same resolver, CA bundle, index, wheel folders.
cp -L /etc/resolv.conf "$DIR/etc/resolv.conf"
# jax.distributed (gloo over TCP) resolves this host's name: without /etc/hosts it fails.
cp -L /etc/hosts "$DIR/etc/hosts"
mkdir -p "$DIR/etc/ssl/certs" "$DIR/etc/xdg/pip" "$DIR/root/.config/pip"
[[ -f /etc/ssl/certs/ca-certificates.crt ]] && cp -L /etc/ssl/certs/ca-certificates.crt "$DIR/etc/ssl/certs/ca-certificates.crt"
for f in /etc/pip.conf /etc/xdg/pip/pip.conf /etc/xdg/pip/constraints.txt /root/.config/pip/pip.conf; do
  [[ -f $f ]] && cp -L "$f" "$DIR$f"
done

MOUNTS=()
bind() {  # bind SRC TARGET-inside-DIR
  mkdir -p "$DIR$2"
  mountpoint -q "$DIR$2" || { mount --bind "$1" "$DIR$2"; MOUNTS=("$DIR$2" "${MOUNTS[@]}"); }
}
cleanup() { for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" || true; done; }
trap cleanup EXIT
bind /proc /proc
bind /dev /dev
bind "$SRC" /src
for d in /opt/wheels /opt/pypi /opt/pypi-more; do [[ -d $d ]] && bind "$d" "$d"; done

CHROOT=$(PATH=$PATH:/usr/sbin:/sbin command -v chroot)
in_root() {  # the host's PIP_* variables come along; the rest of its environment does not
  env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 TMPDIR=/tmp \
    $(env | grep '^PIP_' || true) "$CHROOT" "$DIR" "$@"
}
in_root python3 --version
for v in test plain; do
  [[ -x $DIR/venv-$v/bin/python ]] || in_root python3 -m venv "/venv-$v"
done
in_root /venv-test/bin/pip install -q -e "/src[test]"
in_root /venv-plain/bin/pip install -q -e /src
for v in test plain; do
  in_root /venv-$v/bin/python -c "import sys, jax, jaxlib; print('venv-$v', sys.version.split()[0], 'jax', jax.__version__, 'jaxlib', jaxlib.__version__)"
done
if [[ $# -gt 0 ]]; then
  in_root /bin/sh -c 'cd /src && exec "$@"' sh "$@"
fi
