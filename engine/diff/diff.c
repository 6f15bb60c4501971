/* upd_diff(): match -> refine -> build -> plan -> check -> emit. */
#include "diff_internal.h"
#include "../common/check.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>

void upd_diff_params_default(upd_diff_params *p)
{
    memset(p, 0, sizeof *p);
    p->level = UPD_DEFAULT_LEVEL;
    p->block_size = UPD_DEFAULT_BLOCK;
    p->segment_size = UPD_DEFAULT_SEGMENT;
    p->stash_max = UPD_DEFAULT_STASH_MAX;
    p->threads = 2;
    p->window = UPD_DEFAULT_WINDOW;
    p->dict_max = UPD_DEFAULT_DICT;
    p->trials = UPD_DEFAULT_TRIALS;
}

#define SAME_RUN_MIN 64u          /* unchanged bytes worth splitting an op for */
#define DICT_MIN     (64u << 10)  /* a smaller literal dictionary is not worth its read */
#define SAME_RUN_MAX (64u << 10)

/* The applier memory a schedule needs, bounded from above before emission.
 * A segment closes only when the next op (its payload and at most
 * UPD_OP_MAX_ENCODED control bytes) does not fit beside the control
 * region's head, so it outgrows segment_size only when it holds one op
 * alone (head included), and each closed segment
 * and the op after it hold more than segment_size: every op counted at
 * most twice, fewer than 2 * payload / segment_size + 1 segments.
 * DROPs put in after the cut add up to DROP_BYTES to a segment, and a cut
 * by STASH count can make more segments (CUTS has them). */
static uint64_t schedule_mem(const upd_gops *sched, const upd_cuts *cuts,
                             const upd_plan_info *info, const upd_diff_params *p,
                             const uint8_t *old_img, const uint8_t *new_img, uint64_t drop_bytes)
{
    uint64_t payload = 0, seg_max = p->segment_size;
    for (size_t i = 0; i < sched->n; i++) {
        uint64_t n = upd_ctrl_bound(1) + upd_gop_payload(&sched->v[i], old_img, new_img);
        payload += n;
        seg_max = n > seg_max ? n : seg_max;
    }
    seg_max += drop_bytes;
    upd_header h = { .seg_max = (uint32_t)seg_max, .seg_cmax = ZSTD_COMPRESSBOUND(seg_max),
                     .write_ranges = info->write_ranges, .stash_ranges = info->stash_ranges };
    uint64_t nseg = 2 * payload / p->segment_size + 1;
    if (cuts->n && cuts->n - 1 > nseg)
        nseg = cuts->n - 1;
    if (nseg > UPD_MAX_SEGMENTS)
        return UINT64_MAX;   /* no header can say it: fits no window */
    h.seg_count = (uint32_t)nseg;
    h.frozen_ranges = h.seg_count;   /* a dictionary window per segment at most */
    return upd_applier_mem_need(&h, p->window) + UPD_JOURNAL_MEM;
}

/* Emission may run any segment with its LIT ops last (lits.c): make that
 * order in *MOVED (emission encodes from it), check it too, and take the
 * larger range-set peaks.  A segment's peaks do not depend on the order
 * inside the segments before it (they leave the same sets), so the larger
 * of the two bounds any mix of the orders. */
static int check_lits_last(const upd_gops *sched, const upd_cuts *cuts, const uint8_t *old_img,
                           size_t old_len, const uint8_t *new_img, size_t new_len,
                           upd_plan_info *info, upd_gops *moved)
{
    free(moved->v);
    *moved = (upd_gops){ 0 };
    if (!sched->n)
        return 0;
    *moved = (upd_gops){ malloc(sched->n * sizeof *sched->v), sched->n, sched->n };
    upd_plan_info other = { .stash_size = info->stash_size };
    if (!moved->v)
        return UPD_E_NOMEM;
    memcpy(moved->v, sched->v, sched->n * sizeof *sched->v);
    int rc = upd_lits_last(moved, cuts);
    if (!rc)
        rc = upd_plan_check(moved, old_img, old_len, new_img, new_len, &other);
    if (other.write_ranges > info->write_ranges)
        info->write_ranges = other.write_ranges;
    if (other.stash_ranges > info->stash_ranges)
        info->stash_ranges = other.stash_ranges;
    return rc;
}

