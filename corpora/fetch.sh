#!/usr/bin/env bash
# fetch.sh - fetch the real old/new binary pairs listed in pairs.tsv.
#
#   fetch.sh [--list] [--pairs NAME,NAME] [--print-pins] DEST_DIR
#
# For each pair the old and new package archive is fetched by exact version
# (npm: `npm pack NAME@VERSION`; Debian: `apt-get download PKG=VERSION`), its
# sha256 is checked against the pin, and one member file is extracted to
# DEST_DIR/<pair>/old and DEST_DIR/<pair>/new.  Extracted files are pinned
# too, so a second run that finds them intact fetches nothing.
#
# --print-pins fetches without enforcing pins and prints a pairs.tsv line
# with the observed hashes: the way to add or re-pin a pair.  Check the
# result by hand before committing it.
#
# Exit status: 0 ok, 1 fetch/verify failure, 2 usage error.
# Meant for a fresh Debian 12 as root: installs npm and ca-certificates with
# apt-get when they are missing, and adds a pair's foreign architecture
# (PKG:arm64) to dpkg, with an apt-get update, when it is not there.

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
manifest=${UPDELTA_PAIRS_TSV:-$here/pairs.tsv}
prog=$(basename "$0")

die() { echo "$prog: $*" >&2; exit 1; }
usage_err() {
    echo "$prog: $*" >&2
    echo "usage: $prog [--list] [--pairs NAME,NAME] [--print-pins] DEST_DIR" >&2
    exit 2
}
note() { echo "$prog: $*" >&2; }

# Tool output can name the servers it talked to; this project's messages
# must not, so everything relayed from apt-get or npm goes through here.
scrub() { sed -E 's#[A-Za-z][A-Za-z0-9+.-]*://[^[:space:]]+#<url>#g'; }

# ---------------------------------------------------------------- manifest

# Columns (tab-separated, no empty fields; "-" marks an unset pin).
declare -a P_NAME P_KIND P_SRC P_PKG P_OLDV P_NEWV P_MEMBER \
    P_OLD_AR P_NEW_AR P_OLD_SHA P_NEW_SHA P_DESC
