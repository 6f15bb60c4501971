/*
 * synth.c - deterministic synthetic old/new image pairs for tests and fuzz
 * seeds.  See synth.h.
 *
 * Everything here is integer arithmetic on a private splitmix64 stream and
 * every multi-byte value is stored byte by byte in little-endian order, so
 * the output does not depend on the C library, the compiler or the host's
 * endianness.  Never use rand() or floating point in this file: either would
 * break the promise that a (kind, seed, size) triple names one exact pair.
 *
 * Images are built to resemble real binaries (instruction streams, string
 * tables, pointer tables, padding, internal repeats) because a delta engine
 * tuned on random noise learns nothing about the data it will really see.
 */
#include "synth.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define KIB ((size_t)1024)
#define MIB (KIB * 1024)

/* ------------------------------------------------------------------------
 * PRNG
 * ---------------------------------------------------------------------- */

typedef struct {
    uint64_t s;
} rng;

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rng_next(rng *r)
{
    r->s += 0x9E3779B97F4A7C15ull;
    return mix64(r->s);
}

/* Keyed hash used to give model objects (functions, strings) their own
 * streams: a function's body then depends only on its id, not on how many
 * draws happened before it, which is what keeps unchanged functions
 * byte-identical between the old and new versions. */
static uint64_t hash2(uint64_t a, uint64_t b)
{
    return mix64(a ^ mix64(b + 0x9E3779B97F4A7C15ull));
}

/* Modulo bias is irrelevant here; what matters is that the result is
 * defined identically everywhere. */
static uint64_t rng_below(rng *r, uint64_t n)
{
    return n ? rng_next(r) % n : 0;
}

static uint64_t rng_range(rng *r, uint64_t lo, uint64_t hi)
{
    return hi <= lo ? lo : lo + rng_below(r, hi - lo + 1);
}

static unsigned ilog2_u64(uint64_t v)
{
    unsigned e = 0;
    while (v >>= 1)
        e++;
    return e;
}

/* Log-uniform in [lo, hi]: each octave is as likely as any other, which is
 * how edit, insert and block sizes spread in real diffs (many tiny ones, a
 * few huge ones). */
static uint64_t rng_logu(rng *r, uint64_t lo, uint64_t hi)
{
    unsigned elo, ehi, e;
    uint64_t a, b;

    if (lo < 1)
        lo = 1;
    if (hi <= lo)
        return lo;
    elo = ilog2_u64(lo);
    ehi = ilog2_u64(hi);
    e = elo + (unsigned)rng_below(r, ehi - elo + 1);
    a = (uint64_t)1 << e;
    b = e >= 63 ? UINT64_MAX : (a << 1) - 1;
    if (a < lo)
        a = lo;
    if (b > hi)
        b = hi;
    return rng_range(r, a, b);
}

