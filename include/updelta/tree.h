/*
 * updelta: the device's OMA DM management tree.
 *
 * A tree of named nodes addressed by relative URIs ("./DevInfo/DevId";
 * the leading "./" may be left out).  Interior nodes (format "node") hold
 * children, leaves hold a value of a format (chr, int, bin, bool) and a
 * MIME type.  Each node has an access mask (ACL-lite: which DM commands the
 * server may run on it).
 *
 * Two tiers:
 *   - device side (upd_tree_set, upd_tree_set_hooks, upd_tree_value): the
 *     device builds and updates its own nodes; no access check;
 *   - server side (upd_tree_get/replace/add/delete/exec): one call per
 *     command a server sent, with OMA DM semantics, returning the DM status
 *     code to put in the command's Status:
 *       200 OK, 202 accepted for processing (asynchronous Exec), 400 bad
 *       URI, 404 no such node, 405 command not allowed on this node,
 *       414 URI too long, 415 unsupported format, 418 already exists,
 *       and any status a hook returns.
 *     Negative upd_err values are returned only for internal failures
 *     (UPD_E_NOMEM, UPD_E_INVAL for NULL arguments).
 * Hooks let an object (FUMO, ROMPackage) see or veto a Replace of a leaf
 * and carry out an Exec.  The tree never prints and owns all node memory.
 * Thread safety: one thread at a time per tree.
 */
#ifndef UPDELTA_TREE_H
#define UPDELTA_TREE_H

#include <stddef.h>
#include "common.h"

typedef enum {
    UPD_TREE_NODE = 0,   /* interior node */
    UPD_TREE_CHR,        /* text */
    UPD_TREE_INT,        /* decimal integer text */
    UPD_TREE_BIN,        /* bytes (sent b64 by the codec) */
    UPD_TREE_BOOL        /* "true" / "false" */
} upd_tree_format;

/* Access mask bits (upd_tree_set's ACCESS). */
#define UPD_TREE_GET     1u
#define UPD_TREE_REPLACE 2u
#define UPD_TREE_ADD     4u   /* on an interior node: the server may Add children */
#define UPD_TREE_DELETE  8u
#define UPD_TREE_EXEC    16u

#define UPD_TREE_URI_MAX 1024  /* longer URIs get 414 */

typedef struct upd_tree upd_tree;

/* Hooks of one node.  USER is handed back unchanged.
 * replace: called before a server Replace stores DATA (LEN bytes, not
 *   NUL-terminated) in the leaf URI; return 200 to accept, any other DM
 *   status to refuse (the value then stays unchanged).
 * exec: called for a server Exec of URI with the optional argument DATA and
 *   the command's Correlator (NULL when none); returns the DM status (202
 *   when the work goes on asynchronously).
 * Either may be NULL (Replace then just stores; Exec then gets 405). */
typedef struct {
    int (*replace)(void *user, const char *uri, const void *data, size_t len);
    int (*exec)(void *user, const char *uri, const void *data, size_t len,
                const char *correlator);
    void *user;
} upd_tree_hooks;

/* Make an empty tree (only the root "."). Errors: UPD_E_NOMEM. */
UPD_API int upd_tree_create(upd_tree **out);

/* Free the tree and every node (NULL is a no-op). */
UPD_API void upd_tree_free(upd_tree *t);

/* Device side: create or update node URI with FORMAT, ACCESS and, for a
 * leaf, the value DATA/LEN (copied; DATA may be NULL when LEN is 0).  Missing
 * interior nodes on the way are created with access UPD_TREE_GET.  TYPE is
 * the MIME type reported with Get (NULL: "text/plain").  Changing an
 * existing node's format from node to leaf while it has children is refused.
 * Errors: UPD_E_INVAL (malformed URI, leaf on the way), UPD_E_NOMEM. */
UPD_API int upd_tree_set(upd_tree *t, const char *uri, upd_tree_format format,
                         unsigned access, const char *type, const void *data, size_t len);

/* Device side: attach HOOKS (copied) to the existing node URI.
 * Errors: UPD_E_INVAL (NULL arguments), UPD_E_DM_NODE (no such node). */
UPD_API int upd_tree_set_hooks(upd_tree *t, const char *uri, const upd_tree_hooks *hooks);

/* Device side: the value of leaf URI without an access check.  *DATA points
 * into the tree (valid until the node changes), NUL-terminated after LEN
 * bytes.  Errors: UPD_E_DM_NODE (no such leaf). */
UPD_API int upd_tree_value(const upd_tree *t, const char *uri, const char **data, size_t *len);

/* The result of a Get.  DATA is malloc'd, owned by the caller (free it with
 * upd_tree_result_free), NUL-terminated after LEN bytes. */
typedef struct {
    char *data;
    size_t len;
    upd_tree_format format;
    const char *type;     /* MIME type; static or owned by the tree, valid
                             until the node changes */
} upd_tree_result;

/* Server Get of URI.  A leaf gives its value; an interior node gives the
 * names of its children separated by '/' (format node).  Returns 200 and
 * fills *RES, or 400/404/405/414 (RES untouched). Errors: UPD_E_NOMEM. */
UPD_API int upd_tree_get(upd_tree *t, const char *uri, upd_tree_result *res);

/* Free the memory of a Get result (safe on a zeroed result). */
UPD_API void upd_tree_result_free(upd_tree_result *res);

/* Server Replace of leaf URI with DATA/LEN.  FORMAT is the format the
 * server declared, or -1 when it declared none; a declared format other
 * than the node's is 415, and an int leaf accepts only a decimal integer
 * (else 415).  Returns 200, 400/404/405/414/415 or the replace hook's
 * refusal.  Errors: UPD_E_NOMEM. */
UPD_API int upd_tree_replace(upd_tree *t, const char *uri, int format,
                             const void *data, size_t len);

/* Server Add of URI: a new leaf (FORMAT chr/int/bin/bool, value DATA/LEN)
 * or a new interior node (FORMAT node) under an existing interior node that
 * allows UPD_TREE_ADD.  The new node gets GET|REPLACE|DELETE (and ADD for
 * an interior node).  Returns 200, 418 when URI exists, 404 when the parent
 * does not, 405 when the parent does not allow Add, 400/414/415.
 * Errors: UPD_E_NOMEM. */
UPD_API int upd_tree_add(upd_tree *t, const char *uri, int format,
                         const void *data, size_t len);

/* Server Delete of URI and its subtree.  Returns 200, 404, 405 (node does
 * not allow Delete, or it is the root), 400/414. */
UPD_API int upd_tree_delete(upd_tree *t, const char *uri);

/* Server Exec of URI with argument DATA/LEN and CORRELATOR (may be NULL).
 * Returns the exec hook's status, 405 when the node does not allow Exec or
 * has no exec hook, 404, 400/414. */
UPD_API int upd_tree_exec(upd_tree *t, const char *uri, const void *data, size_t len,
                          const char *correlator);

/* "node", "chr", "int", "bin", "bool". */
UPD_API const char *upd_tree_format_name(upd_tree_format f);

/* The format named NAME ("b64" counts as bin), or -1. */
UPD_API int upd_tree_format_parse(const char *name);

#endif /* UPDELTA_TREE_H */
