/* Simulated crashing device (include/updelta/iosim.h): two memory images,
 * durable and volatile, and the ordered log of unflushed writes and
 * resizes between them.  Invariant: replaying the whole log over the
 * durable image gives the volatile image.  A flush replays the log into
 * the durable image and empties it; a crash image replays a seeded choice
 * of it into a fresh copy of the durable image.  Requests run synchronously
 * inside submit; reap reports nothing new. */
#include "updelta/iosim.h"
#include "../common/check.h"
#include "../common/rangeset.h"
#include "io_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct upd_sim_power {
    uint64_t boundaries;     /* writes, flushes and resizes seen while on */
    uint64_t crash_at;       /* power goes off once boundaries reaches it */
    int      off;
    unsigned refs;           /* the creator's, plus one per open device */
    unsigned next_id;        /* devices opened so far: seeds differ per device */
};

typedef struct {
    uint8_t  kind;           /* UPD_SIM_WRITE or UPD_SIM_RESIZE */
    uint64_t off, len;       /* a resize keeps its new length in LEN */
    uint8_t *data;           /* a write's bytes (owned) */
} sim_entry;

typedef struct {
    uint64_t nth;            /* 0: disarmed */
    unsigned flags;
} sim_fault;

typedef struct {
    upd_sim_power *power;
    unsigned   id;
    uint32_t   sector;
    size_t     cap;
    upd_io    *durable, *vol;          /* memory handles */
    sim_entry *log;
    size_t     nlog, log_alloc;
    uint64_t   log_bytes;
    sim_fault  fault[UPD_SIM_RESIZE + 1];
    uint64_t   seen[UPD_SIM_RESIZE + 1];  /* requests per kind, failed included */
    uint64_t   injected, refused;
} sim_dev;

/* ---- power domain ------------------------------------------------------ */

int upd_sim_power_create(upd_sim_power **out)
{
    if (!out)
        return UPD_E_INVAL;
    upd_sim_power *p = calloc(1, sizeof *p);
    if (!p)
        return UPD_E_NOMEM;
    p->crash_at = UPD_SIM_NEVER;
    p->refs = 1;
    *out = p;
    return 0;
}

static void power_release(upd_sim_power *p)
{
    if (p && --p->refs == 0)
        free(p);
}

void upd_sim_power_free(upd_sim_power *p) { power_release(p); }

int upd_sim_power_crash_at(upd_sim_power *p, uint64_t k)
{
    if (!p || k < p->boundaries)
        return UPD_E_INVAL;
    if (p->off)
        return UPD_E_STATE;
    p->crash_at = k;
    p->off = k == p->boundaries;
    return 0;
}

void upd_sim_power_cut(upd_sim_power *p)
{
    if (p)
        p->off = 1;
}

uint64_t upd_sim_power_boundaries(const upd_sim_power *p) { return p ? p->boundaries : 0; }

int upd_sim_power_is_off(const upd_sim_power *p) { return p && p->off; }

/* ---- requests ------------------------------------------------------------ */

/* Admit one request of KIND: -EIO (refused, not counted) while the power
 * is off; else count it (a boundary unless it is a read) and return -EIO
 * when an armed fault fires, 0 when it may run. */
static int sim_admit(sim_dev *d, upd_sim_kind kind)
{
    if (d->power->off) {
        d->refused++;
        return -EIO;
    }
    const uint64_t n = ++d->seen[kind];
    if (kind != UPD_SIM_READ)
        d->power->boundaries++;
    const sim_fault *f = &d->fault[kind];
    if (f->nth && (n == f->nth || (n > f->nth && (f->flags & UPD_SIM_STICKY)))) {
        d->injected++;
        return -EIO;
    }
    return 0;
}

/* After a boundary request ran or failed: the power goes off once the
 * armed boundary is reached (the request itself completed).  Passes RC on. */
static int sim_settle(const sim_dev *d, int rc)
{
    if (d->power->boundaries >= d->power->crash_at)
        d->power->off = 1;
    return rc;
}

static size_t img_len(const upd_io *img)
{
    const uint8_t *p;
    size_t n = 0;
    upd_io_mem_view(img, &p, &n);
    return n;
}

