#!/bin/bash
# Run a bench against a slow disk: an ext4 file system on a loop device
# whose I/O the block layer throttles (cgroup blkio or io.max), so that the
# device rather than the CPU bounds it.  A firmware target's eMMC or NAND
# writes tens to a few hundred MB/s; a VM's virtual disk may write 1.5 GB/s,
# where the same bench measures mostly the CPU.
#
#   bench/slowdisk.sh [--write-mbps N] [--read-mbps N] [--size SIZE] -- CMD [ARG...]
#
# CMD runs inside the throttled cgroup; @DIR@ in any argument becomes the
# mounted directory (also in $SLOWDISK).  Example:
#   bench/slowdisk.sh --write-mbps 100 -- bench/io.sh --quick --dir @DIR@/io
#
# Needs root, losetup, mkfs.ext4 and either cgroup v1's blkio controller
# (blkio.throttle.*_bps_device) or cgroup v2's io controller (io.max).  With
# v1 the throttle sees the I/O a process submits itself (direct I/O, and the
# writeback its fsync, fdatasync or sync_file_range starts); writeback the
# kernel's flusher threads start on their own is not charged to the cgroup,
# so a run that never syncs is not throttled.  v2 charges that writeback too
# when the memory controller is on beside io (both are enabled here, and
# left enabled).  (The v2 branch follows the kernel's cgroup-v2
# documentation; the machine this was written on has v1, where it was run.)
set -euo pipefail

WMBPS=100 RMBPS=400 SIZE=4G
while [ $# -gt 0 ]; do
    case $1 in
        --write-mbps) WMBPS=$2; shift ;;
        --read-mbps) RMBPS=$2; shift ;;
        --size) SIZE=$2; shift ;;
        --) shift; break ;;
        *) echo "usage: bench/slowdisk.sh [--write-mbps N] [--read-mbps N] [--size SIZE] -- CMD [ARG...]" >&2
           exit 2 ;;
    esac
    shift
done
[ $# -gt 0 ] || { echo "slowdisk.sh: no command" >&2; exit 2; }
for n in "$WMBPS" "$RMBPS"; do
    [[ $n =~ ^[1-9][0-9]{0,5}$ ]] || { echo "slowdisk.sh: a rate is a whole number of MB/s, 1 or more: $n" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "slowdisk.sh: needs root (loop device, mount, cgroup)" >&2; exit 1; }

WORK=$(mktemp -d /var/tmp/slowdisk.XXXXXX)
LOOP= CG= MNT=$WORK/mnt CHILD=
cleanup() {
    set +e
    # the command first (a signal may have ended this script, not it)
    [ -n "$CHILD" ] && kill "$CHILD" 2>/dev/null && wait "$CHILD" 2>/dev/null
    mountpoint -q "$MNT" && { umount "$MNT" || umount -l "$MNT"; }
    [ -n "$LOOP" ] && losetup -d "$LOOP"
    [ -n "$CG" ] && rmdir "$CG" 2>/dev/null
    rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

truncate -s "$SIZE" "$WORK/disk.img"
# direct I/O to the backing file: its pages are not cached a second time
LOOP=$(losetup -f --show --direct-io=on "$WORK/disk.img")
# inode tables and the journal initialised now, not in the background during the bench
mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$LOOP"
mkdir -p "$MNT"
mount "$LOOP" "$MNT"
DEV=$(lsblk -dno MAJ:MIN "$LOOP" | tr -d ' ')
wbps=$((WMBPS * 1000000)) rbps=$((RMBPS * 1000000))

if [ -e /sys/fs/cgroup/blkio/blkio.throttle.write_bps_device ]; then
    CG=/sys/fs/cgroup/blkio/updelta-slowdisk.$$
    mkdir "$CG"
    echo "$DEV $wbps" > "$CG/blkio.throttle.write_bps_device"
    echo "$DEV $rbps" > "$CG/blkio.throttle.read_bps_device"
    how="cgroup v1 blkio"
elif grep -qw io /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
    echo "+memory +io" > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || {
        echo "slowdisk.sh: cannot enable the memory and io controllers in /sys/fs/cgroup" \
             "(inside a cgroup namespace or a container, /sys/fs/cgroup is not the root)" >&2
        exit 1
    }
    CG=/sys/fs/cgroup/updelta-slowdisk.$$
    mkdir "$CG"
    echo "$DEV wbps=$wbps rbps=$rbps" > "$CG/io.max"
    how="cgroup v2 io.max"
else
    echo "slowdisk.sh: no blkio (v1) or io (v2) cgroup controller to throttle with" >&2
    exit 1
fi
echo "slowdisk: $SIZE ext4 on $LOOP ($DEV), writes $WMBPS MB/s, reads $RMBPS MB/s ($how)" >&2

args=()
for a in "$@"; do args+=("${a//@DIR@/$MNT}"); done
export SLOWDISK=$MNT
# the command's process joins the cgroup before it starts; waited for in
# the background, so that a signal to this script reaches cleanup at once
bash -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' slowdisk "$CG" "${args[@]}" &
CHILD=$!
rc=0
wait "$CHILD" || rc=$?
CHILD=
exit "$rc"
