/*
 * updelta-server internals: the reference OMA DM server and download server.
 *
 * The server is a program (tools/updelta_server.c), not a library API: this
 * header is internal to server/ and its static library upd_server.  It is
 * documented like the public headers all the same.
 *
 * Parts, one file each:
 *   store.c       SQLite store: open, schema and migrations, transactions,
 *                 server configuration (key/value)
 *   devices.c     devices, their credentials, nonces, ROM package versions seen
 *   catalogue.c   ROM images and packages by version; the update choice
 *                 (direct delta, else a chain of deltas, else a full image)
 *   publish.c     images in -> signed deltas between versions -> catalogue
 *   jobs.c        update jobs (one per Exec, matched by correlator), sessions,
 *                 alerts and events: the audit trail
 *   download.c    Range / If-Range / HEAD logic of the download server
 *   http.c        libmicrohttpd glue: routes, responses
 *   status.c      status of every device as text and as JSON
 *   session.c     the DM server's side of a session (campaign logic)
 *   notify_send.c package #0 over UDP
 *   buf.c         a growing byte buffer
 *
 * Errors are negative upd_err codes (updelta/common.h).  A store failure
 * maps to UPD_E_IO_OPEN (cannot open or migrate), UPD_E_IO_READ (a query
 * failed) or UPD_E_IO_WRITE (a write failed and was rolled back);
 * srv_store_errmsg() keeps SQLite's message of the last failure.
 *
 * Thread safety: one srv_store may be shared by the HTTP threads: every
 * store function takes the store's mutex for its whole transaction.
 */
#ifndef UPD_SERVER_H
#define UPD_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <updelta/updelta.h>

/* Lengths of the text fields kept in the store (bytes, without the NUL). */
#define SRV_NAME_MAX    127    /* device ids, user names, package ids */
#define SRV_SECRET_MAX  127
#define SRV_VERSION_MAX 63
#define SRV_TEXT_MAX    255    /* URLs, reasons, file names */
#define SRV_NONCE_MAX   64     /* raw nonce bytes */
#define SRV_CORR_LEN    32     /* correlator: 32 hex digits of 16 random bytes */
#define SRV_SCHEMA_VERSION 1

/* ---- store (store.c) ---------------------------------------------------- */

typedef struct srv_store srv_store;

/* Open (creating if needed) the SQLite database at PATH, in WAL mode with
 * foreign keys on, and bring its schema to SRV_SCHEMA_VERSION by running
 * the missing migrations, each in one transaction.  A database newer than
 * this program is refused.  Errors: UPD_E_IO_OPEN, UPD_E_NOMEM,
 * UPD_E_STATE (schema newer than SRV_SCHEMA_VERSION). */
int srv_store_open(srv_store **out, const char *path);

/* Close ST (NULL is a no-op). */
void srv_store_close(srv_store *st);

/* The schema version the open database has (PRAGMA user_version). */
int srv_store_schema_version(srv_store *st);

/* SQLite's message for the last failure on ST (static until the next call). */
const char *srv_store_errmsg(srv_store *st);

/* Server configuration, a key/value table: "server_id", "server_url",
 * "download_url", ...  srv_config_get copies the value (or DEF when the
 * key is unset) into OUT[0..CAP); errors: UPD_E_LIMIT (does not fit),
 * UPD_E_IO_READ.  srv_config_set: UPD_E_IO_WRITE. */
int srv_config_get(srv_store *st, const char *key, const char *def, char *out, size_t cap);
int srv_config_set(srv_store *st, const char *key, const char *value);

/* ---- devices (devices.c) -------------------------------------------------- */

/* Device states (the campaign's view of a device, not FUMO's). */
#define SRV_DEV_NEW       "new"        /* provisioned, never seen */
#define SRV_DEV_IDLE      "idle"       /* seen; nothing to update */
#define SRV_DEV_UPDATING  "updating"   /* an update job is running */
#define SRV_DEV_VERIFIED  "verified"   /* every package at its newest version, checked */
#define SRV_DEV_FAILED    "failed"     /* the last job failed; reason says why */

