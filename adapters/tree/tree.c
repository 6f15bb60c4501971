/* The management tree: nodes with format, type and access mask, and the
 * OMA DM command semantics over them (tree.h). */
#define _POSIX_C_SOURCE 200809L
#include "updelta/tree.h"

#include <stdlib.h>
#include <string.h>

typedef struct node node;
struct node {
    char *name;
    upd_tree_format format;
    unsigned access;
    char *type;              /* NULL: text/plain */
    char *value;             /* leaf value, NUL-terminated after len */
    size_t len;
    upd_tree_hooks hooks;
    node *parent, *child, *next;   /* children in creation order */
};

struct upd_tree {
    node root;
};

enum { ST_OK = 200, ST_BAD = 400, ST_NOT_FOUND = 404, ST_NOT_ALLOWED = 405,
       ST_URI_LONG = 414, ST_FORMAT = 415, ST_EXISTS = 418 };

static const char *const format_names[] = { "node", "chr", "int", "bin", "bool" };

const char *upd_tree_format_name(upd_tree_format f)
{
    return (unsigned)f < 5 ? format_names[f] : "?";
}

int upd_tree_format_parse(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < 5; i++)
        if (strcmp(name, format_names[i]) == 0)
            return i;
    return strcmp(name, "b64") == 0 ? UPD_TREE_BIN : -1;
}

static void node_free(node *n)
{
    while (n->child) {
        node *c = n->child;
        n->child = c->next;
        node_free(c);
        free(c);
    }
    free(n->name);
    free(n->type);
    free(n->value);
}

int upd_tree_create(upd_tree **out)
{
    if (!out)
        return UPD_E_INVAL;
    upd_tree *t = calloc(1, sizeof *t);
    if (!t || !(t->root.name = strdup("."))) {
        free(t);
        return UPD_E_NOMEM;
    }
    t->root.access = UPD_TREE_GET;
    *out = t;
    return 0;
}

void upd_tree_free(upd_tree *t)
{
    if (!t)
        return;
    node_free(&t->root);
    free(t);
}

/* Check URI's shape: 0, or the status a server command gets for it. */
static int uri_check(const char *uri)
{
    if (!uri)
        return ST_BAD;
    size_t n = strlen(uri);
    if (n > UPD_TREE_URI_MAX)
        return ST_URI_LONG;
    if (strcmp(uri, ".") == 0)
        return 0;
    const char *p = strncmp(uri, "./", 2) == 0 ? uri + 2 : uri;
    if (*p == '\0')
        return ST_BAD;
    /* every segment non-empty and not "." or ".." */
    while (*p) {
        const char *e = strchr(p, '/');
        size_t sl = e ? (size_t)(e - p) : strlen(p);
        if (sl == 0 || (sl == 1 && p[0] == '.') || (sl == 2 && p[0] == '.' && p[1] == '.'))
            return ST_BAD;
        if (!e)
            break;
        p = e + 1;
        if (*p == '\0')
            return ST_BAD;   /* trailing '/' */
    }
    return 0;
}

static node *child_named(const node *n, const char *name, size_t len)
{
    for (node *c = n->child; c; c = c->next)
        if (strlen(c->name) == len && memcmp(c->name, name, len) == 0)
            return c;
    return NULL;
}

/* Walk URI (already checked).  Returns the node, or NULL; *PARENT gets the
 * deepest existing node and *LAST the start of the first missing segment. */
static node *walk(const upd_tree *t, const char *uri, node **parent, const char **last)
{
    node *n = (node *)&t->root;
    if (strcmp(uri, ".") == 0)
        return n;
    const char *p = strncmp(uri, "./", 2) == 0 ? uri + 2 : uri;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t sl = e ? (size_t)(e - p) : strlen(p);
        node *c = child_named(n, p, sl);
        if (!c) {
            if (parent)
                *parent = n;
            if (last)
                *last = p;
            return NULL;
        }
        n = c;
        p = e ? e + 1 : p + sl;
    }
    return n;
}

static node *find(const upd_tree *t, const char *uri)
{
    return uri_check(uri) == 0 ? walk(t, uri, NULL, NULL) : NULL;
}

