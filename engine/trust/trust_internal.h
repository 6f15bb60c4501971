/* Private parts of the trust layer shared by key.c and keyring.c. */
#ifndef UPD_TRUST_INTERNAL_H
#define UPD_TRUST_INTERNAL_H

#include "updelta/trust.h"
#include <openssl/evp.h>

struct upd_key {
    EVP_PKEY *pkey;
    int       priv;
    uint8_t   pub[32];
    uint8_t   id[UPD_KEY_ID_SIZE];
};

/* The key id of raw Ed25519 public key PUB. */
void upd_key_id_of(const uint8_t pub[32], uint8_t id[UPD_KEY_ID_SIZE]);

#endif
