/* Base64, MD5 digests and the DM credentials built from them (dm_auth.h),
 * on OpenSSL libcrypto. */
#include "dm_int.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <updelta/dm_auth.h>

int upd_dm_b64_encode(const void *p, size_t n, char *out, size_t out_size)
{
    if ((!p && n) || !out || n > (size_t)INT_MAX / 4 * 3 - 3 || out_size < (n + 2) / 3 * 4 + 1)
        return UPD_E_INVAL;
    return EVP_EncodeBlock((unsigned char *)out, p, (int)n);
}

int upd_dm_b64_decode(const char *s, uint8_t *out, size_t out_size)
{
    if (!s || !out)
        return UPD_E_INVAL;
    size_t n = strlen(s);
    if (n > INT_MAX)
        return UPD_E_INVAL;
    /* EVP_DecodeUpdate skips line breaks but not spaces or tabs: drop them
     * first, in bounded pieces. */
    EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
    if (!ctx)
        return UPD_E_INTERNAL;
    EVP_DecodeInit(ctx);
    int rc = 0;
    size_t total = 0;
    unsigned char in[256], dec[256];
    for (size_t i = 0; i < n && rc == 0;) {
        int k = 0;
        for (; i < n && k < (int)sizeof in; i++)
            if (!strchr(" \t\r\n", s[i]))
                in[k++] = (unsigned char)s[i];
        int got = 0;
        if (EVP_DecodeUpdate(ctx, dec, &got, in, k) < 0)
            rc = UPD_E_DM_PARSE;
        else if ((size_t)got > out_size - total)
            rc = UPD_E_INVAL;
        else
            memcpy(out + total, dec, (size_t)got), total += (size_t)got;
    }
    int got = 0;
    if (rc == 0 && EVP_DecodeFinal(ctx, dec, &got) < 0)
        rc = UPD_E_DM_PARSE;
    if (rc == 0 && got != 0)    /* Final only flushes; all was decoded above */
        rc = UPD_E_DM_PARSE;
    EVP_ENCODE_CTX_free(ctx);
    return rc < 0 ? rc : (int)total;
}

int dm_md5(const dm_piece *pieces, size_t count, uint8_t out[16])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
    for (size_t i = 0; ok && i < count; i++)
        ok = EVP_DigestUpdate(ctx, pieces[i].p, pieces[i].n);
    unsigned len = 0;
    ok = ok && EVP_DigestFinal_ex(ctx, out, &len) && len == 16;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : UPD_E_INTERNAL;
}

int dm_digest(const char *user, const char *pass, const void *nonce, size_t nonce_len,
              const void *data, size_t data_len, uint8_t raw[16])
{
    if (!user || !pass || (!nonce && nonce_len))
        return UPD_E_INVAL;
    uint8_t md[16];
    char cred_b64[UPD_DM_B64_MD5_LEN], data_b64[UPD_DM_B64_MD5_LEN];
    dm_piece up[3] = { { user, strlen(user) }, { ":", 1 }, { pass, strlen(pass) } };
    int rc = dm_md5(up, 3, md);
    if (rc < 0)
        return rc;
    upd_dm_b64_encode(md, 16, cred_b64, sizeof cred_b64);
    dm_piece all[5] = { { cred_b64, 24 }, { ":", 1 }, { nonce ? nonce : "", nonce_len },
                        { ":", 1 }, { data_b64, 24 } };
    size_t count = 3;
    if (data) {
        rc = dm_md5(&(dm_piece){ data, data_len }, 1, md);
        if (rc < 0)
            return rc;
        upd_dm_b64_encode(md, 16, data_b64, sizeof data_b64);
        count = 5;
    }
    return dm_md5(all, count, raw);
}

