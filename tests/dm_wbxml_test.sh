#!/bin/sh
# Cross-checks the DM codec's WBXML against libwbxml's own tools
# (libwbxml2-utils), which share no code path with upd_dm_write's XML:
#   1. our WBXML of every sample, decoded by wbxml2xml, is the same XML
#      document as our XML (compared after xmllint --c14n, which settles
#      CDATA, quoting and the DOCTYPE libwbxml adds);
#   2. xml2wbxml's encoding of our XML and of a peer-style message parses
#      with our codec to exactly what the XML parses to;
#   3. the WBXML header is 02 A4 01 6A (WBXML 1.2, public id 0x1201, UTF-8).
#   dm_wbxml_test.sh DM_TOOL GOLDEN_DIR
set -eu
TOOL=$1
GOLDEN=$2
for t in wbxml2xml xml2wbxml xmllint; do
    command -v "$t" >/dev/null || { echo "dm_wbxml: $t missing (scripts/deps.sh)" >&2; exit 1; }
done
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT INT TERM
fail=0
bad() { echo "dm_wbxml: FAIL: $*" >&2; fail=1; }

for s in pkg1 pkg2 pkg3 nested chunk misc; do
    "$TOOL" sample "$s" xml >"$W/$s.xml"
    "$TOOL" sample "$s" wbxml >"$W/$s.wbxml"
    [ "$(head -c 4 "$W/$s.wbxml" | od -An -tx1 | tr -d ' \n')" = "02a4016a" ] \
        || bad "$s: WBXML header"
    # 1: libwbxml decodes our WBXML to our XML
    wbxml2xml -m 0 -k -o "$W/$s.lib.xml" "$W/$s.wbxml" >/dev/null 2>&1 \
        || { bad "$s: wbxml2xml refused our WBXML"; continue; }
    xmllint --nonet --c14n "$W/$s.xml" >"$W/$s.c14n" 2>/dev/null
    xmllint --nonet --c14n "$W/$s.lib.xml" >"$W/$s.lib.c14n" 2>/dev/null
    cmp -s "$W/$s.c14n" "$W/$s.lib.c14n" || { bad "$s: wbxml2xml(ours) != our XML";
        diff "$W/$s.c14n" "$W/$s.lib.c14n" | head -5 >&2; }
    # 2: our parser reads libwbxml's encoding of our XML as it reads the XML
    xml2wbxml -v 1.2 -k -o "$W/$s.lib.wbxml" "$W/$s.xml" >/dev/null 2>&1 \
        || { bad "$s: xml2wbxml refused our XML"; continue; }
    "$TOOL" parse wbxml "$W/$s.lib.wbxml" >"$W/$s.back.xml" || { bad "$s: parse xml2wbxml output"; continue; }
    cmp -s "$W/$s.xml" "$W/$s.back.xml" || bad "$s: parse(xml2wbxml(xml)) != parse(xml)"
done

# a peer-style message (indented, out of order, prefixes, CDATA)
"$TOOL" parse xml "$GOLDEN/wild.xml" >"$W/wild.ours.xml" || bad "wild.xml does not parse"
xml2wbxml -v 1.2 -k -o "$W/wild.wbxml" "$GOLDEN/wild.xml" >/dev/null 2>&1 || bad "xml2wbxml wild.xml"
"$TOOL" parse wbxml "$W/wild.wbxml" >"$W/wild.back.xml" || bad "wild.wbxml does not parse"
cmp -s "$W/wild.ours.xml" "$W/wild.back.xml" || bad "wild: WBXML and XML parse differently"

# a hostile document must be refused with exit 2 (an error, not a crash)
printf '\002\244\001\152\000\155\303\217\377\377\177x\001' >"$W/bad.wbxml"
set +e
"$TOOL" parse wbxml "$W/bad.wbxml" >/dev/null 2>&1
rc=$?
set -e
[ "$rc" -eq 2 ] || bad "hostile WBXML: exit $rc, want 2"

[ "$fail" -eq 0 ] && echo "dm_wbxml: all checks passed"
exit "$fail"