load_manifest() {
    local line n=0 f
    [[ -r $manifest ]] || die "cannot read manifest $manifest"
    while IFS= read -r line || [[ -n $line ]]; do
        [[ -z $line || $line == \#* ]] && continue
        IFS=$'\t' read -r -a f <<<"$line"
        [[ ${#f[@]} -eq 12 ]] ||
            die "$manifest: pair line $((n + 1)) has ${#f[@]} fields, want 12"
        case ${f[2]} in npm | deb) ;; *) die "$manifest: ${f[0]}: unknown source '${f[2]}'" ;; esac
        P_NAME[n]=${f[0]} P_KIND[n]=${f[1]} P_SRC[n]=${f[2]} P_PKG[n]=${f[3]}
        P_OLDV[n]=${f[4]} P_NEWV[n]=${f[5]} P_MEMBER[n]=${f[6]}
        P_OLD_AR[n]=${f[7]} P_NEW_AR[n]=${f[8]} P_OLD_SHA[n]=${f[9]}
        P_NEW_SHA[n]=${f[10]} P_DESC[n]=${f[11]}
        n=$((n + 1))
    done <"$manifest"
    ((n > 0)) || die "$manifest lists no pairs"
}

# ---------------------------------------------------------------- helpers

sha256() { sha256sum "$1" | cut -d' ' -f1; }

is_root() { [[ $(id -u) -eq 0 ]]; }

apt_updated=0
apt_update_once() {
    ((apt_updated)) && return 0
    is_root || die "need root to run apt-get update"
    note "apt-get update"
    local log
    log=$(apt-get update -q 2>&1) || { echo "$log" | scrub >&2; die "apt-get update failed"; }
    apt_updated=1
}

apt_install() {
    is_root || die "missing $*; install it (needs root)"
    apt_update_once
    note "apt-get install -y $*"
    local log
    log=$(DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" 2>&1) ||
        { echo "$log" | scrub >&2; die "apt-get install $* failed"; }
}

need_tools() {
    local want_npm=$1 want_deb=$2 pkgs=()
    for t in sha256sum tar gzip; do
        command -v "$t" >/dev/null || die "required tool '$t' not found"
    done
    if ((want_npm)); then
        command -v npm >/dev/null || pkgs+=(npm)
    fi
    if ((want_deb)); then
        if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
            die "Debian pairs need apt-get and dpkg-deb"
        fi
    fi
    # TLS to the registries fails without the CA bundle on a minimal image.
    [[ -e /etc/ssl/certs/ca-certificates.crt ]] || pkgs+=(ca-certificates)
    ((${#pkgs[@]} == 0)) || apt_install "${pkgs[@]}"
}

# Prints the path of the fetched archive (inside $2) on stdout.
fetch_npm() {
    local spec=$1 dir=$2 log tgz
    log=$(cd "$dir" && npm_config_update_notifier=false npm_config_fund=false \
        npm_config_audit=false npm pack --ignore-scripts --loglevel=error "$spec" 2>&1) ||
        { echo "$log" | scrub >&2; die "npm pack $spec failed"; }
    tgz=$(find "$dir" -maxdepth 1 -name '*.tgz' -print)
    [[ -n $tgz && $(wc -l <<<"$tgz") -eq 1 ]] || die "npm pack $spec: expected one tarball in $dir"
    echo "$tgz"
}

# A foreign architecture's package (arm64 pairs: the firmware case) needs
# that architecture in dpkg's list and its index: added once, as root.
# The native one is asked for without its qualifier, as before.
apt_name() {
    local arch=${1#*:}
    [[ $1 == *:* && $arch != "$(dpkg --print-architecture)" ]] && echo "$1" || echo "${1%%:*}"
}

ensure_arch() {
    local arch=${1#*:}
    [[ $1 == *:* && $arch != "$(dpkg --print-architecture)" ]] || return 0
    dpkg --print-foreign-architectures | grep -qx "$arch" && return 0
    is_root || die "$1: needs the $arch architecture added to dpkg (root)"
    note "dpkg --add-architecture $arch"
    dpkg --add-architecture "$arch"
    apt_updated=0
    apt_update_once
}

apt_has_version() {
    local pkg ver=$2
    pkg=$(apt_name "$1")
    apt-cache madison "$pkg" 2>/dev/null | awk -F'|' -v v="$ver" \
        '{ gsub(/ /, "", $2); if ($2 == v) found = 1 } END { exit !found }'
}

# Runs in the main shell (not inside $(...)) so apt_update_once's flag sticks.
ensure_deb_version() {
    local pkg=$1 ver=$2
    ensure_arch "$pkg"
    apt_has_version "$pkg" "$ver" && return 0
    apt_update_once
    apt_has_version "$pkg" "$ver" ||
        die "$pkg $ver is not in the configured archive (superseded by a point release?); re-pin the pair"
}

fetch_deb() {
    local pkg=$1 ver=$2 dir=$3 log deb opts=()
    # As root apt drops to _apt to download; give _apt the directory so it
    # does not fall back to an unsandboxed download with a warning.  If _apt
    # still cannot write there (unusual TMPDIR), say so via the option
    # rather than printing apt's warning.
    if is_root && id _apt >/dev/null 2>&1; then
        chown _apt:root "$dir"
        if command -v runuser >/dev/null && ! runuser -u _apt -- test -w "$dir" 2>/dev/null; then
            opts=(-o APT::Sandbox::User=root)
        fi
    fi
    log=$(cd "$dir" && apt-get download -q "${opts[@]}" "$pkg=$ver" 2>&1) ||
        { echo "$log" | scrub >&2; die "apt-get download $pkg=$ver failed"; }
    deb=$(find "$dir" -maxdepth 1 -name '*.deb' -print)
    [[ -n $deb && $(wc -l <<<"$deb") -eq 1 ]] || die "apt-get download $pkg=$ver: expected one .deb in $dir"
    echo "$deb"
}

# extract SRC ARCHIVE MEMBER OUT
extract_member() {
    local src=$1 ar=$2 member=$3 out=$4
    case $src in
    npm) tar -xzOf "$ar" "$member" >"$out" ;;
    deb) dpkg-deb --fsys-tarfile "$ar" | tar -xOf - "./$member" >"$out" ;;
    esac
}

# ---------------------------------------------------------------- main

list=0 print_pins=0 want="" dest=""
while (($#)); do
    case $1 in
    --list) list=1 ;;
    --print-pins) print_pins=1 ;;
    --pairs)
        (($# >= 2)) || usage_err "--pairs needs a value"
        want=$2
        shift
        ;;
    --pairs=*) want=${1#--pairs=} ;;
    -h | --help)
        echo "usage: $prog [--list] [--pairs NAME,NAME] [--print-pins] DEST_DIR"
        exit 0
        ;;
    -*) usage_err "unknown option $1" ;;
    *)
        [[ -z $dest ]] || usage_err "more than one DEST_DIR"
        dest=$1
        ;;
    esac
    shift
done

load_manifest
npairs=${#P_NAME[@]}

if ((list)); then
    for ((i = 0; i < npairs; i++)); do
        printf '%-12s %-14s %s\n' "${P_NAME[i]}" "${P_KIND[i]}" "${P_DESC[i]}"
    done
    exit 0
fi
[[ -n $dest ]] || usage_err "missing DEST_DIR"

# Selection, in manifest order; unknown names are a usage error.
declare -a sel=()
if [[ -n $want ]]; then
    IFS=',' read -r -a names <<<"$want"
    for nm in "${names[@]}"; do
        found=-1
        for ((i = 0; i < npairs; i++)); do
            [[ ${P_NAME[i]} == "$nm" ]] && found=$i
        done
        ((found >= 0)) || usage_err "unknown pair '$nm' (see --list)"
    done
    for ((i = 0; i < npairs; i++)); do
        for nm in "${names[@]}"; do
            [[ ${P_NAME[i]} == "$nm" ]] && { sel+=("$i"); break; }
        done
    done
else
    for ((i = 0; i < npairs; i++)); do sel+=("$i"); done
fi

mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/updelta-fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT

side_ok() { # file pin
    [[ -f $1 && $2 != - && $(sha256 "$1") == "$2" ]]
}

tools_checked=0
failed=0
for i in "${sel[@]}"; do
    name=${P_NAME[i]} src=${P_SRC[i]} pkg=${P_PKG[i]} member=${P_MEMBER[i]}
    out=$dest/$name
    mkdir -p "$out"
    declare -A got_ar=() got_file=()
    for side in old new; do
        if [[ $side == old ]]; then
            ver=${P_OLDV[i]} ar_pin=${P_OLD_AR[i]} file_pin=${P_OLD_SHA[i]}
        else
            ver=${P_NEWV[i]} ar_pin=${P_NEW_AR[i]} file_pin=${P_NEW_SHA[i]}
        fi
        if side_ok "$out/$side" "$file_pin"; then
            got_ar[$side]=$ar_pin got_file[$side]=$file_pin
            note "$name/$side: present, sha256 ok"
            continue
        fi
        if ((!print_pins)) && [[ $ar_pin == - || $file_pin == - ]]; then
            note "$name/$side: not pinned in $manifest; run with --print-pins to pin it"
            failed=1
            continue
        fi
        if ((!tools_checked)); then
            want_npm=0 want_deb=0
            for j in "${sel[@]}"; do
                [[ ${P_SRC[j]} == npm ]] && want_npm=1
                [[ ${P_SRC[j]} == deb ]] && want_deb=1
            done
            need_tools "$want_npm" "$want_deb"
            tools_checked=1
        fi
        d=$work/$name-$side
        rm -rf "$d"
        mkdir -p "$d"
        note "$name/$side: fetching $pkg $ver"
        case $src in
        npm) ar=$(fetch_npm "$pkg@$ver" "$d") ;;
        deb)
            ensure_deb_version "$pkg" "$ver"
            ar=$(fetch_deb "$pkg" "$ver" "$d")
            ;;
        esac
        sum=$(sha256 "$ar")
        if ((!print_pins)) && [[ $sum != "$ar_pin" ]]; then
            note "$name/$side: ARCHIVE SHA256 MISMATCH for $pkg $ver"
            note "  expected $ar_pin"
            note "  got      $sum"
            failed=1
            continue
        fi
        got_ar[$side]=$sum
        extract_member "$src" "$ar" "$member" "$out/.$side.tmp" ||
            { rm -f "$out/.$side.tmp"; die "$name/$side: cannot extract $member from $pkg $ver"; }
        sum=$(sha256 "$out/.$side.tmp")
        if ((!print_pins)) && [[ $sum != "$file_pin" ]]; then
            rm -f "$out/.$side.tmp"
            note "$name/$side: EXTRACTED FILE SHA256 MISMATCH for $member of $pkg $ver"
            note "  expected $file_pin"
            note "  got      $sum"
            failed=1
            continue
        fi
        got_file[$side]=$sum
        mv -f "$out/.$side.tmp" "$out/$side"
        rm -rf "$d"
        note "$name/$side: ok ($(stat -c %s "$out/$side") bytes)"
    done
    if ((print_pins)); then
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
            "$name" "${P_KIND[i]}" "$src" "$pkg" "${P_OLDV[i]}" "${P_NEWV[i]}" \
            "$member" "${got_ar[old]:--}" "${got_ar[new]:--}" \
            "${got_file[old]:--}" "${got_file[new]:--}" "${P_DESC[i]}"
    fi
    unset got_ar got_file
done

if ((failed)); then
    die "some pairs failed verification (see above)"
fi

# Summary: sizes of what is now in DEST_DIR (on stderr with --print-pins,
# whose stdout is meant to be pasted into pairs.tsv).
summary() {
    printf '%-12s %12s %12s\n' pair old_bytes new_bytes
    for i in "${sel[@]}"; do
        name=${P_NAME[i]}
        printf '%-12s %12s %12s\n' "$name" \
            "$(stat -c %s "$dest/$name/old" 2>/dev/null || echo -)" \
            "$(stat -c %s "$dest/$name/new" 2>/dev/null || echo -)"
    done
}
if ((print_pins)); then summary >&2; else summary; fi