/* Replay SCHED in the simulator, in both orders emission may use (MOVED
 * gets the LITs-last one when dictionaries are on), into INFO's peaks. */
static int check_schedule(const upd_gops *sched, const upd_cuts *cuts, const uint8_t *old_img,
                          size_t old_len, const uint8_t *new_img, size_t new_len,
                          const upd_diff_params *p, upd_plan_info *info, upd_gops *moved)
{
    int rc = upd_plan_check(sched, old_img, old_len, new_img, new_len, info);
    if (!rc && p->dict_max)
        rc = check_lits_last(sched, cuts, old_img, old_len, new_img, new_len, info, moved);
    return rc;
}

/* A schedule and what checking it found. */
typedef struct {
    upd_gops sched, moved;      /* moved: the LITs-last order (dictionaries) */
    upd_cuts cuts;
    upd_plan_info info;
    uint64_t need;              /* applier memory, journal included */
    uint64_t drop_bytes;
} plan_state;

static void plan_free(plan_state *s)
{
    free(s->sched.v);
    free(s->moved.v);
    free(s->cuts.v);
    *s = (plan_state){ 0 };
}

/* The cuts with_drops tries after 0 (the schedule's own): segments of at
 * most 16384, 4096, ... 64 STASH ops; UINT32_MAX ends the list. */
#define DROP_CUT_FIRST 16384u
#define DROP_CUT_LAST  64u
static uint32_t next_cut(uint32_t max_stash)
{
    if (!max_stash)
        return DROP_CUT_FIRST;
    return max_stash > DROP_CUT_LAST ? max_stash / 4 : UINT32_MAX;
}

/* S with DROPs (drops.c) into *OUT and its memory, on the cut MAX_STASH
 * names (0: S's own).  Only the saved map is replayed, not the images. */
static int try_drops(const plan_state *s, uint32_t max_stash, const uint8_t *old_img,
                     const uint8_t *new_img, const upd_diff_params *p, plan_state *out)
{
    upd_cuts recut = { 0 };
    const upd_cuts *c = &s->cuts;
    int rc = 0;
    if (max_stash) {
        rc = upd_emit_cut(&s->sched, old_img, new_img, p->segment_size, max_stash, &recut);
        c = &recut;
    }
    out->info = s->info;
    if (!rc)
        rc = upd_plan_drops(&s->sched, c, &out->sched, &out->cuts, &out->drop_bytes,
                            &out->info.stash_ranges);
    if (!rc)
        out->need = schedule_mem(&out->sched, &out->cuts, &out->info, p, old_img, new_img,
                                 out->drop_bytes);
    free(recut.v);
    return rc;
}

/* S needs more than AIM with ranges saved: S with DROPs instead, on the
 * first cut that fits AIM (fewer segments compress better), else on the
 * cut that needs least, if that is less than S needs; checked again when
 * changed. */