typedef struct {
    int64_t id;                          /* row id */
    char dev_id[SRV_NAME_MAX + 1];       /* DevInfo/DevId, the SyncML Source */
    char user[SRV_NAME_MAX + 1];         /* client credentials (Cred, LocName) */
    char secret[SRV_SECRET_MAX + 1];
    char server_secret[SRV_SECRET_MAX + 1];  /* what the device checks the server with */
    char notify[SRV_TEXT_MAX + 1];       /* "host:port" for package #0 over UDP ("" none) */
    char man[SRV_NAME_MAX + 1], mod[SRV_NAME_MAX + 1];   /* from DevInfo */
    char state[16];                      /* SRV_DEV_* */
    char reason[SRV_TEXT_MAX + 1];       /* why failed ("" otherwise) */
    int64_t last_seen;                   /* unix seconds, 0 = never */
} srv_device;

/* Provision a device: DEV->dev_id, user, secret, server_secret, notify are
 * stored; DEV->id receives the row id.  Errors: UPD_E_INVAL (empty dev_id
 * or it exists already), UPD_E_IO_WRITE. */
int srv_device_add(srv_store *st, srv_device *dev);

/* Look a device up by DevId (srv_device_get) or by row id
 * (srv_device_get_id).  Returns 1 and fills *DEV when found, 0 when not.
 * Errors: UPD_E_IO_READ. */
int srv_device_get(srv_store *st, const char *dev_id, srv_device *dev);
int srv_device_get_id(srv_store *st, int64_t id, srv_device *dev);

/* Record DevInfo (manufacturer, model; NULL keeps the stored value) and
 * the time seen.  Errors: UPD_E_IO_WRITE. */
int srv_device_seen(srv_store *st, int64_t id, const char *man, const char *mod);

/* Set a device's state (SRV_DEV_*) and REASON (NULL or "" clears it).
 * Errors: UPD_E_INVAL (unknown state), UPD_E_IO_WRITE. */
int srv_device_set_state(srv_store *st, int64_t id, const char *state, const char *reason);

/* Call FN for every device in DevId order (stops at FN's first non-zero
 * return, which is returned).  Errors: UPD_E_IO_READ. */
int srv_device_each(srv_store *st, int (*fn)(void *user, const srv_device *d), void *user);

/* Nonces.  SRV_NONCE_CLIENT is the nonce the server gave the device for its
 * next client credentials; SRV_NONCE_SERVER the one the device gave the
 * server for server credentials and package #0 digests.  get copies at
 * most SRV_NONCE_MAX bytes into OUT and returns their count (0 for none
 * stored); set replaces the nonce (LEN <= SRV_NONCE_MAX).  Errors:
 * UPD_E_INVAL, UPD_E_IO_READ, UPD_E_IO_WRITE. */
enum { SRV_NONCE_CLIENT = 0, SRV_NONCE_SERVER = 1 };
int srv_nonce_get(srv_store *st, int64_t device, int kind, uint8_t out[SRV_NONCE_MAX]);
int srv_nonce_set(srv_store *st, int64_t device, int kind, const uint8_t *nonce, size_t len);

/* One ROM package as a device reported it (<rompkg root>/<x>, by default ./Vendor/updelta/ROMPackage). */
typedef struct {
    char pkg_id[SRV_NAME_MAX + 1];
    char name[SRV_NAME_MAX + 1];
    char version[SRV_VERSION_MAX + 1];
    int64_t seen;                        /* unix seconds */
} srv_rom;

/* Record that DEVICE reported ROMS[0..N) in session SESSION (a row of
 * srv_session_begin, or 0): a history row each, and they become the
 * device's current versions (a package not in the list is forgotten as
 * current).  One transaction.  Errors: UPD_E_IO_WRITE. */
int srv_rom_record(srv_store *st, int64_t device, int64_t session, const srv_rom *roms, size_t n);

/* The device's current ROM packages (pkg_id order) into OUT[0..CAP);
 * returns how many there are (may exceed CAP: only CAP are filled).
 * Errors: UPD_E_IO_READ. */
int srv_rom_current(srv_store *st, int64_t device, srv_rom *out, size_t cap);

/* ---- catalogue (catalogue.c) -------------------------------------------- */

