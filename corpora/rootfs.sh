#!/bin/bash
# A rootfs-like image pair, built deterministically: two ext4 images of the
# same set of Debian packages, where four packages moved to their next
# security release (libssl3, openssl, python3.11-minimal, perl-base) and
# four stayed (coreutils, bash, zstd, libzstd1).  Firmware partitions look
# like this: most blocks unchanged at the same offset, changed files in
# place or relocated by the file system.
#   corpora/rootfs.sh DEST_DIR      -> DEST_DIR/rootfs/{old,new}
# The .deb files are fetched with apt-get download by exact version and
# checked against the sha256 below.  The trees are unpacked on tmpfs (its
# readdir order is the creation order, so mkfs sees the same order on every
# machine) and made into images with a fixed size, UUID, hash seed and
# times.  Two builds give the same files at the same blocks; they differ
# only in the inode change times (mke2fs 1.47.0 copies the tree's ctime,
# which no tool sets) and the checksums over them, about 0.01% of bytes.
# The images depend on the mke2fs version (Debian 12: 1.47.0).
set -euo pipefail
dest=${1:?usage: corpora/rootfs.sh DEST_DIR}
out=$dest/rootfs
[[ -s $out/old && -s $out/new ]] && { echo "rootfs: $out/{old,new} present"; exit 0; }

# package=version sha256, for both images (same) or one of them
common="coreutils=9.1-1 61038f857e346e8500adf53a2a0a20859f4d3a3b51570cc876b153a2d51a3091
bash=5.2.15-2+b13 82130bb6a560cd2a7234d8018baf73f188f5dd56413d5aa0accc987b2197a6a1
zstd=1.5.4+dfsg2-5 3f6f833ae2fd533a0c9238310aef1148f51a64aa5d5f1278451ddc793d4d6d15
libzstd1=1.5.4+dfsg2-5 6315b5ac38b724a710fb96bf1042019398cb656718b1522279a5185ed39318fa"
old="libssl3=3.0.20-1~deb12u2 89be24b41bff568ee6e7caf5680a3d808e80315ed92e407056ce0fa7a5bda025
openssl=3.0.20-1~deb12u2 4d218561dc838de081de97f54584c4a29e77e26c7ed9fe3440d776d8e6071bf9
python3.11-minimal=3.11.2-6+deb12u8 4aba533f7cc5e7b93b7ff24482840e96813f5bcde9cce028395b65a0d799ccee
perl-base=5.36.0-7+deb12u3 8ec874926e211807cde71e1b0a2311d2534ab3539dffcb2c8553633f542efc1a"
new="libssl3=3.0.22-1~deb12u2 cb4784740daa9b3b0eaea2b444bbefa686794afbbf3d678d238c1fd9875f2efd
openssl=3.0.22-1~deb12u2 5cdf0b735b1c8a96ae0bf83ed328c83c2170f8320dedb035e98705b60b2d0cfe
python3.11-minimal=3.11.2-6+deb12u9 b5f855ab922dfcd5d1a3223b2118c3dae13ffc7751b0cd5dc24740386323a33a
perl-base=5.36.0-7+deb12u4 d7d1943aec9597629bf73075efcc5ef6dc9bda96d78e80d843156ecd448478b8"

command -v mkfs.ext4 >/dev/null || { apt-get update -q >/dev/null; apt-get install -y -q e2fsprogs >/dev/null; }
work=$(mktemp -d /tmp/updelta-rootfs.XXXXXX)
shm=$(mktemp -d /dev/shm/updelta-rootfs.XXXXXX)
trap 'rm -rf "$work" "$shm"' EXIT
chown _apt:root "$work" 2>/dev/null || true

# fetch LIST: every deb of LIST into $work, checked
fetch() {
    local pv sum deb
    while read -r pv sum; do
        # apt names the file PACKAGE_VERSION_ARCH.deb (no epochs here)
        deb=$(compgen -G "$work/${pv%%=*}_${pv#*=}_*.deb" | head -1 || true)
        if [[ -z $deb ]]; then
            (cd "$work" && apt-get download -q "$pv" >/dev/null 2>&1) ||
                { apt-get update -q >/dev/null; (cd "$work" && apt-get download -q "$pv" >/dev/null); }
            deb=$(compgen -G "$work/${pv%%=*}_${pv#*=}_*.deb" | head -1)
        fi
        echo "$sum  $deb" | sha256sum -c --quiet - || { echo "rootfs: $pv: sha256 mismatch" >&2; exit 1; }
        echo "$deb"
    done <<<"$1"
}

# image NAME LIST: unpack LIST (in order) on tmpfs and make NAME.img
image() {
    local tree=$shm/$1 deb
    mkdir -p "$tree"
    while read -r deb; do
        dpkg-deb -x "$deb" "$tree"
    done < <(fetch "$2")
    # directories get the time of the unpacking: one time for everything
    find "$tree" -exec touch -h -d @1700000000 {} +
    E2FSPROGS_FAKE_TIME=1700000000 mkfs.ext4 -q -F -t ext4 -b 4096 -I 256 -N 8192 -m 0 \
        -U 2f6b1c2e-8a4d-4d2b-9a7e-3c1d5e7f9a0b \
        -E hash_seed=5e3c2a10-7b4f-4e8d-a1c6-0f9e8d7c6b5a,lazy_itable_init=0,lazy_journal_init=0,root_owner=0:0 \
        -d "$tree" "$work/$1.img" 96M >/dev/null
}

image old "$common
$old"
image new "$common
$new"
mkdir -p "$out"
mv "$work/old.img" "$out/old"
mv "$work/new.img" "$out/new"
echo "rootfs: $out/old and $out/new ($(stat -c %s "$out/old") bytes each)"
sha256sum "$out/old" "$out/new"
