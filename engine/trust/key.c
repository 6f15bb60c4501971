/* Ed25519 keys: generate, load and save PEM, key ids, and signing. */
#define _POSIX_C_SOURCE 200809L
#include "trust_internal.h"
#include "updelta/format.h"
#include "../common/check.h"
#include "../crypto/digest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/pem.h>

/* Wrap PKEY (ownership taken) after checking it is Ed25519. */
static int key_wrap(upd_key **out, EVP_PKEY *pkey, int priv)
{
    size_t n = 32;
    upd_key *k = calloc(1, sizeof *k);
    if (!k) {
        EVP_PKEY_free(pkey);
        return UPD_E_NOMEM;
    }
    k->pkey = pkey;
    k->priv = priv;
    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_ED25519
        || EVP_PKEY_get_raw_public_key(pkey, k->pub, &n) != 1 || n != 32) {
        upd_key_free(k);
        return UPD_E_KEY;
    }
    upd_key_id_of(k->pub, k->id);
    *out = k;
    return 0;
}

void upd_key_id_of(const uint8_t pub[32], uint8_t id[UPD_KEY_ID_SIZE])
{
    uint8_t h[32];
    if (upd_sha256(pub, 32, h) < 0)
        memset(h, 0, sizeof h);   /* only on allocation failure; no key matches */
    memcpy(id, h, UPD_KEY_ID_SIZE);
}

int upd_key_generate(upd_key **out)
{
    if (!out)
        return UPD_E_INVAL;
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    int ok = c && EVP_PKEY_keygen_init(c) == 1 && EVP_PKEY_keygen(c, &pkey) == 1;
    EVP_PKEY_CTX_free(c);
    if (!ok)
        return UPD_E_KEY;
    return key_wrap(out, pkey, 1);
}

/* The two DER forms of RFC 8410 (what key_save writes): a SubjectPublicKeyInfo
 * ("PUBLIC KEY") and a version-1 PKCS#8 PrivateKeyInfo ("PRIVATE KEY"), each
 * a fixed prefix and the 32 key bytes.  A file of one such block is matched
 * directly: OpenSSL's generic decoders cost 2.3 ms per load on this machine
 * against 0.7 (every apply, verify and DM session loads a key). */
static const uint8_t spki_prefix[12] = { 0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65,
                                         0x70, 0x03, 0x21, 0x00 };
static const uint8_t pkcs8_prefix[16] = { 0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
                                          0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20 };

static EVP_PKEY *ed25519_of_der(const char *name, const uint8_t *der, long len, int *priv)
{
    *priv = 0;
    if (!strcmp(name, PEM_STRING_PUBLIC) && len == 44 && !memcmp(der, spki_prefix, 12))
        return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, der + 12, 32);
    if (!strcmp(name, PEM_STRING_PKCS8INF) && len == 48 && !memcmp(der, pkcs8_prefix, 16)) {
        *priv = 1;
        return EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, der + 16, 32);
    }
    return NULL;
}

/* The key of F when F holds one PEM block, without headers, in one of the
 * two forms; else NULL. */
