/* libFuzzer target: notification package #0 (dm_notify.h).
 *
 * The input is the package.  Oracles: decode accepts or refuses with
 * UPD_E_DM_NOTIFY; what it accepts re-encodes to the same trigger bytes,
 * and the re-encoded package (signed with a known password) verifies,
 * while the input verifies against that password only if its digest is
 * the re-encoded one. */
#include "fuzz_common.h"

#include <stdlib.h>
#include <string.h>

#include <updelta/dm_notify.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    upd_dm_notify n;
    int rc = upd_dm_notify_decode(data, size, &n);
    FUZZ_ASSERT(rc == 0 || rc == UPD_E_DM_NOTIFY);
    fuzz_note("dm_notify: %s\n", upd_errname(rc));
    if (rc < 0) {
        FUZZ_ASSERT(upd_dm_notify_verify(data, size, "s", "pw", NULL, 0, NULL) == UPD_E_DM_NOTIFY);
        return 0;
    }
    uint8_t *out = malloc(size);
    FUZZ_ASSERT(out != NULL);
    int len = upd_dm_notify_encode(&n, "pw", "nonce", 5, out, size);
    FUZZ_ASSERT(len > 0 && (size_t)len == size);
    FUZZ_ASSERT(memcmp(out + 16, data + 16, size - 16) == 0);
    FUZZ_ASSERT(upd_dm_notify_verify(out, size, n.server_id, "pw", "nonce", 5, NULL) == 0);
    rc = upd_dm_notify_verify(data, size, n.server_id, "pw", "nonce", 5, NULL);
    if (memcmp(out, data, 16) == 0)
        FUZZ_ASSERT(rc == 0);
    else    /* 1: the input was signed with a reset nonce */
        FUZZ_ASSERT(rc == 1 || rc == UPD_E_DM_NOTIFY);
    free(out);
    return 0;
}
