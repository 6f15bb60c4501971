/* The applier's private state, shared by its three files:
 *   reader.c  the push state machine: header, manifest, auth, segments
 *   segment.c per-segment validation (pass 1) and execution (pass 2)
 *   image.c   base-image and result-image checks */
#ifndef UPD_APPLIER_H
#define UPD_APPLIER_H

#include "updelta/apply.h"
#include "../common/rangeset.h"
#include "../crypto/digest.h"

#include <zstd.h>

enum { ST_HEADER, ST_MANIFEST, ST_AUTH, ST_SEGMENT, ST_DONE };

struct upd_applier {
    upd_apply_params p;
    int       err;              /* sticky first error */
    int       state;
    int       header_ok;        /* header+manifest digest verified */
    upd_header h;
    upd_seg_entry *manifest;
    uint32_t  seg;              /* segment being received */
    uint64_t  pkg_total;        /* whole package length, once the manifest is known */

    uint8_t   fix[UPD_HEADER_SIZE];   /* staging for the fixed-size parts */
    size_t    fix_have;
    upd_sha256_ctx *hash;           /* header||manifest, then each segment */

    uint8_t  *cbuf;             /* compressed segment (seg_cmax) */
    size_t    cbuf_have;
    uint8_t  *dbuf;             /* decoded segment: ctrl | diff | lit (seg_max) */
    uint8_t  *iobuf;            /* source chunks, diff added in place */
    size_t    iobuf_size;
    ZSTD_DCtx *dctx;

    upd_io   *stash;            /* params' stash, or the in-memory one below */
    upd_io   *stash_mem;
    upd_rangeset written;       /* image ranges written so far */
    upd_rangeset saved;         /* old ranges saved -> their stash offsets */
    uint64_t  stash_end;        /* stash log length after the ops validated */
    uint64_t  stash_done;       /* stash log length after the ops run */
    uint64_t  cur_size;         /* image length as the ops have set it */
    uint64_t  low_water;        /* smallest length the image has had */

    upd_apply_stats st;
    size_t    mem;              /* bytes held now */
};

/* The image old bytes are read from: the source out of place, else the target. */
static inline upd_io *upd_ap_old(upd_applier *a) { return a->p.source ? a->p.source : a->p.target; }

/* image.c */
int upd_ap_check_base(upd_applier *a);
int upd_ap_check_result(upd_applier *a);

/* segment.c: validate every op of the decoded segment E, then run them. */
int upd_ap_validate_segment(upd_applier *a, const upd_seg_entry *e);
int upd_ap_execute_segment(upd_applier *a, const upd_seg_entry *e);

void upd_ap_progress(upd_applier *a, int phase, uint64_t done, uint64_t total);

#endif