static int digest_b64(const char *user, const char *pass, const void *nonce, size_t nonce_len,
                      const void *data, size_t data_len, char out[UPD_DM_B64_MD5_LEN])
{
    uint8_t raw[16];
    int rc = dm_digest(user, pass, nonce, nonce_len, data, data_len, raw);
    if (rc < 0)
        return rc;
    if (!out)
        return UPD_E_INVAL;
    upd_dm_b64_encode(raw, 16, out, UPD_DM_B64_MD5_LEN);
    return 0;
}

int upd_dm_auth_basic(const char *user, const char *pass, char *out, size_t out_size)
{
    if (!user || !pass || !out)
        return UPD_E_INVAL;
    char plain[512];
    int n = snprintf(plain, sizeof plain, "%s:%s", user, pass);
    if (n < 0 || (size_t)n >= sizeof plain)
        return UPD_E_INVAL;
    return upd_dm_b64_encode(plain, (size_t)n, out, out_size);
}

int upd_dm_auth_md5(const char *user, const char *pass, const void *nonce, size_t nonce_len,
                    char out[UPD_DM_B64_MD5_LEN])
{
    return digest_b64(user, pass, nonce, nonce_len, NULL, 0, out);
}

int upd_dm_cred_set(upd_dm_msg *m, const char *type, const char *user, const char *pass,
                    const void *nonce, size_t nonce_len)
{
    if (!m || !type || !user || !pass)
        return UPD_E_INVAL;
    char data[700];
    int rc;
    if (strcmp(type, UPD_DM_AUTH_BASIC) == 0)
        rc = upd_dm_auth_basic(user, pass, data, sizeof data);
    else if (strcmp(type, UPD_DM_AUTH_MD5) == 0)
        rc = upd_dm_auth_md5(user, pass, nonce, nonce_len, data);
    else
        return UPD_E_INVAL;
    if (rc < 0)
        return rc;
    upd_dm_cred *cred = upd_dm_hdr_cred(m);
    const char *name = upd_dm_strdup(m, user);
    if (!cred || !name || !(cred->data = upd_dm_strdup(m, data)))
        return UPD_E_NOMEM;
    cred->meta.type = strcmp(type, UPD_DM_AUTH_BASIC) == 0 ? UPD_DM_AUTH_BASIC : UPD_DM_AUTH_MD5;
    cred->meta.format = "b64";
    m->hdr.source_name = name;
    return 0;
}