/* A package in the catalogue: a delta FROM -> TO of ROM package PKG_ID, or
 * a full image when FROM is "" (a delta from the empty image: the device
 * writes it into an empty target). */
typedef struct {
    int64_t id;
    char pkg_id[SRV_NAME_MAX + 1];
    char from[SRV_VERSION_MAX + 1];
    char to[SRV_VERSION_MAX + 1];
    uint64_t size;
    char sha256[65];                     /* hex, of the package file */
    char key_id[2 * UPD_KEY_ID_SIZE + 1];    /* hex, the signing key */
    char file[SRV_TEXT_MAX + 1];         /* name under the download root */
} srv_cat;

/* Register C (C->id receives the row id).  An entry with the same
 * (pkg_id, from, to) is replaced.  Errors: UPD_E_INVAL (empty pkg_id or
 * to, from == to), UPD_E_IO_WRITE. */
int srv_cat_add(srv_store *st, srv_cat *c);

/* Look up catalogue row ID; 1 found, 0 not.  Errors: UPD_E_IO_READ. */
int srv_cat_get(srv_store *st, int64_t id, srv_cat *c);

/* The entry PKG_ID FROM -> TO; 1 found (into *C), 0 not.  Errors: UPD_E_IO_READ. */
int srv_cat_find(srv_store *st, const char *pkg_id, const char *from, const char *to, srv_cat *c);

/* The newest version of PKG_ID any catalogue entry leads to (dpkg order,
 * upd_version_cmp) into OUT; 1 found, 0 when PKG_ID has no entry.
 * Errors: UPD_E_IO_READ. */
int srv_cat_latest(srv_store *st, const char *pkg_id, char out[SRV_VERSION_MAX + 1]);

/* ROM images kept by version (publish uses them as delta bases). */
int srv_image_add(srv_store *st, const char *pkg_id, const char *version, const char *file,
                  uint64_t size, const char *sha256);
/* Versions of PKG_ID's stored images, oldest first (dpkg order), as
 * malloc'd strings in *OUT (free each and the array); returns the count.
 * FILES (optional) receives the file names the same way.
 * Errors: UPD_E_IO_READ, UPD_E_NOMEM. */
int srv_image_versions(srv_store *st, const char *pkg_id, char ***out, char ***files);

#define SRV_CHAIN_MAX 16

/* How a device gets from one version to the target. */
typedef enum {
    SRV_PLAN_NONE = 0,       /* already at (or past) the newest version */
    SRV_PLAN_DIRECT,         /* one delta FROM -> target */
    SRV_PLAN_CHAIN,          /* several deltas, fewest bytes in total */
    SRV_PLAN_FULL            /* a full image of the target */
} srv_plan_kind;

typedef struct {
    srv_plan_kind kind;
    char target[SRV_VERSION_MAX + 1];
    unsigned n;                          /* steps (catalogue rows) in order */
    int64_t step[SRV_CHAIN_MAX];
    uint64_t bytes;                      /* total download */
} srv_plan;

/* Choose the update of ROM package PKG_ID installed at version FROM to its
 * newest version: a direct delta if there is one, else the chain of deltas
 * (each step to a newer version) with the fewest bytes, else a full image.
 * Errors: UPD_E_IO_READ, UPD_E_NOMEM, UPD_E_LIMIT (PKG_ID is unknown or no
 * route: no chain and no full image). */
int srv_plan_update(srv_store *st, const char *pkg_id, const char *from, srv_plan *plan);

/* ---- publish (publish.c) ------------------------------------------------ */

typedef struct {
    const char *pkg_id;                  /* ROM package id */
    const char *repo;                    /* directory: images/ and the download root pkg/ */
    const upd_key *key;                  /* private signing key */
    int full;                            /* also make a full image of the newest version */
    int direct;                          /* also make direct deltas from every older
                                            version to the newest */
    FILE *log;                           /* progress lines (NULL: quiet) */
} srv_publish_params;