/* Append an entry; its data is copied.  -ENOSPC past the log bounds. */
static int log_append(sim_dev *d, uint8_t kind, uint64_t off, uint64_t len, const void *data)
{
    if (d->nlog >= UPD_SIM_LOG_ENTRIES || len > UPD_SIM_LOG_MAX - d->log_bytes)
        return -ENOSPC;
    sim_entry *l = upd_grow(d->log, d->nlog, &d->log_alloc, sizeof *l);
    if (!l)
        return -ENOMEM;
    d->log = l;
    sim_entry e = { kind, off, len, NULL };
    if (data) {
        e.data = malloc((size_t)len);
        if (!e.data)
            return -ENOMEM;
        memcpy(e.data, data, (size_t)len);
        d->log_bytes += len;
    }
    d->log[d->nlog++] = e;
    return 0;
}

/* Take back the entry just appended (its request failed); passes RC on,
 * so the log and the volatile image stay in step. */
static int log_pop(sim_dev *d, int rc)
{
    sim_entry *e = &d->log[--d->nlog];
    if (e->data)
        d->log_bytes -= e->len;
    free(e->data);
    return rc;
}

static void log_clear(sim_dev *d)
{
    for (size_t i = 0; i < d->nlog; i++)
        free(d->log[i].data);
    d->nlog = 0;
    d->log_bytes = 0;
}

static int sim_read(sim_dev *d, const upd_io_req *r)
{
    UPD_CHECK(sim_admit(d, UPD_SIM_READ));
    const uint8_t *img;
    size_t len;
    upd_io_mem_view(d->vol, &img, &len);
    if (r->off > len || r->len > len - r->off)
        return -ENODATA;
    memcpy(r->buf, img + r->off, r->len);
    return 0;
}

static int sim_write_now(sim_dev *d, const upd_io_req *r)
{
    const size_t len = img_len(d->vol);
    if (r->off > len || r->len > len - r->off)
        return -ENOSPC;
    if (!r->len)
        return 0;
    UPD_CHECK(log_append(d, UPD_SIM_WRITE, r->off, r->len, r->buf));
    /* in range and memory already held: a memory write cannot fail */
    return upd_io_write(d->vol, r->buf, r->len, r->off) < 0 ? log_pop(d, -EIO) : 0;
}

static int sim_write(sim_dev *d, const upd_io_req *r)
{
    int rc = sim_admit(d, UPD_SIM_WRITE);
    if (!rc)
        rc = sim_write_now(d, r);
    return sim_settle(d, rc);
}

static int sim_submit(void *ctx, const upd_io_req *reqs, unsigned n)
{
    sim_dev *d = ctx;
    for (unsigned i = 0; i < n; i++)
        UPD_CHECK(reqs[i].op == UPD_IO_READ ? sim_read(d, &reqs[i]) : sim_write(d, &reqs[i]));
    return 0;
}

static int sim_reap(void *ctx) { (void)ctx; return 0; }

/* ---- replaying the log --------------------------------------------------- */

/* splitmix64: small, seedable, the same on every machine. */
static uint64_t sim_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Write DATA[0..LEN) at OFF into IMG, cut at IMG's length. */
static int land(upd_io *img, const uint8_t *data, uint64_t len, uint64_t off)
{
    const uint64_t size = img_len(img);
    if (off >= size)
        return 0;
    return upd_io_write(img, data, (size_t)(len < size - off ? len : size - off), off);
}

enum { SECTOR_NEW, SECTOR_OLD, SECTOR_FILL };
enum { FATE_KEEP, FATE_DROP, FATE_TEAR };

/* Land E sector by sector, each sector new, old or (TORN_ZERO/GARBAGE)
 * filled as a whole; FILL holds one sector of scratch. */
static int tear(const sim_dev *d, upd_io *img, const sim_entry *e, upd_sim_mode mode,
                uint64_t *rng, uint8_t *fill)
{
    const uint64_t size = img_len(img), end = e->off + e->len;
    for (uint64_t s = e->off - e->off % d->sector; s < end && s < size; s += d->sector) {
        const uint64_t lo = s > e->off ? s : e->off;
        const uint64_t hi = s + d->sector < end ? s + d->sector : end;
        const uint64_t r = sim_rand(rng);
        const int pick = mode == UPD_SIM_RANDOM_SUBSET ? (int)(r & 1) : (int)(r % 3);
        if (pick == SECTOR_NEW) {
            UPD_CHECK(land(img, e->data + (lo - e->off), hi - lo, lo));
        } else if (pick == SECTOR_FILL) {
            for (uint32_t i = 0; mode == UPD_SIM_TORN_GARBAGE && i < d->sector; i += 8) {
                const uint64_t g = sim_rand(rng);
                memcpy(fill + i, &g, d->sector - i < 8 ? d->sector - i : 8);
            }
            UPD_CHECK(land(img, fill, d->sector, s));
        }
    }
    return 0;
}