static EVP_PKEY *load_plain(FILE *f, int *priv)
{
    char *name, *hdr;
    unsigned char *der;
    long len;
    EVP_PKEY *pkey = NULL;
    /* PEM_read's outputs are freed only when it succeeded (before OpenSSL
     * 3.0.8 a failure could leave a freed pointer there, CVE-2022-4450) */
    if (PEM_read(f, &name, &hdr, &der, &len) != 1)
        return NULL;
    if (!*hdr)
        pkey = ed25519_of_der(name, der, len, priv);
    OPENSSL_free(name);
    OPENSSL_free(hdr);
    OPENSSL_clear_free(der, (size_t)len);
    if (pkey && PEM_read(f, &name, &hdr, &der, &len) == 1) {
        /* more blocks: the decoders choose, as they always did */
        OPENSSL_free(name);
        OPENSSL_free(hdr);
        OPENSSL_clear_free(der, (size_t)len);
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    ERR_clear_error();   /* the end of the file, or a block not for us */
    return pkey;
}

/* OpenSSL's default would ask for an encrypted key's passphrase on the
 * terminal, or read it from stdin when there is none: a library must not. */
static int no_passphrase(char *buf, int size, int rwflag, void *user)
{
    (void)buf, (void)size, (void)rwflag, (void)user;
    return -1;
}

int upd_key_load(upd_key **out, const char *path)
{
    if (!out || !path)
        return UPD_E_INVAL;
    FILE *f = fopen(path, "r");
    if (!f)
        return UPD_E_IO_OPEN;
    int priv;
    EVP_PKEY *pkey = load_plain(f, &priv);
    if (!pkey) {
        rewind(f);
        pkey = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
        priv = pkey != NULL;
    }
    if (!pkey) {
        rewind(f);
        pkey = PEM_read_PUBKEY(f, NULL, no_passphrase, NULL);
    }
    fclose(f);
    if (!pkey) {
        ERR_clear_error();   /* the decoders' complaints are not the caller's */
        return UPD_E_KEY;
    }
    return key_wrap(out, pkey, priv);
}

static int key_save(const upd_key *k, const char *path, int priv)
{
    if (!k || !path)
        return UPD_E_INVAL;
    if (priv && !k->priv)
        return UPD_E_KEY;
    /* a private key is never written over an existing file, nor readable
     * by others for an instant */
    int fd = priv ? open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)
                  : open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return UPD_E_IO_OPEN;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        return UPD_E_IO_OPEN;
    }
    int ok = priv ? PEM_write_PrivateKey(f, k->pkey, NULL, NULL, 0, NULL, NULL)
                  : PEM_write_PUBKEY(f, k->pkey);
    ok = fflush(f) == 0 && fsync(fileno(f)) == 0 && ok == 1;
    if (fclose(f) != 0)
        ok = 0;
    return ok ? 0 : UPD_E_IO_WRITE;
}

int upd_key_save_private(const upd_key *k, const char *path) { return key_save(k, path, 1); }
int upd_key_save_public(const upd_key *k, const char *path) { return key_save(k, path, 0); }

int upd_key_is_private(const upd_key *k) { return k && k->priv; }

void upd_key_id(const upd_key *k, uint8_t id[UPD_KEY_ID_SIZE])
{
    memcpy(id, k->id, UPD_KEY_ID_SIZE);
}

void upd_key_free(upd_key *k)
{
    if (!k)
        return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

int upd_sign_prefix(void *prefix, size_t len, const upd_key *k)
{
    if (!prefix || !k)
        return UPD_E_INVAL;
    if (!k->priv)
        return UPD_E_KEY;
    uint8_t *p = prefix;
    upd_header h;
    UPD_CHECK(upd_header_decode(p, len, &h));
    uint64_t body = upd_pkg_prefix_size(&h) - UPD_AUTH_SIZE;
    if (len < body + UPD_AUTH_SIZE)
        return UPD_E_PKG_TRUNCATED;
    upd_auth au;
    uint8_t digest[32];
    UPD_CHECK(upd_auth_decode(p + body, &au));
    UPD_CHECK(upd_sha256(p, (size_t)body, digest));
    if (memcmp(digest, au.digest, 32))
        return UPD_E_PKG_DIGEST;
    au.sig_alg = UPD_SIG_ED25519;
    memcpy(au.key_id, k->id, UPD_KEY_ID_SIZE);
    memset(au.sig, 0, sizeof au.sig);
    uint8_t blk[UPD_AUTH_SIZE];
    upd_auth_encode(&au, blk);
    size_t siglen = sizeof au.sig;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestSignInit(c, NULL, NULL, NULL, k->pkey) == 1
             && EVP_DigestSign(c, au.sig, &siglen, blk, UPD_AUTH_SIGNED) == 1
             && siglen == sizeof au.sig;
    EVP_MD_CTX_free(c);
    if (!ok)
        return UPD_E_NOMEM;
    upd_auth_encode(&au, p + body);
    return 0;
}