/* Publish images VERSIONS[i] -> FILES[i] (i < N) of ROM package P->pkg_id:
 * copy each into REPO/images/, then make, sign and register a delta
 * between every two consecutive versions (dpkg order, including versions
 * published before), and what P->full / P->direct ask for.  Deltas that
 * already exist are kept.  Packages are written beside their final name
 * and renamed, so the download root never holds a half package.
 * Errors: UPD_E_INVAL (a version twice, bad id), UPD_E_IO_*, any upd_diff
 * or upd_sign_prefix error, store errors. */
int srv_publish(srv_store *st, const srv_publish_params *p, const char *const *versions,
                const char *const *files, size_t n);

/* ---- jobs, sessions, audit trail (jobs.c) ------------------------------- */

/* Job states, in order. */
#define SRV_JOB_SENT      "sent"       /* Add/Replace + Exec sent */
#define SRV_JOB_ACCEPTED  "accepted"   /* device answered the Exec with 202 */
#define SRV_JOB_REPORTED  "reported"   /* alert 1226 with success: verify next */
#define SRV_JOB_VERIFIED  "verified"   /* ROMPackage shows the new version */
#define SRV_JOB_FAILED    "failed"     /* alert with a failure, or verification failed */

typedef struct {
    int64_t id, device, cat;
    char pkg_id[SRV_NAME_MAX + 1];
    char from[SRV_VERSION_MAX + 1], to[SRV_VERSION_MAX + 1];
    char correlator[SRV_CORR_LEN + 1];
    char state[16];
    int result;                          /* FUMO result code from the alert, 0 before */
    char reason[SRV_TEXT_MAX + 1];
    int64_t created, updated;
} srv_job;

/* Create a job for DEVICE installing catalogue row CAT, with a fresh random
 * correlator, in state SRV_JOB_SENT.  JOB receives it.  Errors:
 * UPD_E_INVAL (no such catalogue row), UPD_E_IO_WRITE. */
int srv_job_create(srv_store *st, int64_t device, int64_t cat, srv_job *job);

/* Job row ID; 1 found, 0 not.  Errors: UPD_E_IO_READ. */
int srv_job_get(srv_store *st, int64_t id, srv_job *job);

/* The job with correlator CORR (srv_job_by_corr) or DEVICE's unfinished
 * job for PKG_ID (srv_job_open: state sent, accepted or reported); 1 found,
 * 0 not.  Errors: UPD_E_IO_READ. */
int srv_job_by_corr(srv_store *st, const char *corr, srv_job *job);
int srv_job_open(srv_store *st, int64_t device, const char *pkg_id, srv_job *job);

/* Move job ID to STATE (SRV_JOB_*) with RESULT (0 keeps it) and REASON
 * (NULL keeps it).  Errors: UPD_E_INVAL, UPD_E_IO_WRITE. */
int srv_job_set(srv_store *st, int64_t id, const char *state, int result, const char *reason);

/* DEVICE's most recent job (any state) for PKG_ID, or for any package when
 * PKG_ID is NULL; 1 found, 0 none.  Errors: UPD_E_IO_READ. */
int srv_job_last(srv_store *st, int64_t device, const char *pkg_id, srv_job *job);

/* A DM session: begin returns its row id (> 0) or an error; end records
 * the outcome text.  Errors: UPD_E_IO_WRITE. */
int64_t srv_session_begin(srv_store *st, int64_t device, const char *session_id);
int srv_session_end(srv_store *st, int64_t session, const char *outcome);

/* A generic or other alert received in SESSION.  Errors: UPD_E_IO_WRITE. */
typedef struct {
    int code;                            /* 1200, 1201, 1226, ... */
    const char *correlator, *source, *type, *mark, *data;   /* NULL if absent */
} srv_alert;
int srv_alert_log(srv_store *st, int64_t session, int64_t device, const srv_alert *a);

/* An audit event: KIND is a short word ("notify", "auth", "exec", "alert",
 * "verify", "state", ...), TEXT free text.  DEVICE and SESSION may be 0.
 * Errors: UPD_E_IO_WRITE. */
int srv_event(srv_store *st, int64_t device, int64_t session, const char *kind,
              const char *text);

/* Call FN for every event with row id > AFTER, oldest first; returns the
 * last row id seen (AFTER when none) or an error.  FN runs under the
 * store's lock and must not call the store.  Errors: UPD_E_IO_READ. */
