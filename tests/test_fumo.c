/* The FUMO object: every state transition, every refused one, the final
 * alert, persistence across reopen and across a crash at each step of the
 * state file write, and the FwUpdate nodes (fumo.h). */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "updelta/fumo.h"

static char dir[64];

static void setup(void)
{
    strcpy(dir, "/tmp/upd-fumo-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(fumo, .init = setup, .fini = teardown, .timeout = 20);

static upd_fumo *open_f(void)
{
    upd_fumo *f;
    cr_assert_eq(upd_fumo_open(&f, dir, "rom.os", NULL), 0);
    return f;
}

static int state_of(const upd_fumo *f)
{
    upd_fumo_record r;
    upd_fumo_get(f, &r);
    return r.state;
}

/* The allowed transitions, written out from FUMO 1.0 figure 10.2 (not from
 * the code): {from, event, op, to}; op -1 = any. */
static const int allowed[][4] = {
    { 10, UPD_FUMO_EV_PKGDATA, -1, 50 },
    { 50, UPD_FUMO_EV_PKGDATA, -1, 50 },
    { 30, UPD_FUMO_EV_DL_FAILED, -1, 20 },
    { 30, UPD_FUMO_EV_DL_DONE, -1, 40 },
    { 40, UPD_FUMO_EV_PROCEED, UPD_FUMO_OP_DOWNLOAD, 50 },
    { 40, UPD_FUMO_EV_PROCEED, UPD_FUMO_OP_DOWNLOAD_UPDATE, 60 },
    { 60, UPD_FUMO_EV_UPD_FAILED, -1, 70 },
    { 60, UPD_FUMO_EV_UPD_DONE, -1, 90 },
    { 50, UPD_FUMO_EV_RESET, -1, 10 },
    { 70, UPD_FUMO_EV_CLEANUP, -1, 80 },
    { 90, UPD_FUMO_EV_CLEANUP, -1, 100 },
    { 20, UPD_FUMO_EV_CLEANUP, -1, 10 },
    { 80, UPD_FUMO_EV_CLEANUP, -1, 10 },
    { 100, UPD_FUMO_EV_CLEANUP, -1, 10 },
};

Test(fumo, transition_table, .description = "every (state, event, op) gives exactly the figure's transition, all others UPD_E_STATE")
{
    unsigned checked = 0;
    for (int s = 10; s <= 100; s += 10)
        for (int ev = UPD_FUMO_EV_PKGDATA; ev <= UPD_FUMO_EV_CLEANUP; ev++)
            for (int op = UPD_FUMO_OP_NONE; op <= UPD_FUMO_OP_DOWNLOAD_UPDATE; op++) {
                int want = UPD_E_STATE;
                for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
                    if (allowed[i][0] == s && allowed[i][1] == ev &&
                        (allowed[i][2] == -1 || allowed[i][2] == op))
                        want = allowed[i][3];
                cr_expect_eq(upd_fumo_next((upd_fumo_state)s, (upd_fumo_ev)ev, (upd_fumo_op)op),
                             want, "state %d event %d op %d", s, ev, op);
                checked++;
            }
    cr_expect_eq(checked, 10u * 8u * 4u);
}

static void expect_alert(const upd_fumo *f, int result, const char *type_tail, const char *src_tail,
                         const char *corr)
{
    upd_fumo_alert a;
    cr_assert_eq(upd_fumo_alert_get(f, &a), 1);
    cr_expect_eq(a.result, result);
    char want[128];
    snprintf(want, sizeof want, "org.openmobilealliance.dm.firmwareupdate.%s", type_tail);
    cr_expect_str_eq(a.type, want);
    snprintf(want, sizeof want, "./FwUpdate/rom.os/%s", src_tail);
    cr_expect_str_eq(a.source, want);
    if (corr)
        cr_expect_str_eq(a.correlator, corr);
    else
        cr_expect_null(a.correlator);
    if (result == 200)
        cr_expect_null(a.mark);
    else
        cr_expect_str_eq(a.mark, "critical");
}

Test(fumo, download_and_update_success, .description = "10->30->40->60->90 with alert 200 and the correlator; ack -> 100; next Exec cleans up to 10 -> 30")
{
    upd_fumo *f = open_f();
    cr_expect_eq(state_of(f), 10);
    cr_expect_eq(upd_fumo_alert_get(f, &(upd_fumo_alert){ 0 }), 0);
    cr_assert_eq(upd_fumo_exec(f, UPD_FUMO_OP_DOWNLOAD_UPDATE, "http://h/p", "corr-1"), 0);
    cr_expect_eq(state_of(f), 30);
    cr_assert_eq(upd_fumo_event(f, UPD_FUMO_EV_DL_DONE, 0), 0);
    cr_expect_eq(state_of(f), 40);
    cr_assert_eq(upd_fumo_event(f, UPD_FUMO_EV_PROCEED, 0), 0);
    cr_expect_eq(state_of(f), 60);
    cr_expect_eq(upd_fumo_alert_get(f, &(upd_fumo_alert){ 0 }), 0);
    cr_assert_eq(upd_fumo_event(f, UPD_FUMO_EV_UPD_DONE, 0), 0);
    cr_expect_eq(state_of(f), 90);
    expect_alert(f, 200, "downloadandupdate", "DownloadAndUpdate", "corr-1");
    cr_assert_eq(upd_fumo_alert_acked(f), 0);
    cr_expect_eq(state_of(f), 100);
    cr_expect_eq(upd_fumo_alert_get(f, &(upd_fumo_alert){ 0 }), 0);
    cr_assert_eq(upd_fumo_exec(f, UPD_FUMO_OP_DOWNLOAD_UPDATE, "http://h/q", NULL), 0);
    cr_expect_eq(state_of(f), 30);
    upd_fumo_record r;
    upd_fumo_get(f, &r);
    cr_expect_str_eq(r.url, "http://h/q");
    cr_expect_null(r.correlator);
    cr_expect_eq(r.result, 0);
    upd_fumo_free(f);
}

Test(fumo, download_then_update_failure, .description = "Download: 30->40->50 alert 200 (download type); Exec Update 50->60->70 alert 410 critical; ack -> 80 -> next Exec -> 10 -> 30")
{
    upd_fumo *f = open_f();
    cr_assert_eq(upd_fumo_exec(f, UPD_FUMO_OP_DOWNLOAD, "http://h/p", "d1"), 0);
    cr_assert_eq(upd_fumo_event(f, UPD_FUMO_EV_DL_DONE, 0), 0);
    cr_assert_eq(upd_fumo_event(f, UPD_FUMO_EV_PROCEED, 0), 0);
    cr_expect_eq(state_of(f), 50);
    expect_alert(f, 200, "download", "Download", "d1");
    cr_expect_eq(upd_fumo_exec(f, UPD_FUMO_OP_UPDATE, NULL, "u1"), UPD_E_STATE);  /* alert pending */
    cr_assert_eq(upd_fumo_alert_acked(f), 0);
    cr_expect_eq(state_of(f), 50);
    cr_assert_eq(upd_fumo_exec(f, UPD_FUMO_OP_UPDATE, NULL, "u1"), 0);
    cr_expect_eq(state_of(f), 60);
    cr_assert_eq(upd_fumo_event(f, UPD_FUMO_EV_UPD_FAILED, 410), 0);
    cr_expect_eq(state_of(f), 70);
    expect_alert(f, 410, "update", "Update", "u1");
    cr_assert_eq(upd_fumo_alert_acked(f), 0);
    cr_expect_eq(state_of(f), 80);
    cr_assert_eq(upd_fumo_exec(f, UPD_FUMO_OP_DOWNLOAD, "http://h/p2", NULL), 0);
    cr_expect_eq(state_of(f), 30);
    upd_fumo_free(f);
}

Test(fumo, download_failure, .description = "30->20 with the failure code at once; no new Exec until acked; ack keeps 20; Exec cleans up to 10 -> 30")
{
    upd_fumo *f = open_f();
    cr_assert_eq(upd_fumo_exec(f, UPD_FUMO_OP_DOWNLOAD_UPDATE, "http://h/p", "c"), 0);
    cr_assert_eq(upd_fumo_event(f, UPD_FUMO_EV_DL_FAILED, 503), 0);
    cr_expect_eq(state_of(f), 20);
    expect_alert(f, 503, "downloadandupdate", "DownloadAndUpdate", "c");
    cr_expect_eq(upd_fumo_exec(f, UPD_FUMO_OP_DOWNLOAD_UPDATE, "http://h/p", "c2"), UPD_E_STATE);
    cr_expect_eq(upd_fumo_event(f, UPD_FUMO_EV_PKGDATA, 0), UPD_E_STATE);
    cr_assert_eq(upd_fumo_alert_acked(f), 0);
    cr_expect_eq(state_of(f), 20);
    cr_expect_eq(upd_fumo_alert_acked(f), UPD_E_STATE);   /* nothing pending now */
    cr_assert_eq(upd_fumo_exec(f, UPD_FUMO_OP_DOWNLOAD_UPDATE, "http://h/p", "c2"), 0);
    cr_expect_eq(state_of(f), 30);
    upd_fumo_free(f);
}

Test(fumo, refused_calls, .description = "every call that is not allowed fails and changes nothing")
{
    upd_fumo *f = open_f();
    cr_expect_eq(upd_fumo_exec(f, UPD_FUMO_OP_UPDATE, NULL, NULL), UPD_E_STATE);   /* 10: no data */
    cr_expect_eq(upd_fumo_exec(f, UPD_FUMO_OP_DOWNLOAD, NULL, NULL), UPD_E_INVAL);
    cr_expect_eq(upd_fumo_exec(f, UPD_FUMO_OP_DOWNLOAD, "", NULL), UPD_E_INVAL);
    cr_expect_eq(upd_fumo_exec(f, UPD_FUMO_OP_NONE, "u", NULL), UPD_E_INVAL);
    cr_expect_eq(upd_fumo_exec(f, UPD_FUMO_OP_DOWNLOAD, "http://x\n", NULL), UPD_E_INVAL);
    cr_expect_eq(upd_fumo_exec(f, UPD_FUMO_OP_DOWNLOAD, "http://x", "a\nb"), UPD_E_INVAL);
    cr_expect_eq(upd_fumo_event(f, UPD_FUMO_EV_DL_DONE, 0), UPD_E_STATE);
    cr_expect_eq(upd_fumo_event(f, UPD_FUMO_EV_UPD_DONE, 0), UPD_E_STATE);
    cr_expect_eq(upd_fumo_set_note(f, "a\nb"), UPD_E_INVAL);
    cr_expect_eq(state_of(f), 10);
    cr_assert_eq(upd_fumo_exec(f, UPD_FUMO_OP_DOWNLOAD_UPDATE, "http://h/p", NULL), 0);
    cr_expect_eq(upd_fumo_exec(f, UPD_FUMO_OP_DOWNLOAD_UPDATE, "http://h/p", NULL), UPD_E_STATE);
    cr_expect_eq(upd_fumo_event(f, UPD_FUMO_EV_DL_FAILED, 200), UPD_E_INVAL);  /* not a failure code */
    cr_expect_eq(upd_fumo_event(f, UPD_FUMO_EV_DL_FAILED, 600), UPD_E_INVAL);
    cr_expect_eq(upd_fumo_event(f, UPD_FUMO_EV_PROCEED, 0), UPD_E_STATE);
    cr_expect_eq(upd_fumo_event(f, UPD_FUMO_EV_PKGDATA, 0), UPD_E_STATE);
    cr_expect_eq(state_of(f), 30);
    upd_fumo_free(f);
    upd_fumo *g;
    cr_expect_eq(upd_fumo_open(&g, dir, "../x", NULL), UPD_E_INVAL);
    cr_expect_eq(upd_fumo_open(&g, dir, "", NULL), UPD_E_INVAL);
    cr_expect_eq(upd_fumo_open(&g, dir, ".hidden", NULL), UPD_E_INVAL);
}

Test(fumo, persists, .description = "a reopened object has the same record: state, op, URL, correlator, result, alert, note")
{
    upd_fumo *f = open_f();
    cr_assert_eq(upd_fumo_exec(f, UPD_FUMO_OP_DOWNLOAD_UPDATE, "http://h/p?a=b c", "X y"), 0);
    cr_assert_eq(upd_fumo_set_note(f, "offset 1234"), 0);
    cr_assert_eq(upd_fumo_event(f, UPD_FUMO_EV_DL_FAILED, 412), 0);
    upd_fumo_free(f);
    f = open_f();
    upd_fumo_record r;
    upd_fumo_get(f, &r);
    cr_expect_eq(r.state, 20);
    cr_expect_eq(r.op, UPD_FUMO_OP_DOWNLOAD_UPDATE);
    cr_expect_str_eq(r.url, "http://h/p?a=b c");
    cr_expect_str_eq(r.correlator, "X y");
    cr_expect_eq(r.result, 412);
    cr_expect_eq(r.alert_pending, 1);
    cr_expect_str_eq(r.note, "offset 1234");
    cr_assert_eq(upd_fumo_alert_acked(f), 0);
    upd_fumo_free(f);
    f = open_f();
    upd_fumo_get(f, &r);
    cr_expect_eq(r.alert_pending, 0);
    cr_assert_eq(upd_fumo_exec(f, UPD_FUMO_OP_DOWNLOAD, "http://h/next", NULL), 0);
    upd_fumo_get(f, &r);
    cr_expect_str_eq(r.note, "", "a new operation starts without the last one's note");
    upd_fumo_free(f);
}

typedef struct { int step; } crash_plan;
static int crash_here(void *user, int step)
{
    return ((crash_plan *)user)->step == step;
}

Test(fumo, crash_during_state_write, .description = "a crash at each step of the state write leaves the old or the new record, never a broken one; the next write succeeds")
{
    for (int step = UPD_FUMO_STEP_TEMP_WRITE; step <= UPD_FUMO_STEP_DIR_SYNC; step++) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -f '%s'/* '%s'/.f*", dir, dir);
        cr_assert_eq(system(cmd), 0);
        upd_fumo *f = open_f();
        cr_assert_eq(upd_fumo_exec(f, UPD_FUMO_OP_DOWNLOAD_UPDATE, "http://h/p", "c"), 0);
        upd_fumo_free(f);
        crash_plan plan = { step };
        upd_fumo_fault fault = { crash_here, &plan };
        cr_assert_eq(upd_fumo_open(&f, dir, "rom.os", &fault), 0);
        cr_expect_eq(upd_fumo_event(f, UPD_FUMO_EV_DL_DONE, 0), UPD_E_IO_WRITE, "step %d", step);
        cr_expect_eq(state_of(f), 30, "in memory the failed change is not taken, step %d", step);
        upd_fumo_free(f);
        /* "reboot" */
        f = open_f();
        int want = step == UPD_FUMO_STEP_DIR_SYNC ? 40 : 30;   /* renamed: the new record */
        cr_expect_eq(state_of(f), want, "step %d", step);
        upd_fumo_record r;
        upd_fumo_get(f, &r);
        cr_expect_str_eq(r.url, "http://h/p");
        cr_expect_str_eq(r.correlator, "c");
        if (want == 30)
            cr_expect_eq(upd_fumo_event(f, UPD_FUMO_EV_DL_DONE, 0), 0);
        cr_expect_eq(upd_fumo_event(f, UPD_FUMO_EV_PROCEED, 0), 0);
        upd_fumo_free(f);
        f = open_f();
        cr_expect_eq(state_of(f), 60);
        upd_fumo_free(f);
    }
}

Test(fumo, malformed_state_file, .description = "a state file that is not a record is refused with UPD_E_IO_READ, not read as Idle")
{
    static const char *const bad[] = { "state = 35\n", "state = 30\nbogus = 1\n", "op = 1\n",
                                       "state = 30", "state = 30\nresult = 9999\n" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(upd_fumo_store_file(dir, "fumo-rom.os.state", bad[i], strlen(bad[i]), NULL), 0);
        upd_fumo *f;
        cr_expect_eq(upd_fumo_open(&f, dir, "rom.os", NULL), UPD_E_IO_READ, "%s", bad[i]);
    }
}

/* ---- the FwUpdate nodes ---------------------------------------------------- */

static int starts, start_op;
static void on_start(void *user, upd_fumo_op op)
{
    (void)user;
    starts++;
    start_op = op;
}

static void expect_state_leaf(upd_tree *t, const char *want)
{
    upd_tree_result r = { 0 };
    cr_assert_eq(upd_tree_get(t, "./FwUpdate/rom.os/State", &r), 200);
    cr_expect_str_eq(r.data, want);
    cr_expect_eq(r.format, UPD_TREE_INT);
    upd_tree_result_free(&r);
}

/* A tree with F's FwUpdate/rom.os nodes; the in-band package goes to PD. */
static upd_tree *attached(upd_fumo *f, char *pd, size_t n)
{
    upd_tree *t;
    cr_assert_eq(upd_tree_create(&t), 0);
    snprintf(pd, n, "%s/rom.os.pkg", dir);
    cr_assert_eq(upd_fumo_attach(f, t, "./FwUpdate/rom.os", "os", "1.0", pd, on_start, NULL), 0);
    return t;
}

Test(fumo, tree_exec_flow, .description = "Replace PkgURL + Exec DownloadAndUpdate -> 202, start called, State leaf follows; busy Exec/Replace -> 405; no URL -> 412")
{
    upd_fumo *f = open_f();
    char pd[128];
    upd_tree *t = attached(f, pd, sizeof pd);
    expect_state_leaf(t, "10");
    upd_tree_result r = { 0 };
    cr_assert_eq(upd_tree_get(t, "./FwUpdate/rom.os", &r), 200);
    cr_expect_str_eq(r.data, "PkgName/PkgVersion/Download/Update/DownloadAndUpdate/Ext/State");
    upd_tree_result_free(&r);
    cr_expect_eq(upd_tree_exec(t, "./FwUpdate/rom.os/DownloadAndUpdate", NULL, 0, "c"), 412);
    cr_expect_eq(upd_tree_exec(t, "./FwUpdate/rom.os/Update", NULL, 0, "c"), 405);
    cr_expect_eq(upd_tree_exec(t, "./FwUpdate/rom.os/State", NULL, 0, "c"), 405);
    cr_expect_eq(upd_tree_replace(t, "./FwUpdate/rom.os/State", -1, "50", 2), 405);
    const char *url = "http://127.0.0.1:1/p.upd";
    cr_expect_eq(upd_tree_replace(t, "./FwUpdate/rom.os/DownloadAndUpdate/PkgURL", -1, url,
                                  strlen(url)), 200);
    cr_expect_eq(upd_tree_exec(t, "./FwUpdate/rom.os/DownloadAndUpdate", NULL, 0, "corr"), 202);
    cr_expect_eq(starts, 1);
    cr_expect_eq(start_op, UPD_FUMO_OP_DOWNLOAD_UPDATE);
    expect_state_leaf(t, "30");
    upd_fumo_record rec;
    upd_fumo_get(f, &rec);
    cr_expect_str_eq(rec.url, url);
    cr_expect_str_eq(rec.correlator, "corr");
    cr_expect_eq(upd_tree_exec(t, "./FwUpdate/rom.os/DownloadAndUpdate", NULL, 0, "c2"), 405);
    cr_expect_eq(upd_tree_replace(t, "./FwUpdate/rom.os/DownloadAndUpdate/PkgURL", -1, "x", 1), 405);
    cr_expect_eq(starts, 1);
    cr_assert_eq(upd_fumo_event(f, UPD_FUMO_EV_DL_FAILED, 503), 0);
    expect_state_leaf(t, "20");
    upd_fumo_free(f);
    upd_tree_free(t);
}

Test(fumo, tree_pkgdata_flow, .description = "Replace Update/PkgData writes the package and goes to 50; Exec Update -> 202, 60; a new PkgURL in 50 resets to 10")
{
    upd_fumo *f = open_f();
    char pd[128];
    upd_tree *t = attached(f, pd, sizeof pd);
    cr_expect_eq(upd_tree_replace(t, "./FwUpdate/rom.os/Update/PkgData", -1, "PKGBYTES", 8), 200);
    expect_state_leaf(t, "50");
    FILE *fp = fopen(pd, "rb");
    cr_assert_not_null(fp);
    char buf[16] = { 0 };
    cr_expect_eq(fread(buf, 1, sizeof buf, fp), 8u);
    fclose(fp);
    cr_expect_str_eq(buf, "PKGBYTES");
    cr_expect_eq(upd_tree_replace(t, "./FwUpdate/rom.os/Download/PkgURL", -1, "http://h/x", 10), 200);
    expect_state_leaf(t, "10");
    cr_expect_neq(access(pd, F_OK), 0);
    cr_expect_eq(upd_tree_replace(t, "./FwUpdate/rom.os/Update/PkgData", -1, "PKG2", 4), 200);
    starts = 0;
    cr_expect_eq(upd_tree_exec(t, "./FwUpdate/rom.os/Update", NULL, 0, NULL), 202);
    cr_expect_eq(start_op, UPD_FUMO_OP_UPDATE);
    expect_state_leaf(t, "60");
    upd_tree_result r = { 0 };
    cr_expect_eq(upd_tree_get(t, "./FwUpdate/rom.os/Update/PkgData", &r), 405);  /* write-only */
    upd_fumo_free(f);
    upd_tree_free(t);
}
