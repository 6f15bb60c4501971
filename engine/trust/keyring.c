/* Trusted keyrings: public keys by id, revocations, and signature checks. */
#include "trust_internal.h"
#include "updelta/format.h"
#include "../common/check.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RING_MAX 64

struct upd_keyring {
    upd_key *keys[RING_MAX];
    unsigned nkeys;
    uint8_t  revoked[RING_MAX][UPD_KEY_ID_SIZE];
    unsigned nrevoked;
};

int upd_keyring_create(upd_keyring **out)
{
    if (!out)
        return UPD_E_INVAL;
    *out = calloc(1, sizeof **out);
    return *out ? 0 : UPD_E_NOMEM;
}

void upd_keyring_free(upd_keyring *kr)
{
    if (!kr)
        return;
    for (unsigned i = 0; i < kr->nkeys; i++)
        upd_key_free(kr->keys[i]);
    free(kr);
}

unsigned upd_keyring_count(const upd_keyring *kr) { return kr ? kr->nkeys : 0; }

static upd_key *ring_find(const upd_keyring *kr, const uint8_t *id)
{
    for (unsigned i = 0; i < kr->nkeys; i++)
        if (!memcmp(kr->keys[i]->id, id, UPD_KEY_ID_SIZE))
            return kr->keys[i];
    return NULL;
}

static int ring_revoked(const upd_keyring *kr, const uint8_t *id)
{
    for (unsigned i = 0; i < kr->nrevoked; i++)
        if (!memcmp(kr->revoked[i], id, UPD_KEY_ID_SIZE))
            return 1;
    return 0;
}

int upd_keyring_add(upd_keyring *kr, const upd_key *k)
{
    if (!kr || !k)
        return UPD_E_INVAL;
    if (ring_find(kr, k->id))
        return 0;
    if (kr->nkeys == RING_MAX)
        return UPD_E_LIMIT;
    /* keep only the public half: a device never needs the private key */
    upd_key *pub = calloc(1, sizeof *pub);
    if (!pub)
        return UPD_E_NOMEM;
    pub->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, k->pub, 32);
    if (!pub->pkey) {
        free(pub);
        return UPD_E_NOMEM;
    }
    memcpy(pub->pub, k->pub, 32);
    memcpy(pub->id, k->id, UPD_KEY_ID_SIZE);
    kr->keys[kr->nkeys++] = pub;
    return 0;
}

int upd_keyring_revoke(upd_keyring *kr, const uint8_t id[UPD_KEY_ID_SIZE])
{
    if (!kr || !id)
        return UPD_E_INVAL;
    if (ring_revoked(kr, id))
        return 0;
    if (kr->nrevoked == RING_MAX)
        return UPD_E_LIMIT;
    memcpy(kr->revoked[kr->nrevoked++], id, UPD_KEY_ID_SIZE);
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* One line of a "revoked" file: blank, a comment, or 16 hex digits. */
static int revoke_line(upd_keyring *kr, const char *line)
{
    while (isspace((unsigned char)*line))
        line++;
    if (!*line || *line == '#')
        return 0;
    uint8_t id[UPD_KEY_ID_SIZE];
    for (int i = 0; i < UPD_KEY_ID_SIZE; i++) {
        int hi = hexval(line[2 * i]), lo = hi < 0 ? -1 : hexval(line[2 * i + 1]);
        if (lo < 0)
            return UPD_E_KEY;
        id[i] = (uint8_t)(hi << 4 | lo);
    }
    line += 2 * UPD_KEY_ID_SIZE;
    while (isspace((unsigned char)*line))
        line++;
    if (*line && *line != '#')
        return UPD_E_KEY;
    return upd_keyring_revoke(kr, id);
}

static int load_revoked(upd_keyring *kr, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return UPD_E_IO_OPEN;
    char line[256];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f))
        rc = revoke_line(kr, line);
    fclose(f);
    return rc;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && !strcmp(s + n - m, suffix);
}

int upd_keyring_load_dir(upd_keyring *kr, const char *dir)
{
    if (!kr || !dir)
        return UPD_E_INVAL;
    DIR *d = opendir(dir);
    if (!d)
        return UPD_E_IO_OPEN;
    int rc = 0;
    struct dirent *de;
    char path[4096];
    while (rc == 0 && (de = readdir(d))) {
        int pub = ends_with(de->d_name, ".pub"), rev = !strcmp(de->d_name, "revoked");
        if (!pub && !rev)
            continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= (int)sizeof path) {
            rc = UPD_E_INVAL;
            break;
        }
        if (rev) {
            rc = load_revoked(kr, path);
            continue;
        }
        upd_key *k;
        rc = upd_key_load(&k, path);
        if (rc == 0) {
            rc = upd_keyring_add(kr, k);
            upd_key_free(k);
        }
    }
    closedir(d);
    return rc;
}

int upd_keyring_verify(const upd_keyring *kr, const void *auth)
{
    if (!kr || !auth)
        return UPD_E_INVAL;
    upd_auth au;
    UPD_CHECK(upd_auth_decode(auth, &au));
    if (au.sig_alg == UPD_SIG_NONE)
        return UPD_E_SIG_MISSING;
    if (ring_revoked(kr, au.key_id))
        return UPD_E_SIG_KEY_REVOKED;
    const upd_key *k = ring_find(kr, au.key_id);
    if (!k)
        return UPD_E_SIG_KEY_UNKNOWN;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c)
        return UPD_E_NOMEM;
    int ok = EVP_DigestVerifyInit(c, NULL, NULL, NULL, k->pkey) == 1
             && EVP_DigestVerify(c, au.sig, sizeof au.sig, auth, UPD_AUTH_SIGNED) == 1;
    EVP_MD_CTX_free(c);
    return ok ? 0 : UPD_E_PKG_SIGNATURE;
}