typedef struct {
    int64_t id, device, session, at;
    const char *dev_id, *kind, *text;
} srv_event_row;
int64_t srv_event_each(srv_store *st, int64_t after,
                       void (*fn)(void *user, const srv_event_row *e), void *user);

/* ---- download server (download.c) --------------------------------------- */

/* A parsed Range request for a representation of SIZE bytes. */
typedef enum {
    SRV_RANGE_NONE = 0,      /* no (usable) Range: send everything, 200 */
    SRV_RANGE_OK,            /* one satisfiable range: 206 [first, last] */
    SRV_RANGE_UNSATISFIABLE  /* 416 with Content-Range: bytes * / SIZE */
} srv_range_kind;

typedef struct {
    srv_range_kind kind;
    uint64_t first, last;                /* inclusive, when SRV_RANGE_OK */
} srv_range;

/* Interpret the Range header value HDR (NULL when absent) for SIZE bytes:
 * "bytes=a-b", "bytes=a-", "bytes=-n", spaces tolerated around '=' and
 * '-' (Windows Mobile sends "bytes = 0-11648"); the last position is
 * clamped to SIZE-1.  Several ranges or a syntax error make
 * SRV_RANGE_NONE (RFC 9110 lets a server ignore Range); a start past the
 * end, or a zero suffix, is SRV_RANGE_UNSATISFIABLE. */
srv_range srv_range_parse(const char *hdr, uint64_t size);

/* Whether an If-Range value IF_RANGE (NULL when absent) lets the Range
 * apply to the representation with strong validator ETAG and modification
 * time MTIME: yes when absent, when it equals ETAG exactly (a weak tag
 * never matches), or when it is an HTTP date equal to MTIME. */
int srv_if_range_ok(const char *if_range, const char *etag, int64_t mtime);

/* Non-zero when S (at most MAX bytes) is a safe single file-name or URL
 * component: letters, digits and "._+~-", not starting with '.'.  Package
 * ids and versions become file names and URLs, so publish holds them to it. */
int srv_name_ok(const char *s, size_t max);

/* The strong ETag of a file: "\"<size hex>-<mtime ns hex>\"" into OUT. */
void srv_etag(char out[64], uint64_t size, int64_t mtime_sec, long mtime_nsec);

/* ---- HTTP server (http.c) ----------------------------------------------- */

typedef struct srv_http srv_http;

/* One SyncML message over HTTP: what came in, and the reply. */
typedef struct {
    const char *content_type;            /* request Content-Type ("" when absent) */
    const char *hmac;                    /* request x-syncml-hmac, NULL when absent */
    const uint8_t *body;
    size_t len;
    uint8_t *reply;                      /* out: malloc'd body, NULL for none */
    size_t reply_len;
    const char *reply_type;              /* out: its Content-Type (static) */
    char reply_hmac[256];                /* out: x-syncml-hmac of the reply, "" for none */
} srv_dm_request;

typedef struct {
    const char *bind;                    /* address, default "127.0.0.1" */
    unsigned port;                       /* 0: any free port (srv_http_port says which) */
    const char *pkg_dir;                 /* download root: GET/HEAD /pkg/<name> */
    unsigned threads;                    /* worker threads (default 4) */
    /* the DM endpoint POST /dm (srv_dm_handle) */
    int (*dm)(void *user, srv_dm_request *rq);
    void *dm_user;
    srv_store *store;                    /* for GET /status.json */
    const char *trace_dir;               /* NULL, or where every DM request and reply is
                                            written (NNNNNN-in.BIN / -out.BIN, .xml or
                                            .wbxml): for protocol debugging and docs */
    const char *tls_cert, *tls_key;      /* PEM text of the certificate (chain) and its
                                            key: serve HTTPS only; NULL: plain HTTP */
} srv_http_params;

/* Start serving on P->bind:P->port in background threads.  Errors:
 * UPD_E_INVAL, UPD_E_IO_OPEN (cannot bind or listen, or a certificate or
 * key libmicrohttpd refuses), UPD_E_NET_TLS (TLS asked for, but this
 * libmicrohttpd has none), UPD_E_NOMEM. */
int srv_http_start(srv_http **out, const srv_http_params *p);