static int with_drops(plan_state *s, uint64_t aim, const uint8_t *old_img, size_t old_len,
                      const uint8_t *new_img, size_t new_len, const upd_diff_params *p)
{
    plan_state best = { 0 }, t = { 0 };
    uint64_t best_need = s->need;
    int rc = 0, fits = 0;
    for (uint32_t m = 0; !rc && !fits && m != UINT32_MAX; m = next_cut(m)) {
        rc = try_drops(s, m, old_img, new_img, p, &t);
        fits = !rc && t.need <= aim;
        if (!rc && (fits || t.need < best_need)) {
            plan_free(&best);
            best = t;
            best_need = t.need;
            t = (plan_state){ 0 };
        }
        plan_free(&t);
    }
    if (!rc && best.sched.v)
        rc = check_schedule(&best.sched, &best.cuts, old_img, old_len, new_img, new_len, p,
                            &best.info, &best.moved);
    if (!rc && best.sched.v) {
        best.need = schedule_mem(&best.sched, &best.cuts, &best.info, p, old_img, new_img,
                                 best.drop_bytes);
        plan_free(s);
        *s = best;
        return 0;
    }
    plan_free(&best);
    return rc;
}

/* What the generator aims for: the window less what an applier process
 * holds besides the engine, when the window leaves room for it. */
static uint64_t diff_aim(const upd_diff_params *p)
{
    return p->window >= 2 * UPD_DIFF_PROCESS_RESERVE ? p->window - UPD_DIFF_PROCESS_RESERVE
                                                     : p->window;
}

static int str_ok(const char *s, size_t max)
{
    if (!s)
        return 1;
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return 0;
    return n <= max;
}

static int check_params(const upd_diff_params *p)
{
    if (p->level < 1 || p->level > ZSTD_maxCLevel())
        return UPD_E_INVAL;
    if (p->block_size < UPD_MIN_BLOCK || p->block_size > UPD_MAX_BLOCK
        || (p->block_size & (p->block_size - 1)))
        return UPD_E_INVAL;
    /* a segment must hold the largest op's payload plus its encoding */
    if (p->segment_size < 2 * UPD_PIECE || p->segment_size > UPD_MAX_SEG_SIZE / 2)
        return UPD_E_INVAL;
    if (p->trials > UPD_MAX_TRIALS || p->lzma > UPD_LZMA_ALWAYS)
        return UPD_E_INVAL;
    if (p->threads < 1 || p->threads > UPD_MAX_THREADS || p->stash_max > UPD_MAX_IMAGE
        || p->window < (1u << 20) || p->dict_max > UPD_MAX_SEG_SIZE)
        return UPD_E_INVAL;
    if (!str_ok(p->package_id, UPD_ID_MAX) || !str_ok(p->from_version, UPD_VERSION_MAX)
        || !str_ok(p->to_version, UPD_VERSION_MAX))
        return UPD_E_INVAL;
    return 0;
}

/* Package bytes in memory (an upd_bytes): a trial's, until the smallest is known. */
static int mem_write(void *user, const void *data, size_t len)
{
    return upd_bytes_put(user, data, len);
}

/* Covers CV (refined here) -> schedule -> package, handed to OUT; *AIMED
 * says whether it fits the aim (else only the window). */
