/* Private to adapters/dm: the arena every message owns, a growing byte
 * buffer the writers share, element names, and the MD5/base64 helpers the
 * auth and notification code share.  Not installed. */
#ifndef UPD_DM_INT_H
#define UPD_DM_INT_H

#include <stddef.h>
#include <stdint.h>

#include <updelta/dm.h>

/* Zeroed, 16-byte aligned memory from M's arena; NULL when out of memory
 * or N overflows.  Freed only with the message. */
void *dm_alloc(upd_dm_msg *m, size_t n);

/* Growing output buffer.  An allocation failure is sticky: every later
 * append is a no-op and dm_buf_failed() reports it once at the end. */
typedef struct {
    uint8_t *p;
    size_t len, cap;
    int failed;
} dm_buf;

void dm_buf_put(dm_buf *b, const void *p, size_t n);
void dm_buf_puts(dm_buf *b, const char *s);
static inline int dm_buf_failed(const dm_buf *b) { return b->failed; }

/* True (1) when meta.format names binary data carried base64 in XML. */
int dm_format_is_bin(const char *format);

/* XML <-> model.  LIM is never NULL here; WHY may be NULL. */
int dm_xml_read(const void *buf, size_t len, const upd_dm_limits *lim,
                upd_dm_msg **out, char *why, size_t why_len);
int dm_xml_write(const upd_dm_msg *m, dm_buf *out);

/* WBXML <-> XML through libwbxml, bounded on both sides. */
int dm_wbxml_to_xml(const void *buf, size_t len, const upd_dm_limits *lim,
                    uint8_t **xml, size_t *xml_len, char *why, size_t why_len);
int dm_xml_to_wbxml(const uint8_t *xml, size_t xml_len, uint8_t **out, size_t *out_len);

/* printf into WHY (if not NULL) and return ERR. */
int dm_fail(int err, char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Raw MD5 of the concatenated pieces into OUT[16]. */
typedef struct { const void *p; size_t n; } dm_piece;
int dm_md5(const dm_piece *pieces, size_t count, uint8_t out[16]);

/* MD5(B64(MD5("user:pass")) ":" nonce ":" B64(MD5(data))) when DATA is not
 * NULL, else MD5(B64(MD5("user:pass")) ":" nonce), raw: the shape shared
 * by auth-md5, the HMAC and package #0. */
int dm_digest(const char *user, const char *pass, const void *nonce, size_t nonce_len,
              const void *data, size_t data_len, uint8_t raw[16]);

#endif /* UPD_DM_INT_H */
