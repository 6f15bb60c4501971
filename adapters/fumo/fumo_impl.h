/* Private to adapters/fumo: the object and its record. */
#ifndef UPD_FUMO_IMPL_H
#define UPD_FUMO_IMPL_H

#include "updelta/fumo.h"

#define UPD_FUMO_CHECK(e) do { int rc_ = (e); if (rc_ < 0) return rc_; } while (0)

typedef struct {
    upd_fumo_state state;
    upd_fumo_op op;
    int result;
    int alert;
    char *url, *corr, *note;    /* corr NULL when the Exec had none */
} fumo_rec;

struct upd_fumo {
    fumo_rec rec;
    upd_fumo_fault fault;
    char *dir, *id, *file;
    char *base;                  /* "./FwUpdate/<id>" unless attached elsewhere */
    char alert_src[1200];
    /* tree binding (fumo_tree.c) */
    upd_tree *tree;
    char *pkgdata_path;
    upd_fumo_start_fn start;
    void *start_user;
};

/* Copy the state into the tree's State leaf (fumo_tree.c). */
void fumo_tree_state(upd_fumo *f);

#endif