/* REORDER's victim: the index of one write that a later write overtook
 * (seeded among those a later write overlaps, else among all writes but
 * the last), or SIZE_MAX when there are fewer than two writes. */
static int reorder_victim(const sim_dev *d, uint64_t *rng, size_t *victim)
{
    *victim = SIZE_MAX;
    size_t *ov = malloc((d->nlog ? d->nlog : 1) * sizeof *ov);
    if (!ov)
        return UPD_E_NOMEM;
    upd_rangeset later;
    upd_rangeset_init(&later, (uint32_t)d->nlog);
    size_t nov = 0, nwrites = 0;
    int rc = 0;
    for (size_t i = d->nlog; i-- > 0 && !rc;) {
        const sim_entry *e = &d->log[i];
        if (e->kind != UPD_SIM_WRITE)
            continue;
        if (upd_rangeset_intersects(&later, e->off, e->off + e->len))
            ov[nov++] = i;
        nwrites++;
        rc = upd_rangeset_add(&later, e->off, e->off + e->len);
    }
    upd_rangeset_free(&later);
    if (!rc && nov) {
        *victim = ov[sim_rand(rng) % nov];
    } else if (!rc && nwrites >= 2) {
        uint64_t k = sim_rand(rng) % (nwrites - 1);
        for (size_t i = 0; *victim == SIZE_MAX; i++)
            if (d->log[i].kind == UPD_SIM_WRITE && k-- == 0)
                *victim = i;
    }
    free(ov);
    return rc < 0 ? UPD_E_NOMEM : 0;
}

/* Replay D's log into IMG under MODE with the random stream RNG.  Only a
 * memory shortage can fail it (every entry was checked when it was
 * logged): UPD_E_NOMEM. */
static int replay(const sim_dev *d, upd_io *img, upd_sim_mode mode, uint64_t rng)
{
    const int random = mode == UPD_SIM_RANDOM_SUBSET || mode == UPD_SIM_TORN_ZERO
                       || mode == UPD_SIM_TORN_GARBAGE;
    size_t victim = SIZE_MAX;
    if (mode == UPD_SIM_REORDER)
        UPD_CHECK(reorder_victim(d, &rng, &victim));
    uint8_t *fill = random ? calloc(1, d->sector) : NULL;
    if (random && !fill)
        return UPD_E_NOMEM;
    int rc = 0;
    for (size_t i = 0; i < d->nlog && !rc && mode != UPD_SIM_DROP_ALL; i++) {
        const sim_entry *e = &d->log[i];
        /* a resize is kept or dropped (1/2), a write kept, dropped or torn (1/3) */
        const uint64_t r = random ? sim_rand(&rng) : 0;
        const int fate = e->kind == UPD_SIM_RESIZE ? (int)(r & 1) : (int)(r % 3);
        if (fate == FATE_DROP || i == victim)
            continue;
        if (e->kind == UPD_SIM_RESIZE)
            rc = upd_io_resize(img, e->len);
        else if (fate == FATE_KEEP)
            rc = land(img, e->data, e->len, e->off);
        else
            rc = tear(d, img, e, mode, &rng, fill);
    }
    free(fill);
    return rc < 0 ? UPD_E_NOMEM : 0;
}

/* ---- flush, size, resize, close ------------------------------------------ */

/* Make room in the durable image for the longest length the log reaches,
 * so that the replay below cannot fail halfway. */
static int reserve_durable(sim_dev *d)
{
    const uint64_t len = img_len(d->durable);
    uint64_t most = len;
    for (size_t i = 0; i < d->nlog; i++)
        if (d->log[i].kind == UPD_SIM_RESIZE && d->log[i].len > most)
            most = d->log[i].len;
    if (most == len)
        return 0;
    if (upd_io_resize(d->durable, most) < 0)
        return -ENOMEM;
    return upd_io_resize(d->durable, len) < 0 ? -ENOMEM : 0;
}

static int sim_flush(void *ctx)
{
    sim_dev *d = ctx;
    int rc = sim_admit(d, UPD_SIM_FLUSH);
    if (!rc)
        rc = reserve_durable(d);
    if (!rc) {
        rc = replay(d, d->durable, UPD_SIM_KEEP_ALL, 0) < 0 ? -ENOMEM : 0;
        log_clear(d);
    }
    return sim_settle(d, rc);
}

