/* SHA-256 through OpenSSL libcrypto (SHA-NI where the CPU has it). */
#ifndef UPD_DIGEST_H
#define UPD_DIGEST_H

#include <stddef.h>
#include <stdint.h>

typedef struct evp_md_ctx_st upd_sha256_ctx;

/* NULL on allocation failure. */
upd_sha256_ctx *upd_sha256_new(void);
void upd_sha256_update(upd_sha256_ctx *s, const void *data, size_t len);
/* Writes the digest and resets S for reuse. */
void upd_sha256_final(upd_sha256_ctx *s, uint8_t out[32]);
void upd_sha256_free(upd_sha256_ctx *s);
/* One shot; returns 0 or UPD_E_NOMEM. */
int upd_sha256(const void *data, size_t len, uint8_t out[32]);

#endif