static int make_package(const uint8_t *old_img, size_t old_len, const uint8_t *new_img,
                        size_t new_len, upd_covers *cv, const upd_diff_params *p,
                        upd_write_fn out, void *out_user, upd_diff_stats *st, int *aimed)
{
    upd_gops ops = { 0 };
    plan_state cur = { 0 }, fallback = { 0 };
    upd_diff_stats fallback_st = { 0 };
    uint64_t aim = diff_aim(p);
    double t0 = upd_now();
    int rc = upd_covers_refine(old_img, old_len, new_img, new_len, cv);
    st->t_match += upd_now() - t0;   /* a pass of the match stage */
    /* many tiny changes make many written ranges: leave unchanged runs out
     * of shifted covers and literal stretches only from longer lengths until
     * the package fits the aim; the first that fits the window is kept in
     * case none does, or a step closes less than a quarter of the gap (the
     * written ranges are not what is in the way: a 1 GiB pair's steps
     * took 1% of them each, after 110 s of checks) */
    uint64_t prev_need = UINT64_MAX;
    for (uint64_t same_run = SAME_RUN_MIN; !rc; same_run *= 4) {
        upd_diff_stats keep = *st;
        ops.n = cur.sched.n = 0;
        cur.info = (upd_plan_info){ 0 };
        rc = upd_build_ops(old_img, old_len, new_img, new_len, cv, same_run, &ops, st);
        if (!rc && p->progress)
            p->progress(p->progress_user, UPD_PHASE_PLAN, 0, ops.n);
        if (!rc)
            rc = upd_plan(&ops, old_len, new_len, p->stash_max, p->block_size, &cur.sched,
                          &cur.info.stash_size, st);
        if (!rc)
            rc = upd_emit_cut(&cur.sched, old_img, new_img, p->segment_size, 0, &cur.cuts);
        if (!rc)
            rc = check_schedule(&cur.sched, &cur.cuts, old_img, old_len, new_img, new_len, p,
                                &cur.info, &cur.moved);
        if (!rc)
            cur.need = schedule_mem(&cur.sched, &cur.cuts, &cur.info, p, old_img, new_img, 0);
        /* DROPs cost control bytes: only where the saved ranges do not fit */
        if (!rc && cur.need > aim && cur.info.stash_ranges)
            rc = with_drops(&cur, aim, old_img, old_len, new_img, new_len, p);
        if (!rc && p->progress)
            p->progress(p->progress_user, UPD_PHASE_PLAN, ops.n, ops.n);
        if (rc || cur.need <= aim)
            break;
        /* every need here is above the aim */
        uint64_t need = cur.need;
        int stuck = prev_need != UINT64_MAX
                    && (need >= prev_need || prev_need - need < (prev_need - aim) / 4);
        prev_need = need < prev_need ? need : prev_need;
        if (need <= p->window && !fallback.sched.v) {
            fallback = cur;
            fallback_st = *st;
            cur = (plan_state){ 0 };
        }
        if (same_run >= SAME_RUN_MAX || (stuck && fallback.sched.v)) {
            if (fallback.sched.v) {
                plan_free(&cur);
                cur = fallback;
                fallback = (plan_state){ 0 };
                *st = fallback_st;
            } else {
                rc = UPD_E_LIMIT;
            }
            break;
        }
        *st = keep;   /* count the final attempt only */
    }
    free(ops.v);
    plan_free(&fallback);
    /* the literals' dictionary gets what the aim (or the window) leaves */
    *aimed = cur.need <= aim;
    uint64_t limit = *aimed ? aim : p->window;
    /* LZMA2 segments need their decoder's memory first (the dictionary
     * gains less), when there is room for it */
    uint64_t xz_mem = upd_applier_mem_need(&(upd_header){ .flags = UPD_PKG_LZMA }, p->window)
                      - upd_applier_mem_need(&(upd_header){ .flags = 0 }, p->window);
    int xz = !rc && p->lzma != UPD_LZMA_NEVER && limit >= cur.need + xz_mem;
    uint64_t room = rc ? 0 : limit - cur.need - (xz ? xz_mem : 0);
    uint64_t dict = room < DICT_MIN ? 0 : room;
    dict = dict < p->dict_max ? dict : p->dict_max;
    if (!rc)
        rc = upd_emit(&cur.sched, cur.moved.v ? &cur.moved : NULL, &cur.cuts, old_img, old_len,
                      new_img, new_len, &cur.info, (uint32_t)dict, xz, p, out, out_user, st);
    plan_free(&cur);
    return rc;
}

/* The resync margins of the match trials, in the order they are tried:
 * bsdiff's first, so that one trial is bsdiff's scan.  The scan is greedy
 * and which margin wins depends on the pair, with no pattern to predict
 * it (package sizes over margins 2..24 on the ten real pairs: each of 2,
 * 4, 5, 8, 10 and 24 was the best for one of them, by up to 7%). */
static const unsigned trial_margins[UPD_MAX_TRIALS] = { 8, 4, 2, 16 };

/* Progress of trial T of N: each trial's plan and compression phases
 * scaled into the T-th N-th of one bar per phase. */