static size_t clamp_sz(size_t v, size_t lo, size_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/* ------------------------------------------------------------------------
 * Growable byte buffer.  An allocation failure latches `oom` and turns all
 * later appends into no-ops, so generators can run straight-line and the
 * single check happens in synth_make().
 * ---------------------------------------------------------------------- */

typedef struct {
    uint8_t *p;
    size_t len, cap;
    int oom;
} buf;

static int buf_reserve(buf *b, size_t extra)
{
    size_t need, cap;
    uint8_t *np;

    if (b->oom)
        return -1;
    if (extra > SIZE_MAX - b->len) {
        b->oom = 1;
        return -1;
    }
    need = b->len + extra;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 4096;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    np = realloc(b->p, cap);
    if (!np) {
        b->oom = 1;
        return -1;
    }
    b->p = np;
    b->cap = cap;
    return 0;
}

/* Appends N uninitialised bytes and returns them, or NULL after OOM. */
static uint8_t *buf_grow(buf *b, size_t n)
{
    uint8_t *d;

    if (buf_reserve(b, n))
        return NULL;
    d = b->p + b->len;
    b->len += n;
    return d;
}

/* SRC must not point into B itself (a realloc could move it). */
static void buf_put(buf *b, const uint8_t *src, size_t n)
{
    uint8_t *d;

    if (n == 0)
        return;
    d = buf_grow(b, n);
    if (d)
        memcpy(d, src, n);
}

static void buf_fill(buf *b, int c, size_t n)
{
    uint8_t *d;

    if (n == 0)
        return;
    d = buf_grow(b, n);
    if (d)
        memset(d, c, n);
}

/* ------------------------------------------------------------------------
 * Structured content: instructions, strings, pointer tables, padding.
 * ---------------------------------------------------------------------- */

static const char *const words[64] = {
    "init",   "free",    "alloc",   "buffer", "stream",  "read",    "write",
    "open",   "close",   "config",  "parse",  "error",   "state",   "table",
    "index",  "hash",    "node",    "list",   "map",     "get",     "set",
    "update", "delta",   "block",   "chunk",  "frame",   "header",  "size",
    "count",  "flush",   "reset",   "lock",   "unlock",  "thread",  "queue",
    "push",   "pop",     "find",    "insert", "remove",  "copy",    "move",
    "cmp",    "encode",  "decode",  "value",  "key",     "type",    "name",
    "path",   "file",    "socket",  "event",  "handler", "context", "session",
    "cache",  "entry",   "page",    "region", "offset",  "length",  "format",
    "image",
};

static size_t put_word(uint8_t *out, unsigned w)
{
    size_t n = strlen(words[w & 63]);

    memcpy(out, words[w & 63], n);
    return n;
}

/* A message- or identifier-like C string; writes at most 120 bytes to OUT
 * and returns its length including the NUL.  Depends on H only. */
static size_t make_text(uint64_t h, uint8_t *out)
{
    static const char seps[] = " _.:/- ";
    static const char *const fmts[] = {": %s", " %d", " (%s)", "=%u",
                                       "\n",   ": %s\n", " %zu", "%s"};
    rng r = {h};
    uint64_t x = rng_next(&r);
    unsigned nw = 1 + (unsigned)(x % 5), i;
    char sep = seps[(x >> 8) % 7];
    size_t n = 0;

    if ((x >> 16) % 4 == 0) {
        n += put_word(out + n, (unsigned)(x >> 20));
        out[n++] = ':';
        out[n++] = ' ';
    }
    for (i = 0; i < nw; i++) {
        if (i)
            out[n++] = (uint8_t)sep;
        n += put_word(out + n, (unsigned)(x >> (26 + 6 * i)));
    }
    if ((x >> 58) % 2) {
        const char *f = fmts[(x >> 59) % 8];
        size_t fl = strlen(f);
        memcpy(out + n, f, fl);
        n += fl;
    }
    out[n++] = 0;
    return n;
}

/* A C-ish symbol name ("cache_update_entry.part.3"); at most 64 bytes
 * including the NUL. */
static size_t make_name(uint64_t h, uint8_t *out)
{
    uint64_t x = mix64(h);
    unsigned nw = 1 + (unsigned)(x % 3), i;
    size_t n = 0;

    if ((x >> 2) % 8 == 0) {
        out[n++] = '_';
        out[n++] = '_';
    }
    for (i = 0; i < nw; i++) {
        if (i)
            out[n++] = '_';
        n += put_word(out + n, (unsigned)(x >> (5 + 6 * i)));
    }
    if ((x >> 24) % 16 == 0) {
        memcpy(out + n, ".part.", 6);
        n += 6;
        out[n++] = (uint8_t)('0' + (x >> 28) % 10);
    }
    out[n++] = 0;
    return n;
}

/* Reference resolver for instructions that point at something.  With no
 * model (NULL) the operand is a plausible but arbitrary value. */
typedef struct exe exe;
static uint32_t exe_ref(const exe *e, int what, uint64_t y, uint32_t self,
                        uint32_t next_pc);

enum { REF_NONE, REF_CALL, REF_STR, REF_DATA_ABS, REF_DATA_REL };

/* Instruction templates, indexed by selector x & 31.  Emission is table
 * driven rather than a 32-way switch: selectors are random, so a switch
 * mispredicts on nearly every instruction, and instruction emission is
 * most of the cost of a large image.  Each template gets up to two byte
 * fields added in (F_* below), an optional imm32 and an optional
 * reference operand.  The repertoire is weighted towards mov/lea/call the
 * way compiled code is; ModRM/register fields vary only a little, which is
 * what makes real code compress 2-3x. */
enum {
    F_NONE, F_REG3, F_D8, F_REG, F_TESTCMP, F_REG3REG2, F_FLAG, F_X24_3F,
    F_ADDSUB, F_IMM8X, F_PUSHPOP, F_X24_78, F_COUNT
};
enum { I_NONE, I_SMALL, I_LOCAL }; /* imm32 kinds */

/* Template bytes (up to 4; the rest are zero) packed little-endian, and
 * bit shifts locating each added field in the 8-byte instruction word.
 * Field values never carry out of their byte, so "add" is "or". */
#define LE4(a, b, c, d) ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)

typedef struct {
    uint32_t base;
    uint8_t len, ref, refsh;
    uint8_t sh1, f1, sh2, f2;
    uint8_t immsh, imm;
} insn_tpl;

static const insn_tpl tpl[32] = {
#define MOVLD LE4(0x48, 0x8B, 0x45, 0), 4, REF_NONE, 0, 16, F_REG3, 24, F_D8, 0, I_NONE
#define MOVST LE4(0x48, 0x89, 0x45, 0), 4, REF_NONE, 0, 16, F_REG3, 24, F_D8, 0, I_NONE
#define PLAIN(len, ref, refsh) len, ref, refsh, 0, F_NONE, 0, F_NONE, 0, I_NONE
    {MOVLD}, {MOVLD}, {MOVLD}, {MOVLD}, {MOVLD},                      /* mov r64, [rbp-d8] */
    {MOVST}, {MOVST}, {MOVST}, {MOVST},                               /* mov [rbp-d8], r64 */
    {LE4(0xB8, 0, 0, 0), 5, REF_NONE, 0, 0, F_REG, 0, F_NONE, 8, I_SMALL}, /* mov r32, imm32 */
    {LE4(0xB8, 0, 0, 0), 5, REF_NONE, 0, 0, F_REG, 0, F_NONE, 8, I_SMALL},
    {LE4(0xE8, 0, 0, 0), PLAIN(5, REF_CALL, 8)},                      /* call rel32 */
    {LE4(0xE8, 0, 0, 0), PLAIN(5, REF_CALL, 8)},
    {LE4(0x48, 0x8D, 0x3D, 0), PLAIN(7, REF_STR, 24)},                /* lea rdi, [rip+d] */
    {LE4(0x48, 0x8D, 0x35, 0), PLAIN(7, REF_STR, 24)},                /* lea rsi, [rip+d] */
    {LE4(0x48, 0x8B, 0x04, 0x25), PLAIN(8, REF_DATA_ABS, 32)},        /* mov rax, [abs32] */
    {LE4(0x48, 0x39, 0xC0, 0), 3, REF_NONE, 0, 8, F_TESTCMP, 16, F_REG3REG2, 0, I_NONE}, /* test/cmp */
    {LE4(0x48, 0x39, 0xC0, 0), 3, REF_NONE, 0, 8, F_TESTCMP, 16, F_REG3REG2, 0, I_NONE},
    {LE4(0x74, 0, 0, 0), 2, REF_NONE, 0, 0, F_FLAG, 8, F_X24_3F, 0, I_NONE}, /* jcc rel8 */
    {LE4(0x74, 0, 0, 0), 2, REF_NONE, 0, 0, F_FLAG, 8, F_X24_3F, 0, I_NONE},
    {LE4(0x0F, 0x84, 0, 0), 6, REF_NONE, 0, 8, F_FLAG, 0, F_NONE, 16, I_LOCAL}, /* jcc rel32 */
    {LE4(0x48, 0x83, 0xC0, 0), 4, REF_NONE, 0, 16, F_ADDSUB, 24, F_IMM8X, 0, I_NONE}, /* add/sub */
    {LE4(0x48, 0x83, 0xC0, 0), 4, REF_NONE, 0, 16, F_ADDSUB, 24, F_IMM8X, 0, I_NONE},
    {LE4(0x31, 0xC0, 0, 0), PLAIN(2, REF_NONE, 0)},                   /* xor eax, eax */
    {LE4(0x48, 0x89, 0xC0, 0), 3, REF_NONE, 0, 16, F_REG3REG2, 0, F_NONE, 0, I_NONE}, /* mov r, r */
    {LE4(0x48, 0x89, 0xC0, 0), 3, REF_NONE, 0, 16, F_REG3REG2, 0, F_NONE, 0, I_NONE},
    {LE4(0x41, 0x50, 0, 0), 2, REF_NONE, 0, 8, F_PUSHPOP, 0, F_NONE, 0, I_NONE}, /* push/pop r12-15 */
    {LE4(0x0F, 0xB6, 0x45, 0), 4, REF_NONE, 0, 24, F_D8, 0, F_NONE, 0, I_NONE}, /* movzx */
    {LE4(0xFF, 0x15, 0, 0), PLAIN(6, REF_DATA_REL, 16)},              /* call [rip+d] */
    {LE4(0xE9, 0, 0, 0), PLAIN(5, REF_CALL, 8)},                      /* jmp (tail call) */
    {LE4(0x8B, 0x47, 0, 0), 3, REF_NONE, 0, 8, F_REG3, 16, F_X24_78, 0, I_NONE}, /* mov r32, [rdi+d8] */
    {LE4(0x0F, 0x1F, 0x44, 0), PLAIN(5, REF_NONE, 0)},                /* nop5 */
#undef MOVLD
#undef MOVST
#undef PLAIN
};

#undef LE4

/* Whether selector x & 31 carries a reference operand, so callers know
 * whether to draw the operand word. */
static int insn_ref(uint32_t x)
{
    return tpl[x & 31].ref;
}

/* Writes one x86-64-flavoured instruction to O and returns its length
 * (at most 8).  Always stores 8 bytes at O: callers leave that much room
 * and overwrite the tail with what follows.  The instruction is assembled
 * in a register and stored once; byte stores followed by a wide copy
 * stall store forwarding.  X is 32 bits so one PRNG draw yields two
 * instructions.  Y is the operand draw for reference-carrying forms;
 * E/SELF/PC resolve it (E may be NULL). */
static size_t emit_insn(uint32_t x, uint64_t y, const exe *e, uint32_t self,
                        uint32_t pc, uint8_t *o)
{
    const insn_tpl *t = &tpl[x & 31];
    unsigned reg = (x >> 5) & 7, reg2 = (x >> 8) & 7, flag = (x >> 15) & 1;
    uint8_t f[F_COUNT];
    uint32_t imm[3];
    uint64_t v;

    /* Every field value is computed and the template picks: cheaper than
     * branching on the selector. */
    f[F_NONE] = 0;
    f[F_REG3] = (uint8_t)(reg << 3);
    f[F_D8] = (uint8_t)(0x100 - 8 * (1 + ((x >> 11) & 15)));
    f[F_REG] = (uint8_t)reg;
    f[F_TESTCMP] = (uint8_t)(flag * (0x85 - 0x39));
    f[F_REG3REG2] = (uint8_t)(reg << 3 | reg2);
    f[F_FLAG] = (uint8_t)flag;
    f[F_X24_3F] = (uint8_t)((x >> 24) & 0x3F);
    f[F_ADDSUB] = (uint8_t)(flag * (0xE8 - 0xC0) + reg);
    f[F_IMM8X] = (uint8_t)(8 * (1 + ((x >> 24) & 7)));
    f[F_PUSHPOP] = (uint8_t)(flag * 8 + 4 + (reg & 3));
    f[F_X24_78] = (uint8_t)((x >> 24) & 0x78);
    imm[I_NONE] = 0;
    imm[I_SMALL] = flag ? (x >> 16) & 0xFFFF : (x >> 24) & 0xFF;
    imm[I_LOCAL] = (x >> 20) & 0x3FF;

    v = t->base;
    v += (uint64_t)f[t->f1] << t->sh1;
    v += (uint64_t)f[t->f2] << t->sh2;
    v |= (uint64_t)imm[t->imm] << t->immsh;
    if (t->ref)
        v |= (uint64_t)exe_ref(e, t->ref, y, self, pc + t->len) << t->refsh;
    put64(o, v);
    return t->len;
}

static void fill_code(rng *r, uint8_t *dst, size_t n)
{
    uint8_t tmp[16];
    uint64_t w = 0;
    size_t i = 0, k;
    unsigned half = 0;

    while (i < n) {
        uint32_t x;
        uint64_t y;

        if (half ^= 1)
            w = rng_next(r);
        x = (uint32_t)(half ? w : w >> 32);
        y = insn_ref(x) ? rng_next(r) : 0;
        if (n - i >= sizeof tmp) {
            i += emit_insn(x, y, NULL, 0, (uint32_t)i, dst + i);
        } else {
            k = emit_insn(x, y, NULL, 0, (uint32_t)i, tmp);
            if (k > n - i)
                k = n - i;
            memcpy(dst + i, tmp, k);
            i += k;
        }
    }
}

static void fill_strings(rng *r, uint8_t *dst, size_t n)
{
    uint8_t tmp[128];
    size_t i = 0, k;

    while (i < n) {
        k = make_text(rng_next(r), tmp);
        if (k > n - i)
            k = n - i;
        memcpy(dst + i, tmp, k);
        i += k;
    }
}

/* Pointer / relocation table: increasing addresses with a regular stride. */
static void fill_table(rng *r, uint8_t *dst, size_t n)
{
    uint64_t x = rng_next(r), y = 0;
    uint32_t v = 0x400000u + ((uint32_t)x & 0xFFFFF0u);
    size_t w = (x >> 40) & 1 ? 8 : 4, i = 0, k;
    uint32_t step = 4u << ((x >> 41) & 3);
    unsigned j = 0;
    uint8_t e[8];

    while (i < n) {
        if ((j++ & 7) == 0)
            y = rng_next(r);
        put32(e, v);
        put32(e + 4, 0);
        k = w < n - i ? w : n - i;
        memcpy(dst + i, e, k);
        i += k;
        v += step + ((y & 7) == 0 ? (uint32_t)(y >> 3) & 0xF0 : 0);
        y >>= 8;
    }
}

/* Appends N bytes that look like a section of a real binary. */
static void gen_binary(rng *r, buf *b, size_t n)
{
    size_t end, seg, left;

    if (n == 0 || buf_reserve(b, n))
        return;
    end = b->len + n;
    while (b->len < end) {
        uint64_t x = rng_next(r);
        unsigned pick = (unsigned)(x % 100);
        uint8_t *dst;

        left = end - b->len;
        seg = (size_t)rng_logu(r, 32, 16 * KIB);
        if (seg > left)
            seg = left;
        if (pick < 22 && b->len >= 64) {
            /* Back-copy with a mutation or two: inlined functions, duplicated
             * tables and templates are why binaries have long repeats. */
            size_t dist = (size_t)rng_logu(r, 16, b->len < 4 * MIB ? b->len : 4 * MIB);
            size_t src = b->len - dist, l = seg < dist ? seg : dist;

            memcpy(b->p + b->len, b->p + src, l);
            if (l > 8 && (x >> 32) % 2)
                b->p[b->len + (x >> 40) % l] ^= (uint8_t)(1 + (x >> 48) % 255);
            b->len += l;
            continue;
        }
        dst = b->p + b->len;
        b->len += seg;
        if (pick < 66)
            fill_code(r, dst, seg);
        else if (pick < 80)
            fill_strings(r, dst, seg);
        else if (pick < 92)
            fill_table(r, dst, seg);
        else
            memset(dst, (x >> 8) % 4 == 0 ? 0xCC : 0, seg);
    }
}

static void gen_random(rng *r, buf *b, size_t n)
{
    uint8_t *d = buf_grow(b, n);
    size_t i;

    if (!d)
        return;
    for (i = 0; i + 8 <= n; i += 8)
        put64(d + i, rng_next(r));
    if (i < n) {
        uint64_t x = rng_next(r);
        for (; i < n; i++, x >>= 8)
            d[i] = (uint8_t)x;
    }
}

/* In-place sparse edits of the sort a patch release makes without moving
 * anything: flipped bytes, rewritten short runs, bumped 32-bit constants. */
static void scatter_edits(rng *r, uint8_t *p, size_t len, size_t count)
{
    size_t i, pos, l, j;

    if (len == 0)
        return;
    for (i = 0; i < count; i++) {
        pos = (size_t)rng_below(r, len);
        switch (rng_below(r, 3)) {
        case 0:
            p[pos] ^= (uint8_t)(1 + rng_below(r, 255));
            break;
        case 1:
            l = (size_t)rng_logu(r, 2, 16);
            if (l > len - pos)
                l = len - pos;
            for (j = 0; j < l; j++)
                p[pos + j] = (uint8_t)rng_next(r);
            break;
        default:
            pos &= ~(size_t)3;
            if (pos + 4 <= len)
                put32(p + pos, get32(p + pos) + (uint32_t)rng_range(r, 1, 255));
            else
                p[pos] ^= 0x80;
            break;
        }
    }
}

/* ------------------------------------------------------------------------
 * Block cutting shared by transpose and reverse-blocks.
 * ---------------------------------------------------------------------- */

typedef struct {
    size_t off, len;
} span;

/* Cuts [0, size) into log-uniform blocks in [lo, hi].  Runs the stream
 * twice (on a copy for counting) so the array is allocated exactly once;
 * an up-front size/lo bound would cost ~128 MiB at 128 MiB images. */
static span *cut_blocks(rng *r, size_t size, size_t lo, size_t hi, size_t *nb)
{
    rng probe = *r;
    size_t pos = 0, n = 0, l;
    span *s;

    while (pos < size) {
        l = (size_t)rng_logu(&probe, lo, hi);
        pos += l < size - pos ? l : size - pos;
        n++;
    }
    *nb = n;
    s = malloc((n ? n : 1) * sizeof *s);
    if (!s)
        return NULL;
    for (pos = 0, n = 0; pos < size; n++) {
        l = (size_t)rng_logu(r, lo, hi);
        if (l > size - pos)
            l = size - pos;
        s[n].off = pos;
        s[n].len = l;
        pos += l;
    }
    return s;
}

/* ------------------------------------------------------------------------
 * Kinds.  Each appends its old part of about SIZE bytes to O and the
 * matching new part to N, so "mixed" can concatenate several of them.
 * ---------------------------------------------------------------------- */

typedef void (*kind_fn)(rng *r, size_t size, buf *o, buf *n);

static void k_empty(rng *r, size_t size, buf *o, buf *n)
{
    (void)r, (void)size, (void)o, (void)n;
}

static void k_one_byte(rng *r, size_t size, buf *o, buf *n)
{
    uint64_t x = rng_next(r);
    uint8_t a = (uint8_t)x, b = (uint8_t)(a ^ (1 + (x >> 8) % 255));

    (void)size;
    buf_put(o, &a, 1);
    buf_put(n, &b, 1);
}

/* The -to-data kinds keep at least one byte so they never collapse into
 * "empty" at size 0. */
static void k_empty_to_data(rng *r, size_t size, buf *o, buf *n)
{
    (void)o;
    gen_binary(r, n, size ? size : 1);
}

static void k_data_to_empty(rng *r, size_t size, buf *o, buf *n)
{
    (void)n;
    gen_binary(r, o, size ? size : 1);
}

static void k_identical(rng *r, size_t size, buf *o, buf *n)
{
    size_t base = o->len;

    gen_binary(r, o, size);
    if (!o->oom)
        buf_put(n, o->p + base, size);
}

static void k_zeros(rng *r, size_t size, buf *o, buf *n)
{
    size_t nbase = n->len, runs, i, pos, l, j;
    uint8_t *p;

    buf_fill(o, 0, size);
    buf_fill(n, 0, size);
    if (n->oom || size == 0)
        return;
    p = n->p + nbase;
    runs = 1 + (size_t)rng_below(r, 4) + clamp_sz(size / (256 * KIB), 0, 60);
    for (i = 0; i < runs; i++) {
        pos = (size_t)rng_below(r, size);
        l = (size_t)rng_logu(r, 1, 64);
        if (l > size - pos)
            l = size - pos;
        for (j = 0; j < l; j++)
            p[pos + j] = (uint8_t)(1 + rng_below(r, 255));
    }
}

static void k_same_offset(rng *r, size_t size, buf *o, buf *n)
{
    size_t obase = o->len, nbase = n->len;

    gen_binary(r, o, size);
    if (o->oom)
        return;
    buf_put(n, o->p + obase, size);
    if (!n->oom)
        scatter_edits(r, n->p + nbase, size, 1 + size / (4 * KIB));
}

static void k_insert_delete(rng *r, size_t size, buf *o, buf *n)
{
    size_t obase = o->len, pos = 0, c, maxcopy, small, big, d;

    gen_binary(r, o, size);
    if (o->oom || buf_reserve(n, size + size / 8 + 64 * KIB))
        return;
    /* Unchanged stretches shrink with the image so small images still get
     * many edits; 64 KiB keeps large ones busy (~16k ops at 128 MiB).  Edit
     * lengths shrink too, or one large delete would eat a small image. */
    maxcopy = clamp_sz(size / 16, 64, 64 * KIB);
    small = clamp_sz(size / 64, 1, 4 * KIB);
    big = clamp_sz(size / 16, small, 64 * KIB);
    while (pos < size && !n->oom) {
        c = (size_t)rng_logu(r, 16, maxcopy);
        if (c > size - pos)
            c = size - pos;
        buf_put(n, o->p + obase + pos, c);
        pos += c;
        d = 0;
        switch (rng_below(r, 20)) {
        case 0: case 1: case 2: case 3: case 4: case 5: case 6: /* insert */
            gen_binary(r, n, (size_t)rng_logu(r, 1, small));
            break;
        case 7: /* large insert: shifts the rest of the image a lot */
            gen_binary(r, n, (size_t)rng_logu(r, small, big));
            break;
        case 8: case 9: case 10: case 11: case 12: case 13: case 14: /* delete */
            d = (size_t)rng_logu(r, 1, small);
            break;
        case 15: /* large delete */
            d = (size_t)rng_logu(r, small, big);
            break;
        case 16: case 17: case 18: /* replace with a different length */
            d = (size_t)rng_logu(r, 1, 256);
            gen_binary(r, n, (size_t)rng_logu(r, 1, 256));
            break;
        default: /* keep going: some edits are adjacent to others */
            break;
        }
        pos += d < size - pos ? d : size - pos;
    }
}

static void k_transpose(rng *r, size_t size, buf *o, buf *n)
{
    size_t obase = o->len, nb, i, j, *perm;
    span *s;

    gen_binary(r, o, size);
    if (o->oom || size == 0)
        return;
    s = cut_blocks(r, size, 16, clamp_sz(size / 8, 16, 64 * KIB), &nb);
    perm = malloc(nb * sizeof *perm);
    if (!s || !perm || buf_reserve(n, size)) {
        free(s), free(perm);
        o->oom = 1;
        return;
    }
    for (i = 0; i < nb; i++)
        perm[i] = i;
    /* Unequal-sized blocks swapped both near and far: every swap shifts
     * all blocks between the pair, so an in-place writer finds chains and
     * cycles of blocks that overwrite each other's sources. */
    for (i = 0; i < nb; i++) {
        size_t a = (size_t)rng_below(r, nb), t;

        j = rng_below(r, 10) < 6 ? a + 1 + (size_t)rng_below(r, 8)
                                 : (size_t)rng_below(r, nb);
        if (j >= nb)
            j = (size_t)rng_below(r, nb);
        t = perm[a], perm[a] = perm[j], perm[j] = t;
    }
    for (i = 0; i < nb; i++)
        buf_put(n, o->p + obase + s[perm[i]].off, s[perm[i]].len);
    free(s);
    free(perm);
}

/* Neighbouring small blocks (48..512 bytes) swapped, most pairs, a byte
 * edited in one block of four: every swap is a two-block cycle, so an
 * in-place schedule saves a block per pair, tens of thousands per 10 MiB
 * (the saved-range map, not the image, sizes an apply's memory). */
static void k_swap_small(rng *r, size_t size, buf *o, buf *n)
{
    size_t obase = o->len, nbase = n->len, nb, i;
    span *s;

    gen_binary(r, o, size);
    if (o->oom || size == 0)
        return;
    s = cut_blocks(r, size, 48, 512, &nb);
    if (!s || buf_reserve(n, size)) {
        free(s);
        o->oom = 1;
        return;
    }
    for (i = 0; i < nb; i++) {
        size_t k = i;
        if (i + 1 < nb && rng_below(r, 10) < 7) {
            buf_put(n, o->p + obase + s[i + 1].off, s[i + 1].len);
            k = i++;
        }
        buf_put(n, o->p + obase + s[k].off, s[k].len);
    }
    for (i = 0; i < nb; i += 4)
        n->p[nbase + s[i].off + (size_t)rng_below(r, s[i].len)] ^= 0x5a;
    free(s);
}

static void k_rotate(rng *r, size_t size, buf *o, buf *n)
{
    size_t obase = o->len, nbase = n->len, k;

    gen_binary(r, o, size);
    if (o->oom)
        return;
    if (size < 2) {
        buf_put(n, o->p + obase, size);
    } else {
        /* Odd, hence never block- or page-aligned, and well inside the
         * image so the single cycle is long. */
        k = (size_t)rng_range(r, size / 4, size - size / 4) | 1;
        if (k >= size)
            k = size - 1;
        buf_put(n, o->p + obase + k, size - k);
        buf_put(n, o->p + obase, k);
    }
    if (!n->oom)
        scatter_edits(r, n->p + nbase, size,
                      1 + (size_t)rng_below(r, 4) + size / MIB);
}

static void k_reverse_blocks(rng *r, size_t size, buf *o, buf *n)
{
    size_t obase = o->len, nb, i;
    span *s;

    gen_binary(r, o, size);
    if (o->oom || size == 0)
        return;
    s = cut_blocks(r, size, 64, clamp_sz(size / 16, 64, 32 * KIB), &nb);
    if (!s || buf_reserve(n, size)) {
        free(s);
        o->oom = 1;
        return;
    }
    for (i = nb; i-- > 0;)
        buf_put(n, o->p + obase + s[i].off, s[i].len);
    free(s);
}

static void k_grow(rng *r, size_t size, buf *o, buf *n)
{
    size_t obase = o->len, pos = 0, c, maxc, l, src, tail;

    gen_binary(r, o, size);
    if (o->oom)
        return;
    tail = size - size / 4 + 64;
    if (size > (SIZE_MAX - tail) / 2 || buf_reserve(n, 2 * size + tail)) {
        o->oom = 1;
        return;
    }
    maxc = clamp_sz(size / 8, 64, 256 * KIB);
    while (pos < size && !n->oom) {
        c = (size_t)rng_logu(r, 64, maxc);
        if (c > size - pos)
            c = size - pos;
        buf_put(n, o->p + obase + pos, c);
        pos += c;
        /* About 3/4 as much inserted as kept: half new code, half copies
         * of other old pieces (shifted duplicates).  With the appended
         * tail the new image is ~2.5x the old one. */
        l = c * (size_t)(1 + rng_below(r, 2)) / 2;
        if (rng_below(r, 2) || size < 16) {
            gen_binary(r, n, l);
        } else {
            if (l > size)
                l = size;
            src = (size_t)rng_below(r, size - l + 1);
            buf_put(n, o->p + obase + src, l);
        }
    }
    gen_binary(r, n, tail);
}

static void k_shrink(rng *r, size_t size, buf *o, buf *n)
{
    size_t obase = o->len, nbase = n->len, pos = 0, c, maxc;

    gen_binary(r, o, size);
    if (o->oom || buf_reserve(n, size / 2 + 64))
        return;
    maxc = clamp_sz(size / 16, 64, 256 * KIB);
    while (pos < size) {
        c = (size_t)rng_logu(r, 64, maxc);
        if (c > size - pos)
            c = size - pos;
        if (rng_below(r, 4) == 0)
            buf_put(n, o->p + obase + pos, c);
        pos += c;
    }
    if (!n->oom && n->len - nbase >= size / 2 && size > 0)
        n->len = nbase + size / 4;
}

static void k_unrelated(rng *r, size_t size, buf *o, buf *n)
{
    gen_binary(r, o, size);
    gen_random(r, n, size);
}

/* ------------------------------------------------------------------------
 * exe-like: a toy linked executable.
 *
 * The model has functions, strings and a pointer table, each with a stable
 * id.  A version is an ordering of ids; addresses follow from the ordering
 * and every reference is re-resolved per version.  Inserting functions
 * therefore shifts all later code and changes each rel32/abs32 operand that
 * crosses an insertion point by the same constant: exactly the pattern a
 * relinked binary shows and that address-aware delta coders target.
 * ---------------------------------------------------------------------- */

#define EXE_BASE 0x400000u
#define EXE_SHNUM 6
#define EXE_SHENT 40
#define EXE_MAXCLUST 16

typedef struct {
    uint64_t seed; /* body stream */
    uint32_t mod;  /* non-zero: body edited in the new version */
    uint32_t len[2];
} exe_fn;

struct exe {
    uint64_t kseed;
    size_t nfn[2], nstr[2], ndata[2]; /* [0] old, [1] new; new ids come last */
    exe_fn *fn;
    uint32_t *strsalt; /* by id; 0 = same text in both versions */
    uint8_t (*slen)[2];   /* string length by id and version */
    uint8_t *namelen;
    uint32_t *fnorder[2], *strorder[2];
    uint32_t *fnaddr, *straddr; /* by id, for the version being written */
    uint64_t str_scale[2]; /* nstr/nfn in 8.24 fixed point: no division per ref */
    uint32_t data_addr;
    size_t text_off, ro_off, data_off, sym_off, str_off, sh_off, end;
};

/* Maps the low 32 bits of Y onto [0, n) with a multiply instead of a
 * 64-bit division: this runs once per reference, tens of millions of
 * times for a large image.  N is below 2^32 (ids are 32-bit). */
static size_t reduce32(uint64_t y, size_t n)
{
    return (size_t)(((y & 0xFFFFFFFFu) * (uint64_t)n) >> 32);
}

static uint32_t exe_ref(const exe *e, int what, uint64_t y, uint32_t self,
                        uint32_t next_pc)
{
    size_t v, bound;
    uint64_t t;

    if (!e) /* unmodelled code: near-ish targets, like real call graphs */
        return what == REF_DATA_ABS ? EXE_BASE + ((uint32_t)y & 0x3FFFF8u)
                                    : (uint32_t)(y & 0xFFFFF) - 0x80000u;
    /* Objects that exist in the old version only see old ids, so their
     * bytes differ between versions only in resolved addresses. */
    switch (what) {
    case REF_CALL:
        /* Real call graphs: mostly neighbours in the same unit, a share of
         * calls to a few hot helpers, the rest anywhere.  The locality also
         * keeps fnaddr[] lookups in cache, which matters at 128 MiB. */
        v = self < e->nfn[0] ? 0 : 1;
        bound = e->nfn[v];
        switch (y >> 62) {
        case 0: case 1:
            t = self + ((y >> 40) & 31);
            t = t < 16 ? t + bound - 16 : t - 16;
            t = t >= bound ? t % bound : t;
            break;
        case 2:
            t = reduce32(y, bound / 64 + 1);
            break;
        default:
            t = reduce32(y, bound);
            break;
        }
        return e->fnaddr[t] - next_pc;
    case REF_STR:
        /* A unit's strings sit together in .rodata in unit order, so a
         * function mostly uses strings at the matching relative position. */
        v = self < e->nfn[0] ? 0 : 1;
        bound = e->nstr[v];
        if (y >> 62) {
            t = (((uint64_t)self * e->str_scale[v]) >> 24) + ((y >> 40) & 127);
            t = t < 64 ? t + bound - 64 : t - 64;
            t = t >= bound ? t % bound : t;
        } else {
            t = reduce32(y, bound);
        }
        return e->straddr[t] - next_pc;
    case REF_DATA_ABS:
        v = self < e->nfn[0] ? 0 : 1;
        return e->data_addr + 8 * (uint32_t)reduce32(y, e->ndata[v]);
    default:
        v = self < e->nfn[0] ? 0 : 1;
        return e->data_addr + 8 * (uint32_t)reduce32(y, e->ndata[v]) - next_pc;
    }
}

/* Emits function ID's body for version VER at ADDR into OUT, or only
 * measures it when OUT is NULL (operand values never change a length, so
 * the measuring pass needs no addresses). */
static size_t exe_emit_fn(const exe *e, const exe_fn *f, uint32_t id, int ver,
                          uint32_t addr, uint8_t *out)
{
    rng lr = {f->seed};
    uint64_t h = rng_next(&lr), wx = 0, y;
    uint32_t x;
    uint32_t ninsn = (uint32_t)rng_logu(&lr, 4, 160), i, k, extra_at;
    size_t pos = 0;
    int framed = (int)(h & 1);

    extra_at = ver && f->mod ? f->mod % ninsn : UINT32_MAX;
#define EMIT_BYTES(...)                                                       \
    do {                                                                      \
        static const uint8_t b_[] = {__VA_ARGS__};                            \
        if (out)                                                              \
            memcpy(out + pos, b_, sizeof b_);                                 \
        pos += sizeof b_;                                                     \
    } while (0)
    EMIT_BYTES(0x55, 0x48, 0x89, 0xE5); /* push rbp; mov rbp, rsp */
    if (framed) {
        EMIT_BYTES(0x48, 0x83, 0xEC);
        if (out)
            out[pos] = (uint8_t)(8 * (1 + ((h >> 8) & 15)));
        pos++;
    }
    for (i = 0; i < ninsn; i++) {
        if (i == extra_at) {
            /* The edit: a few new non-reference instructions spliced in. */
            rng er = {hash2(f->seed, f->mod)};
            uint32_t nx = 1 + (uint32_t)rng_below(&er, 4);

            for (k = 0; k < nx; k++) {
                x = (uint32_t)rng_next(&er);
                if (insn_ref(x)) /* keep the edit free of references */
                    x &= ~(uint64_t)31;
                if (out)
                    pos += emit_insn(x, 0, e, id, addr + (uint32_t)pos, out + pos);
                else
                    pos += tpl[x & 31].len;
            }
        }
        if ((i & 1) == 0)
            wx = rng_next(&lr);
        x = (uint32_t)(i & 1 ? wx >> 32 : wx);
        y = insn_ref(x) ? rng_next(&lr) : 0;
        if (out)
            pos += emit_insn(x, y, e, id, addr + (uint32_t)pos, out + pos);
        else
            pos += tpl[x & 31].len;
    }
    if (framed) {
        EMIT_BYTES(0x48, 0x83, 0xC4);
        if (out)
            out[pos] = (uint8_t)(8 * (1 + ((h >> 8) & 15)));
        pos++;
    }
    EMIT_BYTES(0x5D, 0xC3); /* pop rbp; ret */
#undef EMIT_BYTES
    return pos;
}

static size_t align_up(size_t v, size_t a)
{
    return (v + a - 1) & ~(a - 1);
}

static uint64_t exe_str_hash(const exe *e, uint32_t id, int ver)
{
    uint64_t h = hash2(e->kseed + 1, id);

    return ver && e->strsalt[id] ? hash2(h, e->strsalt[id]) : h;
}

/* Old ids 0..nold-1 in order, with new ids nold.. spliced in at a few
 * cluster points (never before the first, so the entry point stays put). */
static void exe_order(rng *r, size_t nold, size_t nnew, uint32_t *out)
{
    size_t cut[EXE_MAXCLUST], cnt[EXE_MAXCLUST], k, i, j, t, o = 0;
    size_t nc = 1 + clamp_sz(nold / 400, 0, EXE_MAXCLUST - 1);
    uint32_t next = (uint32_t)nold;

    for (k = 0; k < nc; k++) {
        cut[k] = 1 + (size_t)rng_below(r, nold);
        cnt[k] = 0;
    }
    for (k = 1; k < nc; k++) /* insertion sort; nc <= 16 */
        for (j = k; j > 0 && cut[j - 1] > cut[j]; j--)
            t = cut[j], cut[j] = cut[j - 1], cut[j - 1] = t;
    for (i = 0; i < nnew; i++)
        cnt[rng_below(r, nc)]++;
    for (i = 0, k = 0; i <= nold; i++) {
        for (; k < nc && cut[k] == i; k++)
            for (j = 0; j < cnt[k]; j++)
                out[o++] = next++;
        if (i < nold)
            out[o++] = (uint32_t)i;
    }
}

/* Computes offsets and per-id addresses of version VER. */
static void exe_layout(exe *e, int ver)
{
    size_t off = e->text_off, i, nf = e->nfn[ver], ns = e->nstr[ver], strsz = 0;

    for (i = 0; i < nf; i++) {
        uint32_t id = e->fnorder[ver][i];

        off = align_up(off, 16);
        e->fnaddr[id] = EXE_BASE + (uint32_t)off;
        off += e->fn[id].len[ver];
    }
    e->ro_off = align_up(off, 16);
    off = e->ro_off;
    for (i = 0; i < ns; i++) {
        uint32_t id = e->strorder[ver][i];

        e->straddr[id] = EXE_BASE + (uint32_t)off;
        off += e->slen[id][ver];
    }
    e->data_off = align_up(off, 8);
    e->data_addr = EXE_BASE + (uint32_t)e->data_off;
    e->sym_off = e->data_off + 8 * e->ndata[ver];
    e->str_off = e->sym_off + 16 * nf;
    for (i = 0; i < nf; i++)
        strsz += e->namelen[e->fnorder[ver][i]];
    e->sh_off = align_up(e->str_off + strsz, 8);
    e->end = e->sh_off + EXE_SHNUM * EXE_SHENT;
}

static void exe_shdr(uint8_t *p, uint32_t name, uint32_t type, size_t off,
                     size_t size, uint64_t align)
{
    put32(p, name);
    put32(p + 4, type);
    put64(p + 8, type ? EXE_BASE + (uint64_t)off : 0);
    put64(p + 16, off);
    put64(p + 24, size);
    put64(p + 32, align);
}

static void exe_write(exe *e, int ver, buf *b)
{
    size_t i, off, nf = e->nfn[ver];
    uint8_t *p, *q;

    exe_layout(e, ver);
    p = buf_grow(b, e->end);
    if (!p)
        return;
    memset(p, 0, e->end);

    /* ELF-ish header: the fields that move (section offsets, sizes) move
     * in the same way as in a relinked file. */
    memcpy(p, "\x7f" "ELF\x02\x01\x01", 7);
    put16(p + 16, 2);
    put16(p + 18, 0x3E);
    put32(p + 20, 1);
    put64(p + 24, e->fnaddr[e->fnorder[ver][0]]);
    put64(p + 32, 64);
    put64(p + 40, e->sh_off);
    put16(p + 52, 64);
    put16(p + 54, 56);
    put16(p + 58, EXE_SHENT);
    put16(p + 60, EXE_SHNUM);

    for (i = 0, off = e->text_off; i < nf; i++) {
        uint32_t id = e->fnorder[ver][i];
        size_t a = align_up(off, 16);

        memset(p + off, 0xCC, a - off); /* int3 padding between functions */
        off = a + exe_emit_fn(e, &e->fn[id], id, ver, EXE_BASE + (uint32_t)a, p + a);
        assert(off - a == e->fn[id].len[ver]); /* measure and write passes disagree */
    }
    /* emit_insn() stores 8 bytes at a time; clear what spilled past the
     * last function. */
    memset(p + off, 0, e->ro_off - off);
    for (i = 0, off = e->ro_off; i < e->nstr[ver]; i++) {
        uint8_t tmp[128];
        uint32_t id = e->strorder[ver][i];
        size_t l = make_text(exe_str_hash(e, id, ver), tmp);

        memcpy(p + off, tmp, l);
        off += l;
    }
    for (i = 0; i < e->ndata[ver]; i++) {
        uint64_t x = hash2(e->kseed + 2, i);
        uint32_t v;

        if (i >= e->ndata[0]) /* new slots: one per new function */
            v = e->fnaddr[e->nfn[0] + (i - e->ndata[0]) % (e->nfn[1] - e->nfn[0])];
        else if (x & 3)
            v = e->fnaddr[(x >> 8) % e->nfn[0]];
        else
            v = e->straddr[(x >> 8) % e->nstr[0]];
        put32(p + e->data_off + 8 * i, v);
    }
    q = p + e->str_off;
    for (i = 0, off = 0; i < nf; i++) {
        uint32_t id = e->fnorder[ver][i];
        uint8_t *s = p + e->sym_off + 16 * i;

        put32(s, (uint32_t)off);
        put32(s + 4, e->fnaddr[id]);
        put32(s + 8, e->fn[id].len[ver]);
        put32(s + 12, 0x12);
        off += make_name(hash2(e->kseed + 3, id), q + off);
    }
    q = p + e->sh_off;
    exe_shdr(q + 1 * EXE_SHENT, 1, 1, e->text_off, e->ro_off - e->text_off, 16);
    exe_shdr(q + 2 * EXE_SHENT, 7, 1, e->ro_off, e->data_off - e->ro_off, 1);
    exe_shdr(q + 3 * EXE_SHENT, 15, 1, e->data_off, e->sym_off - e->data_off, 8);
    exe_shdr(q + 4 * EXE_SHENT, 21, 2, e->sym_off, e->str_off - e->sym_off, 8);
    exe_shdr(q + 5 * EXE_SHENT, 29, 3, e->str_off, e->sh_off - e->str_off, 1);
}

static void exe_free(exe *e)
{
    free(e->fn);
    free(e->strsalt);
    free(e->slen);
    free(e->namelen);
    free(e->fnorder[0]);
    free(e->fnorder[1]);
    free(e->strorder[0]);
    free(e->strorder[1]);
    free(e->fnaddr);
    free(e->straddr);
}

/* Returns P (of *CAP elements of SZ bytes) grown to hold at least N, or
 * NULL on failure with P still valid and owned by the caller. */
static void *grow_arr(void *p, size_t *cap, size_t n, size_t sz)
{
    size_t c = *cap ? *cap : 256;
    void *np;

    if (n <= *cap && p)
        return p;
    while (c < n)
        c *= 2;
    if (c > SIZE_MAX / sz)
        return NULL;
    np = realloc(p, c * sz);
    if (np)
        *cap = c;
    return np;
}

static void k_exe(rng *r, size_t size, buf *o, buf *n)
{
    /* Small requests are built at a workable size and cut afterwards: a
     * header plus one function does not fit in a few bytes. */
    size_t model = size < 2 * KIB ? 2 * KIB : size;
    size_t text = 0, ro = 0, fcap = 0, scap = 0, i, nf, ns, obase, nbase;
    size_t gfn, gstr, total0;
    uint8_t tmp[128];
    void *p;
    exe e;

    memset(&e, 0, sizeof e);
    e.kseed = rng_next(r);
    e.text_off = model >= 64 * KIB ? 0x1000 : 64;

    /* Old functions until the text target is met, then ~5% new ones. */
    for (nf = 0; text < model / 100 * 60 + 64 || nf < 2; nf++) {
        if (!(p = grow_arr(e.fn, &fcap, nf + 1, sizeof *e.fn)))
            goto oom;
        e.fn = p;
        e.fn[nf].seed = hash2(e.kseed, nf);
        e.fn[nf].mod = 0;
        e.fn[nf].len[0] = e.fn[nf].len[1] =
            (uint32_t)exe_emit_fn(NULL, &e.fn[nf], (uint32_t)nf, 0, 0, NULL);
        text += align_up(e.fn[nf].len[0], 16);
    }
    e.nfn[0] = nf;
    gfn = 1 + nf / 20;
    e.nfn[1] = nf + gfn;
    if (!(p = grow_arr(e.fn, &fcap, e.nfn[1], sizeof *e.fn)))
        goto oom;
    e.fn = p;
    for (i = nf; i < e.nfn[1]; i++) {
        e.fn[i].seed = hash2(e.kseed, i);
        e.fn[i].mod = 0;
        e.fn[i].len[0] = 0;
        e.fn[i].len[1] = (uint32_t)exe_emit_fn(NULL, &e.fn[i], (uint32_t)i, 1, 0, NULL);
    }
    for (i = 0; i < 1 + nf / 50; i++) { /* ~2% of old functions edited */
        exe_fn *f = &e.fn[rng_below(r, nf)];

        f->mod = (uint32_t)rng_next(r) | 1;
        f->len[1] = (uint32_t)exe_emit_fn(NULL, f, 0, 1, 0, NULL);
    }

    /* Strings until the rodata target; ~3% reworded, ~2.5% added. */
    for (ns = 0; ro < model / 100 * 12 || ns < 2; ns++) {
        if (!(p = grow_arr(e.slen, &scap, ns + 1, sizeof *e.slen)))
            goto oom;
        e.slen = p;
        e.slen[ns][0] = e.slen[ns][1] =
            (uint8_t)make_text(hash2(e.kseed + 1, ns), tmp);
        ro += e.slen[ns][0];
    }
    e.nstr[0] = ns;
    gstr = 1 + ns / 40;
    e.nstr[1] = ns + gstr;
    if (!(p = grow_arr(e.slen, &scap, e.nstr[1], sizeof *e.slen)))
        goto oom;
    e.slen = p;
    e.strsalt = calloc(e.nstr[1], sizeof *e.strsalt);
    e.namelen = malloc(e.nfn[1]);
    e.fnorder[0] = malloc(e.nfn[0] * sizeof(uint32_t));
    e.fnorder[1] = malloc(e.nfn[1] * sizeof(uint32_t));
    e.strorder[0] = malloc(e.nstr[0] * sizeof(uint32_t));
    e.strorder[1] = malloc(e.nstr[1] * sizeof(uint32_t));
    e.fnaddr = malloc(e.nfn[1] * sizeof(uint32_t));
    e.straddr = malloc(e.nstr[1] * sizeof(uint32_t));
    if (!e.strsalt || !e.namelen || !e.fnorder[0] || !e.fnorder[1] ||
        !e.strorder[0] || !e.strorder[1] || !e.fnaddr || !e.straddr)
        goto oom;
    for (i = ns; i < e.nstr[1]; i++) {
        e.slen[i][0] = 0;
        e.slen[i][1] = (uint8_t)make_text(exe_str_hash(&e, (uint32_t)i, 1), tmp);
    }
    for (i = 0; i < 1 + ns / 33; i++) {
        uint32_t id = (uint32_t)rng_below(r, ns);

        e.strsalt[id] = (uint32_t)rng_next(r) | 1;
        e.slen[id][1] = (uint8_t)make_text(exe_str_hash(&e, id, 1), tmp);
    }
    for (i = 0; i < e.nfn[1]; i++)
        e.namelen[i] = (uint8_t)make_name(hash2(e.kseed + 3, i), tmp);
    e.ndata[0] = clamp_sz(model / 100 * 8 / 8, 4, SIZE_MAX);
    e.ndata[1] = e.ndata[0] + gfn;
    for (i = 0; i < nf; i++)
        e.fnorder[0][i] = (uint32_t)i;
    for (i = 0; i < ns; i++)
        e.strorder[0][i] = (uint32_t)i;
    exe_order(r, nf, gfn, e.fnorder[1]);
    exe_order(r, ns, gstr, e.strorder[1]);
    e.str_scale[0] = ((uint64_t)e.nstr[0] << 24) / e.nfn[0];
    e.str_scale[1] = ((uint64_t)e.nstr[1] << 24) / e.nfn[1];

    obase = o->len;
    nbase = n->len;
    exe_write(&e, 0, o);
    exe_write(&e, 1, n);
    if (o->oom || n->oom)
        goto oom;
    total0 = o->len - obase;
    if (total0 < size) {
        /* Pad to the requested size with a shared trailing section (think
         * .comment/.debug) so old_len == size exactly. */
        rng tr = {hash2(e.kseed, 0x7472)};
        size_t pad = size - total0;

        gen_binary(&tr, o, pad);
        if (!o->oom)
            buf_put(n, o->p + o->len - pad, pad);
    } else {
        /* Too big (small sizes): cut both tails by the same amount, which
         * keeps the cut at the same logical place in each. */
        size_t cut = total0 - size, nl = n->len - nbase;

        o->len = obase + size;
        n->len = nbase + (nl > cut ? nl - cut : 0);
    }
    exe_free(&e);
    return;
oom:
    exe_free(&e);
    o->oom = 1;
}

/* ------------------------------------------------------------------------
 * text-edits: source-like text, one statement per line.  The new version
 * drops lines, renames a word here and there, and inserts lines that are
 * earlier lines with a word changed: new text made of phrases of the text
 * around it, too short for a copy, which is what literal dictionaries
 * (engine/diff/lits.c) are for.
 * ---------------------------------------------------------------------- */

/* One line, at most 100 bytes, into OUT; returns its length. */
static size_t text_line(rng *r, uint8_t *out)
{
    static const char seps[] = "_.(, ";
    size_t n = 4 * (size_t)rng_below(r, 4), nw = 3 + (size_t)rng_below(r, 6);
    memset(out, ' ', n);
    for (size_t i = 0; i < nw; i++) {
        if (i)
            out[n++] = (uint8_t)seps[rng_below(r, 5)];
        n += put_word(out + n, (unsigned)rng_next(r));
    }
    out[n++] = ';';
    out[n++] = '\n';
    return n;
}

/* LINE (N bytes) with its first word after the indent replaced, into OUT;
 * returns the new length (at most N + 8). */
static size_t text_rename(rng *r, const uint8_t *line, size_t n, uint8_t *out)
{
    size_t a = 0, b;
    while (a < n && line[a] == ' ')
        a++;
    for (b = a; b < n && line[b] >= 'a' && line[b] <= 'z'; b++)
        ;
    memcpy(out, line, a);
    size_t k = a + put_word(out + a, (unsigned)rng_next(r));
    memcpy(out + k, line + b, n - b);
    return k + n - b;
}

static void k_text(rng *r, size_t size, buf *o, buf *n)
{
    size_t obase = o->len, nlines = 0, cap = size / 8 + 1;
    size_t *start = malloc((cap + 1) * sizeof *start);
    uint8_t tmp[128];
    if (!start) {
        o->oom = 1;
        return;
    }
    while (o->len - obase + 100 <= size && nlines < cap && !o->oom) {
        start[nlines++] = o->len - obase;
        buf_put(o, tmp, text_line(r, tmp));
    }
    start[nlines] = o->len - obase;
    for (size_t i = 0; i < nlines && !o->oom && !n->oom; i++) {
        const uint8_t *line = o->p + obase + start[i];
        size_t len = start[i + 1] - start[i];
        switch (rng_below(r, 24)) {
        case 0: /* dropped */
            continue;
        case 1: case 2: { /* a line like one of the last hundred, inserted */
            size_t j = i - (size_t)rng_below(r, i < 100 ? i + 1 : 100);
            buf_put(n, tmp, text_rename(r, o->p + obase + start[j], start[j + 1] - start[j], tmp));
            break;
        }
        case 3: /* renamed */
            buf_put(n, tmp, text_rename(r, line, len, tmp));
            continue;
        default:
            break;
        }
        buf_put(n, o->p + obase + start[i], len);
    }
    free(start);
}

/* ------------------------------------------------------------------------
 * mixed: several kinds side by side, then two segments swapped in the new
 * image so the delta must also find cross-segment moves.
 * ---------------------------------------------------------------------- */

#define MIX_MAX 11

static const struct {
    const char *name;
    kind_fn fn;
    unsigned maxw; /* weight cap: keeps noise and growth from dominating */
} mix_parts[MIX_MAX] = {
    {"exe-like", k_exe, 8},           {"insert-delete", k_insert_delete, 8},
    {"zeros", k_zeros, 3},            {"transpose", k_transpose, 6},
    {"same-offset-edits", k_same_offset, 6}, {"rotate", k_rotate, 4},
    {"reverse-blocks", k_reverse_blocks, 4}, {"shrink", k_shrink, 4},
    {"identical", k_identical, 6},    {"grow", k_grow, 2},
    {"unrelated", k_unrelated, 1},
};

static void k_mixed(rng *r, size_t size, buf *o, buf *n)
{
    unsigned idx[MIX_MAX], w[MIX_MAX], m, i, j, t, wsum = 0;
    size_t part[MIX_MAX], nseg[MIX_MAX + 1], used = 0;
    buf tmp = {0};

    buf_reserve(&tmp, 1);   /* never NULL: see synth_make */
    for (i = 0; i < MIX_MAX; i++)
        idx[i] = i;
    for (i = MIX_MAX - 1; i > 0; i--) {
        j = (unsigned)rng_below(r, i + 1);
        t = idx[i], idx[i] = idx[j], idx[j] = t;
    }
    m = 5 + (unsigned)rng_below(r, 4);
    for (i = 0; i < m; i++) {
        w[i] = 1 + (unsigned)rng_below(r, mix_parts[idx[i]].maxw);
        wsum += w[i];
    }
    for (i = 0; i < m; i++) {
        part[i] = i + 1 < m ? (size_t)((uint64_t)size / wsum * w[i] +
                                       (uint64_t)size % wsum * w[i] / wsum)
                            : size - used;
        used += part[i];
    }
    nseg[0] = 0;
    for (i = 0; i < m; i++) {
        rng sub = {hash2(rng_next(r), i)};

        mix_parts[idx[i]].fn(&sub, part[i], o, &tmp);
        nseg[i + 1] = tmp.len;
    }
    if (!tmp.oom && !o->oom) {
        unsigned a = (unsigned)rng_below(r, m);
        unsigned b = (a + 1 + (unsigned)rng_below(r, m - 1)) % m;

        for (i = 0; i < m; i++) {
            j = i == a ? b : i == b ? a : i;
            buf_put(n, tmp.p + nseg[j], nseg[j + 1] - nseg[j]);
        }
    } else {
        o->oom = 1;
    }
    free(tmp.p);
}

/* ------------------------------------------------------------------------
 * Public API
 * ---------------------------------------------------------------------- */

static const struct {
    const char *name;
    kind_fn fn;
    int differ; /* non-empty pairs of this kind must differ */
} kinds[] = {
    {"empty", k_empty, 0},
    {"one-byte", k_one_byte, 1},
    {"empty-to-data", k_empty_to_data, 1},
    {"data-to-empty", k_data_to_empty, 1},
    {"identical", k_identical, 0},
    {"zeros", k_zeros, 1},
    {"same-offset-edits", k_same_offset, 1},
    {"insert-delete", k_insert_delete, 1},
    {"transpose", k_transpose, 1},
    {"swap-small", k_swap_small, 1},
    {"rotate", k_rotate, 1},
    {"reverse-blocks", k_reverse_blocks, 1},
    {"grow", k_grow, 1},
    {"shrink", k_shrink, 1},
    {"exe-like", k_exe, 1},
    {"unrelated", k_unrelated, 1},
    {"mixed", k_mixed, 1},
    {"text-edits", k_text, 1},
};

#define NKINDS (sizeof kinds / sizeof kinds[0])

static const char *const kind_names[] = {
    "empty",          "one-byte",  "empty-to-data",     "data-to-empty",
    "identical",      "zeros",     "same-offset-edits", "insert-delete",
    "transpose",      "swap-small", "rotate",   "reverse-blocks",    "grow",
    "shrink",         "exe-like",  "unrelated",         "mixed",
    "text-edits",     NULL,
};

_Static_assert(sizeof kind_names / sizeof kind_names[0] == NKINDS + 1,
               "kinds[] and kind_names[] must list the same kinds");

const char *const *synth_kinds(void)
{
    return kind_names;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xCBF29CE484222325ull;

    while (*s)
        h = (h ^ (uint8_t)*s++) * 0x100000001B3ull;
    return h;
}

/* Hands a buffer to the caller, NULL when empty (and trimmed, since the
 * doubling growth can leave up to half of it unused). */
static uint8_t *buf_take(buf *b, size_t *len)
{
    uint8_t *p;

    *len = b->len;
    if (b->len == 0) {
        free(b->p);
        return NULL;
    }
    if (b->cap > b->len + b->len / 16) {
        p = realloc(b->p, b->len);
        if (p)
            return p;
    }
    return b->p;
}

int synth_make(const char *kind, uint64_t seed, size_t size, synth_pair *out)
{
    size_t i;
    buf o = {0}, n = {0};
    rng r;

    if (!out)
        return -1;
    memset(out, 0, sizeof *out);
    if (!kind)
        return -1;
    for (i = 0; i < NKINDS; i++)
        if (strcmp(kinds[i].name, kind) == 0)
            break;
    if (i == NKINDS)
        return -1;
    /* The kind name is part of the seed so that kinds sharing a base image
     * generator do not share base images for the same seed. */
    r.s = hash2(seed, fnv1a(kind));
    /* never a NULL base pointer: the kinds do pointer arithmetic on it even
     * for empty parts (UB on NULL, found by fuzz_crash) */
    buf_reserve(&o, 1);
    buf_reserve(&n, 1);
    kinds[i].fn(&r, size, &o, &n);
    if (o.oom || n.oom) {
        free(o.p);
        free(n.p);
        return -2;
    }
    if (kinds[i].differ && (o.len || n.len) && o.len == n.len &&
        memcmp(o.p, n.p, o.len) == 0) {
        /* Tiny sizes can make an edit a no-op (rotating 1 byte); the kind
         * promises a difference, so force one. */
        n.p[n.len / 2] ^= 0x5A;
    }
    out->old_img = buf_take(&o, &out->old_len);
    out->new_img = buf_take(&n, &out->new_len);
    return 0;
}

void synth_free(synth_pair *p)
{
    if (!p)
        return;
    free(p->old_img);
    free(p->new_img);
    memset(p, 0, sizeof *p);
}
