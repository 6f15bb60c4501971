/* Signed packages: keys, keyrings, signature checks before any write, and
 * the anti-rollback policy. */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "helpers.h"

/* A small pair, a package for it made with P's ids/versions, signed by K. */
typedef struct {
    buf_t old, new, pkg;
} fixture;

static void take(buf_t *b, uint8_t *p, size_t n)
{
    b->p = p;
    b->n = b->cap = n;
}

static void make_signed(fixture *f, const char *kind, size_t size, const char *id,
                        const char *from, const char *to, const upd_key *k)
{
    synth_pair sp;
    cr_assert_eq(synth_make(kind, 42, size, &sp), 0);
    take(&f->old, sp.old_img, sp.old_len);
    take(&f->new, sp.new_img, sp.new_len);
    upd_diff_params p;
    upd_diff_params_default(&p);
    p.threads = 1;
    p.level = 3;
    p.segment_size = 2u << 20;   /* the smallest: several segments from a few MiB */
    p.package_id = id;
    p.from_version = from;
    p.to_version = to;
    cr_assert_eq(make_pkg(f->old.p, f->old.n, f->new.p, f->new.n, &p, &f->pkg), 0);
    if (k)
        cr_assert_eq(upd_sign_prefix(f->pkg.p, f->pkg.n, k), 0);
}

static void fixture_free(fixture *f)
{
    buf_free(&f->old);
    buf_free(&f->new);
    buf_free(&f->pkg);
}

static upd_keyring *ring_of(const upd_key *k)
{
    upd_keyring *kr;
    cr_assert_eq(upd_keyring_create(&kr), 0);
    if (k)
        cr_assert_eq(upd_keyring_add(kr, k), 0);
    return kr;
}

static upd_key *new_key(void)
{
    upd_key *k;
    cr_assert_eq(upd_key_generate(&k), 0);
    return k;
}

/* Apply F's package in place with params BASE; checks the image afterwards:
 * the new image on success, else byte-identical to the old one. */
static int apply_checked(const fixture *f, const uint8_t *pkg, size_t len,
                         const upd_apply_params *base)
{
    buf_t out;
    int rc = apply_mem_with(pkg, len, f->old.p, f->old.n, 1, 4096, base, &out, NULL);
    const buf_t *want = rc ? &f->old : &f->new;
    cr_assert_eq(out.n, want->n, "rc %s: image size %zu, want %zu", upd_errname(rc), out.n,
                 want->n);
    cr_assert(!memcmp(out.p, want->p, out.n), "rc %s: image changed", upd_errname(rc));
    buf_free(&out);
    return rc;
}

/* One key, a package it signed, a ring trusting it, params using the ring. */
typedef struct {
    upd_key *k;
    upd_keyring *kr;
    fixture f;
    upd_apply_params p;
} signed_case;

static void case_init(signed_case *c, const char *kind, size_t size)
{
    c->k = new_key();
    make_signed(&c->f, kind, size, "rom", "1", "2", c->k);
    c->kr = ring_of(c->k);
    c->p = (upd_apply_params){ .keys = c->kr };
}

static void case_free(signed_case *c)
{
    upd_keyring_free(c->kr);
    upd_key_free(c->k);
    fixture_free(&c->f);
}

/* The tamper tests share one case, made by their .init and freed by .fini. */
static signed_case C;
static void small_case(void) { case_init(&C, "mixed", 32 << 10); }
static void multi_segment_case(void) { case_init(&C, "unrelated", 6 << 20); }
static void free_case(void) { case_free(&C); }

Test(version, dpkg_order)
{
    static const struct { const char *a, *b; int sign; } v[] = {
        { "0.28.1", "0.28.2", -1 }, { "0.28.2", "0.28.10", -1 }, { "5.9.3", "6.0.2", -1 },
        { "1:10.11.18-0+deb12u1", "1:10.11.19-0+deb12u1", -1 }, { "1.0~rc1", "1.0", -1 },
        { "1.0", "1.0a", -1 }, { "1.0a", "1.0+", -1 }, { "1.0", "1.0", 0 },
        { "1.01", "1.1", 0 }, { "", "0", 0 }, { "", "0.1", -1 }, { "", "", 0 }, { "2", "10", -1 },
        { "1.0~~", "1.0~", -1 }, { "v1.2", "v1.10", -1 }, { "1.2.3.4", "1.2.3", 1 },
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        int r = upd_version_cmp(v[i].a, v[i].b), s = (r > 0) - (r < 0);
        cr_assert_eq(s, v[i].sign, "cmp(%s, %s) = %d", v[i].a, v[i].b, r);
        r = upd_version_cmp(v[i].b, v[i].a);
        cr_assert_eq((r > 0) - (r < 0), -v[i].sign, "cmp(%s, %s) not antisymmetric", v[i].b, v[i].a);
    }
}