typedef struct {
    const upd_diff_params *p;
    unsigned t, n;
} trial_progress;

static void trial_progress_cb(void *user, int phase, uint64_t done, uint64_t total)
{
    const trial_progress *tp = user;
    uint64_t f = total && done < total ? (uint64_t)((double)done / (double)total * 1e6) : 1000000;
    tp->p->progress(tp->p->progress_user, phase, tp->t * 1000000ull + f, tp->n * 1000000ull);
}

/* Trial T's package from covers CV: to OUT when it is the only trial, else
 * into *PKG; *AIMED as make_package says.  Its progress is the T-th of
 * SLOTS parts of the bar. */
static int run_trial(const uint8_t *old_img, size_t old_len, const uint8_t *new_img,
                     size_t new_len, upd_covers *cv, unsigned t, unsigned slots,
                     const upd_diff_params *p, upd_bytes *pkg, upd_diff_stats *st,
                     upd_write_fn out, void *out_user, int *aimed)
{
    if (p->trials == 1)
        return make_package(old_img, old_len, new_img, new_len, cv, p, out, out_user, st, aimed);
    upd_diff_params tp = *p;
    trial_progress prog = { p, t, slots };
    if (p->progress) {
        tp.progress = trial_progress_cb;
        tp.progress_user = &prog;
    }
    pkg->n = 0;
    return make_package(old_img, old_len, new_img, new_len, cv, &tp, mem_write, pkg, st, aimed);
}

static int covers_copy(const upd_covers *from, upd_covers *to)
{
    *to = (upd_covers){ 0 };
    if (!from->n)
        return 0;
    to->v = malloc(from->n * sizeof *to->v);
    if (!to->v)
        return UPD_E_NOMEM;
    memcpy(to->v, from->v, from->n * sizeof *to->v);
    to->n = to->cap = from->n;
    return 0;
}

/* Whether two scans found the same covers (then their packages are the same). */
static int same_covers(const upd_covers *a, const upd_covers *b)
{
    return a->n == b->n && (!a->n || !memcmp(a->v, b->v, a->n * sizeof *a->v));
}

