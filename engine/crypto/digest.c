#include "digest.h"
#include "updelta/common.h"

#include <openssl/evp.h>

upd_sha256_ctx *upd_sha256_new(void)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(c);
        return NULL;
    }
    return c;
}

void upd_sha256_update(upd_sha256_ctx *s, const void *data, size_t len)
{
    if (len)
        EVP_DigestUpdate(s, data, len);
}

void upd_sha256_final(upd_sha256_ctx *s, uint8_t out[32])
{
    unsigned n = 32;
    EVP_DigestFinal_ex(s, out, &n);
    EVP_DigestInit_ex(s, EVP_sha256(), NULL);
}

void upd_sha256_free(upd_sha256_ctx *s) { EVP_MD_CTX_free(s); }

int upd_sha256(const void *data, size_t len, uint8_t out[32])
{
    unsigned n = 32;
    return EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) == 1 ? 0 : UPD_E_NOMEM;
}