static node *new_child(node *parent, const char *name, size_t len, upd_tree_format f,
                       unsigned access)
{
    node *c = calloc(1, sizeof *c);
    if (!c || !(c->name = strndup(name, len))) {
        free(c);
        return NULL;
    }
    c->format = f;
    c->access = access;
    c->parent = parent;
    node **pp = &parent->child;
    while (*pp)
        pp = &(*pp)->next;
    *pp = c;
    return c;
}

static void unlink_node(node *n)
{
    node **pp = &n->parent->child;
    while (*pp != n)
        pp = &(*pp)->next;
    *pp = n->next;
    node_free(n);
    free(n);
}

static int store_value(node *n, const void *data, size_t len)
{
    char *v = malloc(len + 1);
    if (!v)
        return UPD_E_NOMEM;
    if (len)
        memcpy(v, data, len);
    v[len] = '\0';
    free(n->value);
    n->value = v;
    n->len = len;
    return 0;
}

int upd_tree_set(upd_tree *t, const char *uri, upd_tree_format format, unsigned access,
                 const char *type, const void *data, size_t len)
{
    if (!t || uri_check(uri) != 0 || (unsigned)format > UPD_TREE_BOOL || (len && !data))
        return UPD_E_INVAL;
    node *n = &t->root;
    if (strcmp(uri, ".") != 0) {
        const char *p = strncmp(uri, "./", 2) == 0 ? uri + 2 : uri;
        while (*p) {
            const char *e = strchr(p, '/');
            size_t sl = e ? (size_t)(e - p) : strlen(p);
            if (n->format != UPD_TREE_NODE)
                return UPD_E_INVAL;
            node *c = child_named(n, p, sl);
            if (!c && !(c = new_child(n, p, sl, UPD_TREE_NODE, UPD_TREE_GET)))
                return UPD_E_NOMEM;
            n = c;
            p = e ? e + 1 : p + sl;
        }
    }
    if (format != UPD_TREE_NODE && n->child)
        return UPD_E_INVAL;
    char *ty = NULL;
    if (type && !(ty = strdup(type)))
        return UPD_E_NOMEM;
    if (format != UPD_TREE_NODE) {
        int rc = store_value(n, data, len);
        if (rc < 0) {
            free(ty);
            return rc;
        }
    }
    free(n->type);
    n->type = ty;
    n->format = format;
    n->access = access;
    return 0;
}

int upd_tree_set_hooks(upd_tree *t, const char *uri, const upd_tree_hooks *hooks)
{
    if (!t || !hooks)
        return UPD_E_INVAL;
    node *n = find(t, uri);
    if (!n)
        return UPD_E_DM_NODE;
    n->hooks = *hooks;
    return 0;
}

int upd_tree_value(const upd_tree *t, const char *uri, const char **data, size_t *len)
{
    node *n = t ? find(t, uri) : NULL;
    if (!n || n->format == UPD_TREE_NODE)
        return UPD_E_DM_NODE;
    *data = n->value ? n->value : "";
    *len = n->len;
    return 0;
}

/* Resolve URI for a server command needing access bit NEED: the node, or
 * NULL with *ST set to the status to answer. */
static node *resolve(upd_tree *t, const char *uri, unsigned need, int *st)
{
    int c = uri_check(uri);
    if (c) {
        *st = c;
        return NULL;
    }
    node *n = walk(t, uri, NULL, NULL);
    if (!n) {
        *st = ST_NOT_FOUND;
        return NULL;
    }
    if (!(n->access & need)) {
        *st = ST_NOT_ALLOWED;
        return NULL;
    }
    return n;
}

int upd_tree_get(upd_tree *t, const char *uri, upd_tree_result *res)
{
    if (!t || !res)
        return UPD_E_INVAL;
    int st;
    node *n = resolve(t, uri, UPD_TREE_GET, &st);
    if (!n)
        return st;
    size_t len = 0;
    if (n->format == UPD_TREE_NODE) {
        for (node *c = n->child; c; c = c->next)
            len += strlen(c->name) + (c != n->child);
    } else {
        len = n->len;
    }
    char *d = malloc(len + 1);
    if (!d)
        return UPD_E_NOMEM;
    if (n->format == UPD_TREE_NODE) {
        char *p = d;
        for (node *c = n->child; c; c = c->next) {
            if (c != n->child)
                *p++ = '/';
            size_t cl = strlen(c->name);
            memcpy(p, c->name, cl);
            p += cl;
        }
    } else if (len) {
        memcpy(d, n->value, len);
    }
    d[len] = '\0';
    res->data = d;
    res->len = len;
    res->format = n->format;
    res->type = n->type ? n->type : "text/plain";
    return ST_OK;
}

