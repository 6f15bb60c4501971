/*
 * updelta: trust: signing keys, trusted keyrings, package signatures, and
 * the version order anti-rollback uses.
 *
 * A package is signed with Ed25519 (OpenSSL libcrypto).  The signature sits
 * in the auth block and covers the auth block's first 41 bytes:
 *     SHA-256(header || manifest) | sig_alg (u8) | key_id
 * so it binds the header (sizes, base and result hashes, package id,
 * from/to versions), every segment's SHA-256 (in the manifest), and the
 * algorithm and key named.  The applier checks it before the first write
 * and checks each segment against the manifest before running any of its
 * operations: no unsigned byte is ever written, even mid-stream.
 *
 * A key id is the first 8 bytes of SHA-256 of the 32-byte raw public key;
 * it selects the key in a keyring, so a device can trust several keys and
 * rotate them, and can revoke one by id.
 *
 * Key files are PEM: PKCS#8 for private keys (written with mode 0600),
 * SubjectPublicKeyInfo for public keys, the formats `openssl genpkey
 * -algorithm ed25519` and `openssl pkey -pubout` use.
 * Thread safety: keys and keyrings are read-only after set-up and may then
 * be shared between threads.
 */
#ifndef UPDELTA_TRUST_H
#define UPDELTA_TRUST_H

#include <stddef.h>
#include <stdint.h>
#include "common.h"

#define UPD_KEY_ID_SIZE 8

typedef struct upd_key upd_key;

/* A fresh Ed25519 private key.  Errors: UPD_E_NOMEM, UPD_E_KEY. */
UPD_API int upd_key_generate(upd_key **out);

/* Load an Ed25519 key from PATH: a PEM private key (PKCS#8), else a PEM
 * public key (SubjectPublicKeyInfo).  A file of one block in the RFC 8410
 * form upd_key_save_* writes is read directly; any other file goes through
 * OpenSSL's decoders.  An encrypted private key is refused (UPD_E_KEY)
 * without asking for a passphrase: nothing is read from the terminal or
 * stdin.  Errors: UPD_E_IO_OPEN (errno kept in errno), UPD_E_KEY (no key,
 * not Ed25519, or encrypted), UPD_E_NOMEM. */
UPD_API int upd_key_load(upd_key **out, const char *path);

/* Write the private key (PKCS#8 PEM, mode 0600, refusing to replace an
 * existing file) or the public key (PEM) to PATH.  Errors: UPD_E_KEY (a
 * public-only key has no private part), UPD_E_IO_OPEN, UPD_E_IO_WRITE. */
UPD_API int upd_key_save_private(const upd_key *k, const char *path);
UPD_API int upd_key_save_public(const upd_key *k, const char *path);

/* Non-zero when K holds a private key (can sign). */
UPD_API int upd_key_is_private(const upd_key *k);

/* K's key id. */
UPD_API void upd_key_id(const upd_key *k, uint8_t id[UPD_KEY_ID_SIZE]);

/* Free K (NULL is a no-op). */
UPD_API void upd_key_free(upd_key *k);

/* Sign a package in memory: PREFIX holds at least the package's first
 * upd_pkg_prefix_size() bytes (header, manifest, auth block); the auth
 * block's digest must already match the header and manifest, and is then
 * completed with K's algorithm, key id and signature.  Re-signing replaces
 * an earlier signature.  Errors: UPD_E_PKG_* (malformed or truncated
 * prefix, digest mismatch), UPD_E_KEY (K is public only), UPD_E_NOMEM. */
UPD_API int upd_sign_prefix(void *prefix, size_t len, const upd_key *k);

/* ---- keyrings ---------------------------------------------------------- */

typedef struct upd_keyring upd_keyring;

/* An empty keyring.  Errors: UPD_E_NOMEM. */
UPD_API int upd_keyring_create(upd_keyring **out);

/* Trust K's public part (copied; K may be freed after).  Adding a key twice
 * is a no-op.  Errors: UPD_E_NOMEM, UPD_E_LIMIT (more than 64 keys). */
UPD_API int upd_keyring_add(upd_keyring *kr, const upd_key *k);

/* Revoke key id ID: a package it signed is refused with
 * UPD_E_SIG_KEY_REVOKED even when the key is in the ring.
 * Errors: UPD_E_NOMEM, UPD_E_LIMIT (more than 64 revocations). */
UPD_API int upd_keyring_revoke(upd_keyring *kr, const uint8_t id[UPD_KEY_ID_SIZE]);

/* Load a key directory: every "*.pub" file is a trusted public key; a file
 * named "revoked" lists revoked key ids, one per line in hex ('#' starts a
 * comment).  Errors: UPD_E_IO_OPEN (no such directory), UPD_E_KEY (a file
 * that does not parse: the whole load fails rather than trusting a
 * partial set), UPD_E_NOMEM, UPD_E_LIMIT. */
UPD_API int upd_keyring_load_dir(upd_keyring *kr, const char *dir);

/* Number of trusted keys in KR. */
UPD_API unsigned upd_keyring_count(const upd_keyring *kr);

/* Check the auth block AUTH (UPD_AUTH_SIZE bytes, already matched against
 * the header+manifest digest by the caller) against KR.  Errors:
 * UPD_E_SIG_MISSING (sig_alg none), UPD_E_SIG_KEY_REVOKED,
 * UPD_E_SIG_KEY_UNKNOWN, UPD_E_PKG_SIGNATURE (malformed block or bad
 * signature), UPD_E_NOMEM. */
UPD_API int upd_keyring_verify(const upd_keyring *kr, const void *auth);

/* Free KR (NULL is a no-op). */
UPD_API void upd_keyring_free(upd_keyring *kr);

/* Optional, once per process, before any other use of OpenSSL: set
 * OpenSSL up for a process that uses it only through updelta.  It skips
 * what updelta never needs: reading the OpenSSL configuration file
 * (openssl.cnf), filling the legacy cipher and digest name tables, and
 * loading error strings; that is about 1 ms of every short process (an
 * apply of a small package took 5.9 ms without it, 4.9 ms with it).
 * Process-wide and final: afterwards the configuration file is never read
 * (so neither OPENSSL_CONF nor a system policy such as FIPS mode or
 * default properties applies), and EVP_get_cipherbyname() and
 * EVP_get_digestbyname() find nothing, so a process that also uses
 * OpenSSL for anything else (libcurl's TLS, say) must not call it.  Each
 * of those steps that already ran (OpenSSL set up otherwise before) stays
 * done; calling it again does nothing.
 * Errors: UPD_E_STATE (OpenSSL could not be set up: out of memory, or
 * after OPENSSL_cleanup()). */
UPD_API int upd_crypto_init_lean(void);

/* ---- version order -------------------------------------------------------
 * Compare two version strings the way Debian's dpkg does: runs of digits
 * compare numerically, other runs character by character with letters
 * before non-letters and '~' before everything (even the end), so
 * "0.28.1" < "0.28.10", "1.0~rc1" < "1.0", and "1:10.11.18-0+deb12u1" <
 * "1:10.11.19-0+deb12u1".  Returns <0, 0 or >0.  A missing number counts
 * as 0, so "" equals "0" and "1.0" equals "1.00". */
UPD_API int upd_version_cmp(const char *a, const char *b);

#endif /* UPDELTA_TRUST_H */
