/* Process set-up of OpenSSL for processes that use it only through us. */
#include "updelta/trust.h"

#include <openssl/crypto.h>

int upd_crypto_init_lean(void)
{
    /* each NO_ flag claims its one-time init step, so it is never run later */
    uint64_t opts = OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_ADD_ALL_CIPHERS
                    | OPENSSL_INIT_NO_ADD_ALL_DIGESTS | OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS;
    return OPENSSL_init_crypto(opts, NULL) == 1 ? 0 : UPD_E_STATE;
}