void upd_tree_result_free(upd_tree_result *res)
{
    if (res) {
        free(res->data);
        res->data = NULL;
        res->len = 0;
    }
}

/* 0 when DATA/LEN is a valid value of format F, else 415. */
static int value_check(upd_tree_format f, const char *data, size_t len)
{
    if (f == UPD_TREE_INT) {
        size_t i = (len && data[0] == '-') ? 1 : 0;
        if (i == len)
            return ST_FORMAT;
        for (; i < len; i++)
            if (data[i] < '0' || data[i] > '9')
                return ST_FORMAT;
    } else if (f == UPD_TREE_BOOL) {
        if (!((len == 4 && memcmp(data, "true", 4) == 0) ||
              (len == 5 && memcmp(data, "false", 5) == 0)))
            return ST_FORMAT;
    }
    return 0;
}

int upd_tree_replace(upd_tree *t, const char *uri, int format, const void *data, size_t len)
{
    if (!t || (len && !data))
        return UPD_E_INVAL;
    int st;
    node *n = resolve(t, uri, UPD_TREE_REPLACE, &st);
    if (!n)
        return st;
    if (n->format == UPD_TREE_NODE)
        return ST_NOT_ALLOWED;
    if ((format >= 0 && format != (int)n->format) || value_check(n->format, data, len))
        return ST_FORMAT;
    if (n->hooks.replace) {
        st = n->hooks.replace(n->hooks.user, uri, data, len);
        if (st != ST_OK)
            return st;
    }
    int rc = store_value(n, data, len);
    return rc < 0 ? rc : ST_OK;
}

int upd_tree_add(upd_tree *t, const char *uri, int format, const void *data, size_t len)
{
    if (!t || (len && !data))
        return UPD_E_INVAL;
    int c = uri_check(uri);
    if (c)
        return c;
    node *parent = NULL;
    const char *last = NULL;
    if (walk(t, uri, &parent, &last))
        return ST_EXISTS;
    if (strchr(last, '/'))
        return ST_NOT_FOUND;   /* more than the last segment is missing */
    if (parent->format != UPD_TREE_NODE || !(parent->access & UPD_TREE_ADD))
        return ST_NOT_ALLOWED;
    if (format < 0)
        format = UPD_TREE_CHR;
    if (format > UPD_TREE_BOOL || value_check((upd_tree_format)format, data, len))
        return ST_FORMAT;
    unsigned access = UPD_TREE_GET | UPD_TREE_REPLACE | UPD_TREE_DELETE;
    if (format == UPD_TREE_NODE)
        access |= UPD_TREE_ADD;
    node *n = new_child(parent, last, strlen(last), (upd_tree_format)format, access);
    if (!n)
        return UPD_E_NOMEM;
    if (format != UPD_TREE_NODE && store_value(n, data, len) < 0) {
        unlink_node(n);
        return UPD_E_NOMEM;
    }
    return ST_OK;
}

int upd_tree_delete(upd_tree *t, const char *uri)
{
    if (!t)
        return UPD_E_INVAL;
    int st;
    node *n = resolve(t, uri, UPD_TREE_DELETE, &st);
    if (!n)
        return st;
    if (n == &t->root)
        return ST_NOT_ALLOWED;
    unlink_node(n);
    return ST_OK;
}

int upd_tree_exec(upd_tree *t, const char *uri, const void *data, size_t len,
                  const char *correlator)
{
    if (!t || (len && !data))
        return UPD_E_INVAL;
    int st;
    node *n = resolve(t, uri, UPD_TREE_EXEC, &st);
    if (!n)
        return st;
    if (!n->hooks.exec)
        return ST_NOT_ALLOWED;
    return n->hooks.exec(n->hooks.user, uri, data, len, correlator);
}