/* The port the server listens on. */
unsigned srv_http_port(const srv_http *h);

/* Stop serving (waits for the threads) and free H; NULL is a no-op. */
void srv_http_stop(srv_http *h);

/* ---- DM session server (session.c) and package #0 (notify_send.c) ------- */

/* Where the device keeps what the server drives (Windows Mobile CSPs);
 * the ROMPackage root is the configuration key "rompkg_root" (a device
 * that is not a Windows Mobile one may keep it under its own vendor). */
#define SRV_ROMPKG_ROOT "./Vendor/updelta/ROMPackage"   /* our device; Windows Mobile: ./Vendor/MSFT/ROMPackage */
#define SRV_FWUPDATE_ROOT "./FwUpdate"
#define SRV_FUMO_ALERT_TYPE "org.openmobilealliance.dm.firmwareupdate.downloadandupdate"

typedef struct srv_dm srv_dm;

/* A DM server over ST for server id SERVER_ID, querying the ROMPackage
 * root named by the configuration key "rompkg_root" (default
 * SRV_ROMPKG_ROOT).  Sessions live in memory (a session cut by a server
 * restart is started again by the device); everything they decide is in
 * ST.  Errors: UPD_E_INVAL, UPD_E_NOMEM, UPD_E_LIMIT/UPD_E_IO_READ (the
 * configuration). */
int srv_dm_create(srv_dm **out, srv_store *st, const char *server_id);

/* Packages are offered at URL/<file> (no trailing slash).  Thread-safe.
 * Errors: UPD_E_INVAL (empty or longer than SRV_TEXT_MAX). */
int srv_dm_set_download_url(srv_dm *dm, const char *url);

/* Free DM (NULL is a no-op). */
void srv_dm_free(srv_dm *dm);

/* Handle one SyncML message (the srv_http_params.dm callback, USER = the
 * srv_dm): RQ's body, Content-Type and x-syncml-hmac header.  Returns the
 * HTTP status: 200 with a SyncML reply in RQ->reply (malloc'd; the caller
 * frees it) of type RQ->reply_type, and in RQ->reply_hmac the reply's
 * x-syncml-hmac when the device uses HMAC; 415 for another media type;
 * 400 for a message that does not parse; 500 when the store fails.  Never
 * blocks on the network.  Thread-safe. */
int srv_dm_handle(void *user, srv_dm_request *rq);

/* Send package #0 (server-initiated, UI mode UI_MODE) to device DEV_ID at
 * its notify address over UDP, with a fresh session id (returned in
 * *SESSION_ID when not NULL), signed with the device's server credentials
 * and the server nonce stored for it.  Errors: UPD_E_INVAL (unknown device
 * or no notify address), UPD_E_NET_CONNECT (address does not resolve or
 * the send fails), store errors. */
int srv_notify_send(srv_store *st, const char *server_id, const char *dev_id, unsigned ui_mode,
                    uint16_t *session_id);

/* ---- status (status.c) -------------------------------------------------- */

/* Write every device (state, reason, packages with current and newest
 * versions, last job) to OUT as text lines or, with JSON set, as one JSON
 * document {"devices":[...]}.  Errors: UPD_E_IO_READ, UPD_E_IO_WRITE. */
int srv_status_write(srv_store *st, FILE *out, int json);

/* A growing byte buffer (buf.c); zero-initialise, free(p) when done. */
typedef struct {
    uint8_t *p;
    size_t n, cap;
} srv_buf;

/* Append LEN bytes at DATA to BUF (a srv_buf *; the signature is a
 * upd_write_fn, so the generator can write into it).  0 or UPD_E_NOMEM. */
int srv_buf_append(void *buf, const void *data, size_t len);

/* Read the file PATH whole into B (followed by a NUL byte not counted in
 * n).  Errors: UPD_E_IO_OPEN, UPD_E_IO_READ, UPD_E_LIMIT, UPD_E_NOMEM. */
int srv_buf_read_file(const char *path, srv_buf *b);

/* Hex helpers shared by the server files. */
void srv_hex(const uint8_t *p, size_t n, char *out);

#endif /* UPD_SERVER_H */
