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
# times.  mke2fs 1.47.0 copies each file's change time from the tree, and
# no tool can set a ctime, so after mkfs debugfs sets the ctime of every
# inode in use to the same fixed time (and E2FSPROGS_FAKE_TIME pins the
# superblock times of both steps): two builds are byte-identical.  The
# images depend on the e2fsprogs version; on Debian 12's 1.47.0 they hash
# to the sums below, which the script checks and reports (a different
# e2fsprogs gives a warning, not a failure: the pair is still a fair pair).
# The .deb files stay in DEST_DIR/rootfs/debs, so a rebuild needs no network.
set -euo pipefail
dest=${1:?usage: corpora/rootfs.sh DEST_DIR}
out=$dest/rootfs
T=1700000000 # every time stamp in both images
declare -A want=([old]=4b1bfe5558ae6951f882e4e072ef8bbf7a3e2818f5338d5613849c90cef3c492
                 [new]=be3c00ab5215905c79ffb51e471e60c1965cae76c09a424283b4f4c7798d9e75)
# report: the images' sha256, and a warning where they are not the pinned ones
report() {
    local s sum
    for s in old new; do
        sum=$(sha256sum <"$out/$s" | cut -d' ' -f1)
        echo "$sum  $out/$s"
        [[ $sum == "${want[$s]}" ]] ||
            echo "rootfs: warning: $s is not the image e2fsprogs 1.47.0 builds (mke2fs here: $(mke2fs -V 2>&1 | awk 'NR == 1 { print $2 }'))" >&2
    done
}
if [[ -s $out/old && -s $out/new ]]; then
    echo "rootfs: $out/{old,new} present"
    report
    exit 0
fi

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
mkdir -p "$out/debs"
debs=$out/debs
work=$(mktemp -d /tmp/updelta-rootfs.XXXXXX)
shm=$(mktemp -d /dev/shm/updelta-rootfs.XXXXXX)
trap 'rm -rf "$work" "$shm"' EXIT
chown _apt:root "$debs" 2>/dev/null || true

# fetch LIST: every deb of LIST into $debs (unless there), checked
fetch() {
    local pv sum deb
    while read -r pv sum; do
        # apt names the file PACKAGE_VERSION_ARCH.deb (no epochs here)
        deb=$(compgen -G "$debs/${pv%%=*}_${pv#*=}_*.deb" | head -1 || true)
        if [[ -z $deb ]]; then
            (cd "$debs" && apt-get download -q "$pv" >/dev/null 2>&1) ||
                { apt-get update -q >/dev/null; (cd "$debs" && apt-get download -q "$pv" >/dev/null); }
            deb=$(compgen -G "$debs/${pv%%=*}_${pv#*=}_*.deb" | head -1)
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
    find "$tree" -exec touch -h -d @$T {} +
    E2FSPROGS_FAKE_TIME=$T mkfs.ext4 -q -F -t ext4 -b 4096 -I 256 -N 8192 -m 0 \
        -U 2f6b1c2e-8a4d-4d2b-9a7e-3c1d5e7f9a0b \
        -E hash_seed=5e3c2a10-7b4f-4e8d-a1c6-0f9e8d7c6b5a,lazy_itable_init=0,lazy_journal_init=0,root_owner=0:0 \
        -d "$tree" "$work/$1.img" 96M >/dev/null
    fix_ctimes "$work/$1.img"
}

# fix_ctimes IMG: ctime := $T on inode 2 and every inode in use from the
# first non-reserved one on (the in-use set is the complement of each
# group's "Free inodes" ranges in dumpe2fs)
fix_ctimes() {
    dumpe2fs "$1" 2>/dev/null | awk -v t="$T" '
        /^Inodes per group:/ { ipg = $4 }
        /^First inode:/ { first = $3 }
        /^Group [0-9]+:/ { g = $2 + 0 }
        /^  Free inodes:/ {
            delete fr
            n = split(substr($0, index($0, ":") + 2), r, ", ")
            for (j = 1; j <= n; j++) {
                m = split(r[j], ab, "-")
                for (x = ab[1]; x <= ab[m]; x++) fr[x] = 1
            }
            for (i = g * ipg + 1; i <= (g + 1) * ipg; i++)
                if (!(i in fr) && (i == 2 || i >= first)) printf "sif <%d> ctime @%d\n", i, t
        }' >"$work/ctime.cmds"
    # debugfs exits 0 whatever its commands did: any line but its banner is an error
    if ! E2FSPROGS_FAKE_TIME=$T debugfs -w -f "$work/ctime.cmds" "$1" >/dev/null 2>"$work/debugfs.err" ||
        grep -qv '^debugfs [0-9]' "$work/debugfs.err"; then
        cat "$work/debugfs.err" >&2
        echo "rootfs: debugfs failed on $1" >&2
        exit 1
    fi
    e2fsck -fn "$1" >/dev/null 2>&1 || { echo "rootfs: $1 fails e2fsck after setting ctimes" >&2; exit 1; }
}

image old "$common
$old"
image new "$common
$new"
mkdir -p "$out"
mv "$work/old.img" "$out/old"
mv "$work/new.img" "$out/new"
echo "rootfs: $out/old and $out/new ($(stat -c %s "$out/old") bytes each)"
report