/* Constant-time equality of two NUL-terminated strings. */
static int str_equal(const char *a, const char *b)
{
    size_t n = strlen(a);
    if (n != strlen(b))
        return 0;
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

int upd_dm_cred_verify(const upd_dm_cred *cred, const char *user_seen, const char *user,
                       const char *pass, const void *nonce, size_t nonce_len)
{
    if (!user || !pass)
        return UPD_E_INVAL;
    if (!cred || !cred->data || !cred->meta.type)
        return UPD_E_DM_AUTH;
    /* Format b64 is the only one DM uses; anything else is refused */
    if (cred->meta.format && strcmp(cred->meta.format, "b64") != 0)
        return UPD_E_DM_AUTH;
    char want[700];
    int rc;
    if (strcmp(cred->meta.type, UPD_DM_AUTH_BASIC) == 0) {
        rc = upd_dm_auth_basic(user, pass, want, sizeof want);
    } else if (strcmp(cred->meta.type, UPD_DM_AUTH_MD5) == 0) {
        if (!user_seen || strcmp(user_seen, user) != 0)
            return UPD_E_DM_AUTH;
        rc = upd_dm_auth_md5(user, pass, nonce, nonce_len, want);
    } else {
        return UPD_E_DM_AUTH;
    }
    if (rc < 0)
        return rc == UPD_E_INVAL ? UPD_E_DM_AUTH : rc;
    return str_equal(cred->data, want) ? 0 : UPD_E_DM_AUTH;
}

int upd_dm_hmac_mac(const char *user, const char *pass, const void *nonce, size_t nonce_len,
                    const void *body, size_t body_len, char out[UPD_DM_B64_MD5_LEN])
{
    if (!body && body_len)
        return UPD_E_INVAL;
    return digest_b64(user, pass, nonce, nonce_len, body ? body : "", body_len, out);
}

int upd_dm_hmac_header(const char *user, const char *pass, const void *nonce, size_t nonce_len,
                       const void *body, size_t body_len, char *out, size_t out_size)
{
    char mac[UPD_DM_B64_MD5_LEN];
    if (!user || strchr(user, '"') || !out)
        return UPD_E_INVAL;
    int rc = upd_dm_hmac_mac(user, pass, nonce, nonce_len, body, body_len, mac);
    if (rc < 0)
        return rc;
    int n = snprintf(out, out_size, "algorithm=MD5, username=\"%s\", mac=%s", user, mac);
    return n < 0 || (size_t)n >= out_size ? UPD_E_INVAL : n;
}

/* Copies [P, P+N) into OUT (OUT_SIZE with the NUL). */
static int copy_value(const char *p, size_t n, char *out, size_t out_size)
{
    if (n >= out_size)
        return UPD_E_INVAL;
    memcpy(out, p, n);
    out[n] = 0;
    return 0;
}

int upd_dm_hmac_parse(const char *header, char *user, size_t user_size, char *mac,
                      size_t mac_size)
{
    if (!header || !user || !mac || !user_size || !mac_size)
        return UPD_E_INVAL;
    int have_user = 0, have_mac = 0;
    const char *p = header;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *key = p;
        while (*p && *p != '=' && *p != ',' && *p != ' ')
            p++;
        size_t klen = (size_t)(p - key);
        while (*p == ' ')
            p++;
        if (*p != '=')
            return UPD_E_DM_PARSE;
        p++;
        while (*p == ' ')
            p++;
        const char *val = p;
        size_t vlen;
        if (*p == '"') {
            const char *end = strchr(++val, '"');
            if (!end)
                return UPD_E_DM_PARSE;
            vlen = (size_t)(end - val);
            p = end + 1;
        } else {
            while (*p && *p != ',' && *p != ' ')
                p++;
            vlen = (size_t)(p - val);
        }
        int rc = 0;
        if (klen == 9 && strncmp(key, "algorithm", 9) == 0) {
            if (vlen != 3 || strncmp(val, "MD5", 3) != 0)
                return UPD_E_DM_PARSE;
        } else if (klen == 8 && strncmp(key, "username", 8) == 0) {
            rc = copy_value(val, vlen, user, user_size);
            have_user = 1;
        } else if (klen == 3 && strncmp(key, "mac", 3) == 0) {
            rc = copy_value(val, vlen, mac, mac_size);
            have_mac = 1;
        }
        if (rc < 0)
            return rc;
    }
    return have_user && have_mac ? 0 : UPD_E_DM_PARSE;
}

int upd_dm_hmac_verify(const char *header, const char *user, const char *pass,
                       const void *nonce, size_t nonce_len, const void *body, size_t body_len)
{
    char got_user[256], got_mac[64], want[UPD_DM_B64_MD5_LEN];
    if (!user || !pass)
        return UPD_E_INVAL;
    int rc = upd_dm_hmac_parse(header, got_user, sizeof got_user, got_mac, sizeof got_mac);
    if (rc == UPD_E_INVAL)
        return UPD_E_DM_PARSE;    /* values longer than any we issue */
    if (rc < 0)
        return rc;
    rc = upd_dm_hmac_mac(user, pass, nonce, nonce_len, body, body_len, want);
    if (rc < 0)
        return rc;
    return strcmp(got_user, user) == 0 && str_equal(got_mac, want) ? 0 : UPD_E_DM_AUTH;
}

int upd_dm_nonce_new(uint8_t *out, size_t n)
{
    if (!out || n > INT_MAX)
        return UPD_E_INVAL;
    return RAND_bytes(out, (int)n) == 1 ? 0 : UPD_E_INTERNAL;
}