int upd_diff(const uint8_t *old_img, size_t old_len, const uint8_t *new_img, size_t new_len,
             const upd_diff_params *p, upd_write_fn out, void *out_user, upd_diff_stats *st)
{
    upd_diff_params defaults;
    upd_diff_stats local;
    if (!p) {
        upd_diff_params_default(&defaults);
        p = &defaults;
    }
    if (!st)
        st = &local;
    memset(st, 0, sizeof *st);
    if (!out || (old_len && !old_img) || (new_len && !new_img))
        return UPD_E_INVAL;
    UPD_CHECK(check_params(p));
    if (old_len > UPD_MAX_IMAGE || new_len > UPD_MAX_IMAGE)
        return UPD_E_DIFF_TOO_LARGE;

    unsigned n = p->trials ? p->trials : UPD_DEFAULT_TRIALS, dup[UPD_MAX_TRIALS];
    upd_diff_params eff = *p;   /* with the trial count resolved (0: the default) */
    eff.trials = n;
    p = &eff;
    upd_covers cv[UPD_MAX_TRIALS] = { { 0 } };
    upd_diff_stats ts, best_st = { 0 };
    upd_bytes pkg = { 0 }, best = { 0 };
    int rc = upd_match(old_img, old_len, new_img, new_len, trial_margins, n, cv, p, st);
    /* a trial whose scan found what an earlier one did makes no package:
     * it would be that one's */
    for (unsigned t = 0; t < n; t++) {
        dup[t] = t;
        for (unsigned u = 0; u < t && dup[t] == t; u++)
            if (same_covers(&cv[t], &cv[u]))
                dup[t] = u;
    }
    double t_refine = 0, t_plan = 0, t_emit = 0;
    int best_t = -1, best_aimed = 0, aimed = 0;
    /* Trials compare zstd packages, and the best one's covers are made
     * again with LZMA2 segments where smaller: encoding them costs about a
     * second per 3 MB of DIFF ops (esbuild's diff took 13.9 s with every
     * trial's, 6.7 s this way, 2.5 s with none).  (UPD_LZMA_ALWAYS runs
     * every trial with them: it promises them.) */
    int xz_after = n > 1 && p->lzma == UPD_LZMA_AUTO;
    unsigned slots = n + (unsigned)xz_after;
    upd_diff_params zp = *p;
    zp.lzma = xz_after ? UPD_LZMA_NEVER : p->lzma;
    upd_covers best_cv = { 0 };
    for (unsigned t = 0; !rc && t < n; t++) {
        if (dup[t] != t) {
            st->trial_size[t] = st->trial_size[dup[t]];
            continue;
        }
        /* the covers as found (make_package refines them) */
        upd_covers found = { 0 };
        if (xz_after)
            rc = covers_copy(&cv[t], &found);
        ts = *st;
        if (!rc)
            rc = run_trial(old_img, old_len, new_img, new_len, &cv[t], t, slots, &zp, &pkg, &ts,
                           out, out_user, &aimed);
        free(cv[t].v);   /* the duplicates were found before any trial */
        cv[t] = (upd_covers){ 0 };
        t_refine += ts.t_match - st->t_match;
        t_plan += ts.t_plan;
        t_emit += ts.t_emit;
        if (rc == UPD_E_LIMIT && n > 1) {
            rc = 0;   /* another trial may fit the window */
            free(found.v);
            continue;
        }
        if (!rc)
            st->trial_size[t] = ts.pkg_size;
        if (!rc && (best_t < 0 || upd_trial_beats(aimed, ts.pkg_size, best_aimed,
                                                  best_st.pkg_size))) {
            upd_bytes swap = best;
            best = pkg;
            pkg = swap;
            best_st = ts;
            best_t = (int)t;
            best_aimed = aimed;
            free(best_cv.v);
            best_cv = found;
            found = (upd_covers){ 0 };
        }
        free(found.v);
    }
    if (!rc && best_t >= 0 && xz_after) {
        /* kept only when it beats the zstd package, which stands when this
         * one cannot be made (no room, no memory); a package the dry run
         * refuses (UPD_E_INTERNAL) is a bug to report, not to hide */
        ts = *st;
        rc = run_trial(old_img, old_len, new_img, new_len, &best_cv, n, slots, p, &pkg, &ts, out,
                       out_user, &aimed);
        t_refine += ts.t_match - st->t_match;
        t_plan += ts.t_plan;
        t_emit += ts.t_emit;
        if (rc == UPD_E_LIMIT || rc == UPD_E_NOMEM || rc == UPD_E_COMPRESS)
            rc = 0;
        else if (!rc && upd_trial_beats(aimed, ts.pkg_size, best_aimed, best_st.pkg_size)) {
            upd_bytes swap = best;
            best = pkg;
            pkg = swap;
            best_st = ts;
        }
    }
    free(best_cv.v);
    free(pkg.p);
    if (!rc && best_t < 0)
        rc = UPD_E_LIMIT;   /* every trial was passed over */
    if (!rc) {
        /* the kept trial's counts, every trial's sizes and times */
        memcpy(best_st.trial_size, st->trial_size, sizeof st->trial_size);
        best_st.trials = n;
        best_st.best_trial = (unsigned)best_t;
        best_st.t_match = st->t_match + t_refine;
        best_st.t_plan = t_plan;
        best_st.t_emit = t_emit;
        *st = best_st;
        if (n > 1)
            rc = out(out_user, best.p, best.n);
    }
    for (unsigned t = 0; t < n; t++)
        free(cv[t].v);
    free(best.p);
    return rc;
}