static int sim_size(void *ctx, uint64_t *size)
{
    sim_dev *d = ctx;
    if (d->power->off) {
        d->refused++;
        return -EIO;
    }
    *size = img_len(d->vol);
    return 0;
}

static int sim_resize_now(sim_dev *d, uint64_t size)
{
    if (size > d->cap)
        return -ENOSPC;
    UPD_CHECK(log_append(d, UPD_SIM_RESIZE, 0, size, NULL));
    return upd_io_resize(d->vol, size) < 0 ? log_pop(d, -ENOMEM) : 0;
}

static int sim_resize(void *ctx, uint64_t size)
{
    sim_dev *d = ctx;
    int rc = sim_admit(d, UPD_SIM_RESIZE);
    if (!rc)
        rc = sim_resize_now(d, size);
    return sim_settle(d, rc);
}

static void sim_close(void *ctx)
{
    sim_dev *d = ctx;
    log_clear(d);
    free(d->log);
    upd_io_close(d->durable);
    upd_io_close(d->vol);
    power_release(d->power);
    free(d);
}

static const upd_io_methods sim_methods = {
    "sim", 0, sim_submit, sim_reap, sim_flush, sim_size, sim_resize, sim_close
};

int upd_io_open_sim(upd_io **out, upd_sim_power *p, const void *data, size_t len, size_t cap,
                    uint32_t sector_size)
{
    if (!out || !p || len > cap || (len && !data) || !sector_size || sector_size > (1u << 20)
        || (sector_size & (sector_size - 1)))
        return UPD_E_INVAL;
    if (p->off)
        return UPD_E_STATE;
    sim_dev *d = calloc(1, sizeof *d);
    if (!d)
        return UPD_E_NOMEM;
    d->power = p;
    p->refs++;
    d->id = p->next_id++;
    d->sector = sector_size;
    d->cap = cap;
    int rc = upd_io_open_mem(&d->durable, data, len, cap);
    if (!rc)
        rc = upd_io_open_mem(&d->vol, data, len, cap);
    if (!rc)
        rc = upd_io_create(out, &sim_methods, d);
    if (rc < 0)
        sim_close(d);
    return rc;
}

/* ---- harness side ---------------------------------------------------------- */

int upd_sim_fail_at(upd_io *io, upd_sim_kind kind, uint64_t nth, unsigned flags)
{
    sim_dev *d = upd_io_backend_ctx(io, &sim_methods);
    if (!d || (unsigned)kind > UPD_SIM_RESIZE || (flags & ~UPD_SIM_STICKY))
        return UPD_E_INVAL;
    d->fault[kind] = (sim_fault){ nth, flags };
    return 0;
}

int upd_sim_crash_image(const upd_io *io, upd_sim_mode mode, uint64_t seed, upd_io **out)
{
    const sim_dev *d = upd_io_backend_ctx(io, &sim_methods);
    if (!d || !out || (unsigned)mode > UPD_SIM_REORDER)
        return UPD_E_INVAL;
    const uint8_t *bytes;
    size_t len;
    upd_io_mem_view(d->durable, &bytes, &len);
    upd_io *img;
    UPD_CHECK(upd_io_open_mem(&img, bytes, len, d->cap));
    /* devices of one domain draw different streams from one seed */
    int rc = replay(d, img, mode, seed ^ (uint64_t)d->id * 0xd1b54a32d192ed03ull);
    if (rc < 0) {
        upd_io_close(img);
        return rc;
    }
    *out = img;
    return 0;
}

int upd_sim_get_stats(const upd_io *io, upd_sim_stats *st)
{
    const sim_dev *d = upd_io_backend_ctx(io, &sim_methods);
    if (!d || !st)
        return UPD_E_INVAL;
    *st = (upd_sim_stats){
        .reads = d->seen[UPD_SIM_READ], .writes = d->seen[UPD_SIM_WRITE],
        .flushes = d->seen[UPD_SIM_FLUSH], .resizes = d->seen[UPD_SIM_RESIZE],
        .injected = d->injected, .refused = d->refused,
        .pending_entries = d->nlog, .pending_bytes = d->log_bytes,
        .durable_len = img_len(d->durable), .volatile_len = img_len(d->vol),
    };
    return 0;
}