Test(keys, save_load_and_ids)
{
    char dir[] = "/tmp/upd-keys-XXXXXX", priv[128], pub[128];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(priv, sizeof priv, "%s/k.key", dir);
    snprintf(pub, sizeof pub, "%s/k.pub", dir);
    upd_key *k = new_key(), *kp, *kq;
    cr_assert_eq(upd_key_save_private(k, priv), 0);
    cr_assert_eq(upd_key_save_public(k, pub), 0);
    struct stat st;
    cr_assert_eq(stat(priv, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600, "private key mode %o", st.st_mode & 0777);
    cr_assert_eq(upd_key_save_private(k, priv), UPD_E_IO_OPEN, "must not replace a key");
    cr_assert_eq(upd_key_load(&kp, priv), 0);
    cr_assert_eq(upd_key_load(&kq, pub), 0);
    cr_assert(upd_key_is_private(kp));
    cr_assert(!upd_key_is_private(kq));
    uint8_t a[8], b[8], c[8];
    upd_key_id(k, a);
    upd_key_id(kp, b);
    upd_key_id(kq, c);
    cr_assert(!memcmp(a, b, 8) && !memcmp(a, c, 8));
    cr_assert_eq(upd_key_save_private(kq, priv), UPD_E_KEY, "a public key has no private half");

    /* a key signs, a ring holding only the public file verifies */
    fixture f;
    make_signed(&f, "mixed", 64 << 10, "rom", "1", "2", kp);
    upd_keyring *kr = ring_of(kq);
    upd_apply_params p = { .keys = kr };
    cr_assert_eq(apply_checked(&f, f.pkg.p, f.pkg.n, &p), 0);
    fixture_free(&f);
    upd_key *bad;
    FILE *fp = fopen(pub, "w");
    fputs("-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n", fp);
    fclose(fp);
    cr_assert_eq(upd_key_load(&bad, pub), UPD_E_KEY);
    cr_assert_eq(upd_key_load(&bad, "/nonexistent/k.pub"), UPD_E_IO_OPEN);
    cr_assert_eq(upd_keyring_load_dir(kr, dir), UPD_E_KEY, "a bad .pub fails the whole load");
    upd_keyring_free(kr);
    unlink(priv);
    unlink(pub);
    rmdir(dir);
    upd_key_free(k);
    upd_key_free(kp);
    upd_key_free(kq);
}

/* Write TEXT to PATH and load it. */
static int load_text(const char *path, const char *text, upd_key **k)
{
    FILE *fp = fopen(path, "w");
    cr_assert_not_null(fp);
    fputs(text, fp);
    fclose(fp);
    *k = NULL;
    return upd_key_load(k, path);
}

/* Key files: a file of one RFC 8410 block is matched directly
 * (engine/trust/key.c), anything else goes through OpenSSL's decoders as
 * before.  The private key of seed 00..1f must give the public key OpenSSL
 * derives for it; a file holding a public and then a private key loads as
 * the private one; other algorithms and encodings are refused. */
Test(keys, pem_forms)
{
    char dir[] = "/tmp/upd-keyform-XXXXXX", path[128], pub[128];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/k.key", dir);
    snprintf(pub, sizeof pub, "%s/k.pub", dir);
    upd_key *k;
    /* text before the block is allowed, as in PEM files in general */
    cr_assert_eq(load_text(path, "an Ed25519 test key\n-----BEGIN PRIVATE KEY-----\n"
                           "MC4CAQAwBQYDK2VwBCIEIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f\n"
                           "-----END PRIVATE KEY-----\n", &k), 0);
    cr_assert(upd_key_is_private(k));
    cr_assert_eq(upd_key_save_public(k, pub), 0);
    char text[256] = { 0 };
    FILE *fp = fopen(pub, "r");
    cr_assert_not_null(fp);
    cr_assert_gt(fread(text, 1, sizeof text - 1, fp), 0);
    fclose(fp);
    cr_assert_str_eq(text, "-----BEGIN PUBLIC KEY-----\n"
                           "MCowBQYDK2VwAyEAA6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=\n"
                           "-----END PUBLIC KEY-----\n");
    upd_key *kq;
    cr_assert_eq(upd_key_load(&kq, pub), 0);
    cr_assert(!upd_key_is_private(kq));
    uint8_t a[UPD_KEY_ID_SIZE], b[UPD_KEY_ID_SIZE];
    upd_key_id(k, a);
    upd_key_id(kq, b);
    cr_assert(!memcmp(a, b, sizeof a));
    upd_key_free(kq);
    /* two blocks: the private key wins, whichever comes first */
    char both[512];
    snprintf(both, sizeof both, "%s-----BEGIN PRIVATE KEY-----\n"
             "MC4CAQAwBQYDK2VwBCIEIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f\n"
             "-----END PRIVATE KEY-----\n", text);
    cr_assert_eq(load_text(path, both, &kq), 0);
    cr_assert(upd_key_is_private(kq));
    upd_key_id(kq, b);
    cr_assert(!memcmp(a, b, sizeof a));
    upd_key_free(k);
    upd_key_free(kq);

    static const char *const bad[] = {
        /* X25519, not Ed25519: same length, another OID */
        "-----BEGIN PUBLIC KEY-----\n"
        "MCowBQYDK2VuAyEAAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
        "-----END PUBLIC KEY-----\n",
        /* PKCS#8 version 2 with the public key attached */
        "-----BEGIN PRIVATE KEY-----\n"
        "MFECAQEwBQYDK2VwBCIEIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fgSEAICEiIyQlJicoKSorLC0uLzAx\n"
        "MjM0NTY3ODk6Ozw9Pj8=\n"
        "-----END PRIVATE KEY-----\n",
        /* the right DER under the other label */
        "-----BEGIN PUBLIC KEY-----\n"
        "MC4CAQAwBQYDK2VwBCIEIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f\n"
        "-----END PUBLIC KEY-----\n",
        /* one key byte short */
        "-----BEGIN PUBLIC KEY-----\n"
        "MCowBQYDK2VwAyEAA6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMQ==\n"
        "-----END PUBLIC KEY-----\n",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_assert_eq(load_text(path, bad[i], &k), UPD_E_KEY, "form %zu", i);
        cr_assert_null(k);
    }
    unlink(path);
    unlink(pub);
    rmdir(dir);
}

/* An encrypted private key is refused, and its passphrase is never asked
 * for: OpenSSL's default callback prompts on the terminal, or without one
 * reads stdin, where this test offers the right passphrase (and it leaves
 * its session, so that there is no terminal wherever it runs). */
Test(keys, encrypted_key_refused_without_prompt, .timeout = 30)
{
    (void)setsid();   /* a forked test is no group leader: this succeeds */
    char dir[] = "/tmp/upd-keyenc-XXXXXX", path[128];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/enc.key", dir);
    int p[2];
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(write(p[1], "pw\n", 3), 3);
    close(p[1]);
    cr_assert_geq(dup2(p[0], STDIN_FILENO), 0);   /* a forked test: its own stdin */
    close(p[0]);
    upd_key *k;
    /* openssl genpkey -algorithm ed25519 -aes-128-cbc, passphrase "pw" */
    cr_assert_eq(load_text(path, "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
                           "MIGbMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAgwFNtR980QbQICCAAw\n"
                           "DAYIKoZIhvcNAgkFADAdBglghkgBZQMEAQIEEK5CbaiWk9se/YZIndutlcoEQGl8\n"
                           "2iFbRsdanDa8vQFeJKbbnxYeQyvT1LC6ngHb1A5BFV6uVTD1s1BlB9A5ev8z1EHW\n"
                           "1kcLALWjXquLs0si0HI=\n"
                           "-----END ENCRYPTED PRIVATE KEY-----\n", &k), UPD_E_KEY);
    cr_assert_null(k);
    cr_assert_eq(ERR_peek_error(), 0, "OpenSSL's error queue left to the caller");
    char left[4] = { 0 };
    cr_assert_eq(read(STDIN_FILENO, left, sizeof left), 3, "stdin was read");
    unlink(path);
    rmdir(dir);
}

/* An OpenSSL configuration that makes every algorithm fetch fail here (the
 * default provider is not FIPS), named by OPENSSL_CONF: a process that
 * reads it cannot use a key; one set up lean never reads it. */
static void hostile_openssl_conf(char *dir, char *conf, size_t n)
{
    cr_assert_not_null(mkdtemp(dir));
    snprintf(conf, n, "%s/openssl.cnf", dir);
    FILE *f = fopen(conf, "w");
    cr_assert_not_null(f);
    fputs("openssl_conf = init\n[init]\nalg_section = evp\n[evp]\ndefault_properties = fips=yes\n",
          f);
    fclose(f);
    cr_assert_eq(setenv("OPENSSL_CONF", conf, 1), 0);
}

/* Each test runs in a process of its own (Criterion forks), so the set-up
 * in each is its own.  Lean: keys are made, saved and loaded (OpenSSL's
 * encoders and, for a two-block file, its decoders), a package is signed
 * and applied, while the configuration file and the legacy cipher names
 * were never loaded (default_init shows a default set-up reads both, so
 * these checks mean something). */
Test(crypto, lean_init)
{
    char dir[] = "/tmp/upd-lean-XXXXXX", conf[128], path[160], pub[160];
    hostile_openssl_conf(dir, conf, sizeof conf);
    cr_assert_eq(upd_crypto_init_lean(), 0);
    cr_assert_eq(upd_crypto_init_lean(), 0, "a second call does nothing");
    signed_case c;
    case_init(&c, "mixed", 64 << 10);
    cr_assert_eq(apply_checked(&c.f, c.f.pkg.p, c.f.pkg.n, &c.p), 0);
    snprintf(path, sizeof path, "%s/k.key", dir);
    snprintf(pub, sizeof pub, "%s/k.pub", dir);
    cr_assert_eq(upd_key_save_private(c.k, path), 0);
    cr_assert_eq(upd_key_save_public(c.k, pub), 0);
    /* the public then the private block: not one block, so the decoders */
    char both[1024] = { 0 };
    FILE *f = fopen(pub, "r");
    cr_assert_not_null(f);
    size_t n = fread(both, 1, sizeof both / 2, f);
    fclose(f);
    f = fopen(path, "r");
    cr_assert_not_null(f);
    n += fread(both + n, 1, sizeof both / 2 - 1, f);
    cr_assert_gt(n, 200);
    fclose(f);
    upd_key *k;
    cr_assert_eq(load_text(path, both, &k), 0);
    cr_assert(upd_key_is_private(k));
    uint8_t a[UPD_KEY_ID_SIZE], b[UPD_KEY_ID_SIZE];
    upd_key_id(k, a);
    upd_key_id(c.k, b);
    cr_assert(!memcmp(a, b, sizeof a));
    upd_key_free(k);
    cr_assert_null(EVP_get_cipherbyname("AES-128-CBC"));
    case_free(&c);
    unlink(path);
    unlink(pub);
    unlink(conf);
    rmdir(dir);
}

Test(crypto, default_init)
{
    signed_case c;
    case_init(&c, "mixed", 64 << 10);
    cr_assert_eq(apply_checked(&c.f, c.f.pkg.p, c.f.pkg.n, &c.p), 0);
    cr_assert_not_null(EVP_get_cipherbyname("AES-128-CBC"));
    case_free(&c);
}

Test(crypto, default_init_reads_config)
{
    char dir[] = "/tmp/upd-conf-XXXXXX", conf[128];
    hostile_openssl_conf(dir, conf, sizeof conf);
    upd_key *k = NULL;
    cr_assert_eq(upd_key_generate(&k), UPD_E_KEY, "the configuration was not read");
    cr_assert_null(k);
    unlink(conf);
    rmdir(dir);
}

Test(keys, unsigned_refused_unless_insecure)
{
    fixture f;
    make_signed(&f, "mixed", 64 << 10, "rom", "1", "2", NULL);
    upd_key *k = new_key();
    upd_keyring *kr = ring_of(k);
    upd_apply_params p = { .keys = kr };
    cr_assert_eq(apply_checked(&f, f.pkg.p, f.pkg.n, &p), UPD_E_SIG_MISSING);
    upd_apply_params none = { 0 };
    upd_applier *a;
    cr_assert_eq(upd_applier_create(&a, &none), UPD_E_INVAL, "no target");
    none.flags = UPD_APPLY_DRY_RUN;
    cr_assert_eq(upd_applier_create(&a, &none), UPD_E_SIG_MISSING, "no keys, not insecure");
    upd_apply_params ins = { .flags = UPD_APPLY_INSECURE };
    cr_assert_eq(apply_checked(&f, f.pkg.p, f.pkg.n, &ins), 0);
    upd_keyring_free(kr);
    upd_key_free(k);
    fixture_free(&f);
}

Test(keys, wrong_revoked_and_rotated_keys)
{
    upd_key *k1 = new_key(), *k2 = new_key();
    fixture f;
    make_signed(&f, "mixed", 64 << 10, "rom", "1", "2", k2);
    upd_keyring *only1 = ring_of(k1), *both = ring_of(k1);
    cr_assert_eq(upd_keyring_add(both, k2), 0);
    cr_assert_eq(upd_keyring_add(both, k2), 0, "adding twice is a no-op");
    cr_assert_eq(upd_keyring_count(both), 2);
    upd_apply_params p = { .keys = only1 };
    cr_assert_eq(apply_checked(&f, f.pkg.p, f.pkg.n, &p), UPD_E_SIG_KEY_UNKNOWN);
    p.keys = both;
    cr_assert_eq(apply_checked(&f, f.pkg.p, f.pkg.n, &p), 0, "rotation: any trusted key");
    uint8_t id[8];
    upd_key_id(k2, id);
    upd_apply_stats st;
    buf_t out;
    cr_assert_eq(apply_mem_with(f.pkg.p, f.pkg.n, f.old.p, f.old.n, 1, 0, &p, &out, &st), 0);
    buf_free(&out);
    cr_assert(st.signature_verified && !memcmp(st.key_id, id, 8), "the stats name the signing key");
    cr_assert_eq(upd_keyring_revoke(both, id), 0);
    cr_assert_eq(apply_checked(&f, f.pkg.p, f.pkg.n, &p), UPD_E_SIG_KEY_REVOKED);
    /* re-signed with the surviving key, it applies again */
    cr_assert_eq(upd_sign_prefix(f.pkg.p, f.pkg.n, k1), 0);
    cr_assert_eq(apply_checked(&f, f.pkg.p, f.pkg.n, &p), 0);
    upd_keyring_free(only1);
    upd_keyring_free(both);
    upd_key_free(k1);
    upd_key_free(k2);
    fixture_free(&f);
}

Test(keys, keyring_directory)
{
    char dir[] = "/tmp/upd-ring-XXXXXX", path[128];
    cr_assert_not_null(mkdtemp(dir));
    upd_key *k = new_key();
    snprintf(path, sizeof path, "%s/vendor.pub", dir);
    cr_assert_eq(upd_key_save_public(k, path), 0);
    fixture f;
    make_signed(&f, "mixed", 64 << 10, "rom", "1", "2", k);
    upd_keyring *kr = ring_of(NULL);
    cr_assert_eq(upd_keyring_load_dir(kr, dir), 0);
    cr_assert_eq(upd_keyring_count(kr), 1);
    upd_apply_params p = { .keys = kr };
    cr_assert_eq(apply_checked(&f, f.pkg.p, f.pkg.n, &p), 0);
    upd_keyring_free(kr);

    uint8_t id[8];
    upd_key_id(k, id);
    char rev[128];
    snprintf(rev, sizeof rev, "%s/revoked", dir);
    FILE *fp = fopen(rev, "w");
    fprintf(fp, "# retired keys\n\n  ");
    for (int i = 0; i < 8; i++)
        fprintf(fp, "%02X", id[i]);
    fprintf(fp, "  # leaked 2026-11\n");
    fclose(fp);
    kr = ring_of(NULL);
    cr_assert_eq(upd_keyring_load_dir(kr, dir), 0);
    p.keys = kr;
    cr_assert_eq(apply_checked(&f, f.pkg.p, f.pkg.n, &p), UPD_E_SIG_KEY_REVOKED);
    upd_keyring_free(kr);
    fp = fopen(rev, "w");
    fprintf(fp, "12345\n");
    fclose(fp);
    kr = ring_of(NULL);
    cr_assert_eq(upd_keyring_load_dir(kr, dir), UPD_E_KEY, "malformed revocation list");
    upd_keyring_free(kr);
    kr = ring_of(NULL);
    cr_assert_eq(upd_keyring_load_dir(kr, "/nonexistent-dir"), UPD_E_IO_OPEN);
    upd_keyring_free(kr);
    unlink(rev);
    unlink(path);
    rmdir(dir);
    upd_key_free(k);
    fixture_free(&f);
}

/* Every single-byte change and every truncation of a signed one-segment
 * package is refused, and the image is untouched. */
Test(tamper, every_byte_and_every_length, .timeout = 600, .init = small_case, .fini = free_case)
{
    const fixture *f = &C.f;
    cr_assert_eq(apply_checked(f, f->pkg.p, f->pkg.n, &C.p), 0);
    uint8_t *t = malloc(f->pkg.n);
    for (size_t i = 0; i < f->pkg.n; i++) {
        memcpy(t, f->pkg.p, f->pkg.n);
        t[i] ^= (uint8_t)(1u << (i % 8));
        int rc = apply_checked(f, t, f->pkg.n, &C.p);
        cr_assert(rc < 0, "flip at byte %zu of %zu accepted", i, f->pkg.n);
    }
    for (size_t n = 0; n < f->pkg.n; n++)
        cr_assert(apply_checked(f, f->pkg.p, n, &C.p) < 0, "truncation to %zu accepted", n);
    free(t);
}

/* The manifest entry and frame of segment S: offset and size of the frame. */
static size_t frame_at(const buf_t *pkg, uint32_t s, size_t *csize)
{
    upd_header h;
    cr_assert_eq(upd_header_decode(pkg->p, pkg->n, &h), 0);
    size_t off = (size_t)upd_pkg_prefix_size(&h);
    for (uint32_t i = 0; i <= s; i++) {
        upd_seg_entry e;
        cr_assert_eq(upd_seg_entry_decode(pkg->p + h.header_size + i * UPD_SEG_ENTRY_SIZE, &h, &e), 0);
        if (i == s) {
            *csize = e.csize;
            return off;
        }
        off += e.csize;
    }
    return 0;
}

/* Streaming over several segments: a flip inside segment S is caught before
 * any of S's operations runs (segments before it did run). */
Test(tamper, flip_in_segment_stops_before_it, .timeout = 600, .init = multi_segment_case,
     .fini = free_case)
{
    const fixture *f = &C.f;
    upd_header h;
    cr_assert_eq(upd_header_decode(f->pkg.p, f->pkg.n, &h), 0);
    cr_assert_geq(h.seg_count, 3u, "want a multi-segment package, got %u", h.seg_count);
    uint8_t *t = malloc(f->pkg.n);
    for (uint32_t s = 0; s < h.seg_count; s++) {
        size_t csize, off = frame_at(&f->pkg, s, &csize);
        for (int j = 0; j < 8; j++) {
            size_t at = off + (size_t)j * (csize - 1) / 7;
            memcpy(t, f->pkg.p, f->pkg.n);
            t[at] ^= 0x40;
            buf_t out;
            upd_apply_stats st;
            int rc = apply_mem_with(t, f->pkg.n, f->old.p, f->old.n, 1, 1 << 16, &C.p, &out, &st);
            cr_assert_eq(rc, UPD_E_SEG_DIGEST, "segment %u byte %zu: %s", s, at, upd_errname(rc));
            cr_assert_eq(st.segments_done, s, "segment %u: %u segments ran", s, st.segments_done);
            buf_free(&out);
        }
    }
    free(t);
}

Test(tamper, manifest_and_swapped_segments, .timeout = 300, .init = multi_segment_case,
     .fini = free_case)
{
    const fixture *f = &C.f;
    const uint8_t *pkg = f->pkg.p;
    uint8_t *t = malloc(f->pkg.n);
    upd_header h;
    cr_assert_eq(upd_header_decode(pkg, f->pkg.n, &h), 0);
    const size_t m0 = h.header_size, m1 = m0 + UPD_SEG_ENTRY_SIZE;   /* entries 0 and 1 */

    /* an edited manifest with a recomputed digest: the signature catches it */
    memcpy(t, pkg, f->pkg.n);
    t[m0 + 52] ^= 1;   /* first entry's segment SHA-256 */
    cr_assert_eq(reseal(t, f->pkg.n), 0);
    cr_assert_eq(apply_checked(f, t, f->pkg.n, &C.p), UPD_E_PKG_SIGNATURE);

    /* segments 0 and 1 swapped, frames and manifest entries alike (so every
     * segment digest matches its entry) */
    size_t c0, c1, o0 = frame_at(&f->pkg, 0, &c0), o1 = frame_at(&f->pkg, 1, &c1);
    cr_assert_eq(o1, o0 + c0);
    memcpy(t, pkg, f->pkg.n);
    memcpy(t + o0, pkg + o1, c1);
    memcpy(t + o0 + c1, pkg + o0, c0);
    memcpy(t + m0, pkg + m1, UPD_SEG_ENTRY_SIZE);
    memcpy(t + m1, pkg + m0, UPD_SEG_ENTRY_SIZE);
    cr_assert_eq(apply_checked(f, t, f->pkg.n, &C.p), UPD_E_PKG_DIGEST);
    cr_assert_eq(reseal(t, f->pkg.n), 0);
    cr_assert_eq(apply_checked(f, t, f->pkg.n, &C.p), UPD_E_PKG_SIGNATURE);
    free(t);
}

Test(policy, package_id_versions_and_rollback)
{
    upd_key *k = new_key();
    upd_keyring *kr = ring_of(k);
    fixture f;
    make_signed(&f, "mixed", 64 << 10, "modem", "1.4", "1.5", k);
    upd_apply_params p = { .keys = kr, .package_id = "bootloader" };
    cr_assert_eq(apply_checked(&f, f.pkg.p, f.pkg.n, &p), UPD_E_PKG_WRONG_ID);
    p.package_id = "modem";
    p.installed_version = "1.3";
    cr_assert_eq(apply_checked(&f, f.pkg.p, f.pkg.n, &p), UPD_E_PKG_WRONG_FROM);
    /* replay: the device already runs 1.5 (or later) */
    p.installed_version = "1.5";
    cr_assert_eq(apply_checked(&f, f.pkg.p, f.pkg.n, &p), UPD_E_PKG_ROLLBACK);
    p.installed_version = "2.0";
    cr_assert_eq(apply_checked(&f, f.pkg.p, f.pkg.n, &p), UPD_E_PKG_ROLLBACK);
    p.installed_version = "1.4";
    cr_assert_eq(apply_checked(&f, f.pkg.p, f.pkg.n, &p), 0);
    p.installed_version = NULL;   /* the package's from-version stands in */
    cr_assert_eq(apply_checked(&f, f.pkg.p, f.pkg.n, &p), 0);
    fixture_free(&f);

    /* a signed downgrade needs the caller's explicit consent */
    make_signed(&f, "mixed", 64 << 10, "modem", "1.5", "1.5~rc2", k);
    p.installed_version = "1.5";
    cr_assert_eq(apply_checked(&f, f.pkg.p, f.pkg.n, &p), UPD_E_PKG_ROLLBACK);
    p.flags = UPD_APPLY_ALLOW_DOWNGRADE;
    cr_assert_eq(apply_checked(&f, f.pkg.p, f.pkg.n, &p), 0);
    fixture_free(&f);
    upd_keyring_free(kr);
    upd_key_free(k);
}

/* Signing needs a private key and a package whose digest is intact. */
Test(sign, refuses_bad_input)
{
    upd_key *k = new_key();
    fixture f;
    make_signed(&f, "mixed", 64 << 10, "rom", "1", "2", NULL);
    cr_assert_eq(upd_sign_prefix(f.pkg.p, 100, k), UPD_E_PKG_TRUNCATED);
    f.pkg.p[64] ^= 1;   /* old image SHA-256: decodes, but the digest breaks */
    cr_assert_eq(upd_sign_prefix(f.pkg.p, f.pkg.n, k), UPD_E_PKG_DIGEST);
    f.pkg.p[64] ^= 1;
    upd_keyring *kr = ring_of(k);
    upd_key *pub = NULL;
    char path[] = "/tmp/upd-pub-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    cr_assert_eq(upd_key_save_public(k, path), 0);
    cr_assert_eq(upd_key_load(&pub, path), 0);
    cr_assert_eq(upd_sign_prefix(f.pkg.p, f.pkg.n, pub), UPD_E_KEY);
    unlink(path);
    cr_assert_eq(upd_sign_prefix(f.pkg.p, f.pkg.n, k), 0);
    upd_apply_params p = { .keys = kr };
    cr_assert_eq(apply_checked(&f, f.pkg.p, f.pkg.n, &p), 0);
    upd_key_free(pub);
    upd_keyring_free(kr);
    upd_key_free(k);
    fixture_free(&f);
}
