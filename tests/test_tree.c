/* The management tree: DM command semantics and status codes (tree.h). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "updelta/tree.h"

static upd_tree *t;

static void setup(void)
{
    cr_assert_eq(upd_tree_create(&t), 0);
    cr_assert_eq(upd_tree_set(t, "./DevInfo/DevId", UPD_TREE_CHR, UPD_TREE_GET, NULL, "IMEI:1", 6), 0);
    cr_assert_eq(upd_tree_set(t, "./DevInfo/Man", UPD_TREE_CHR, UPD_TREE_GET, NULL, "acme", 4), 0);
    cr_assert_eq(upd_tree_set(t, "./Cfg", UPD_TREE_NODE, UPD_TREE_GET | UPD_TREE_ADD, NULL, NULL, 0), 0);
    cr_assert_eq(upd_tree_set(t, "./Cfg/Level", UPD_TREE_INT,
                              UPD_TREE_GET | UPD_TREE_REPLACE | UPD_TREE_DELETE, NULL, "3", 1), 0);
}

static void teardown(void)
{
    upd_tree_free(t);
}

TestSuite(tree, .init = setup, .fini = teardown, .timeout = 10);

static void expect_get(const char *uri, const char *value, upd_tree_format f)
{
    upd_tree_result r = { 0 };
    cr_assert_eq(upd_tree_get(t, uri, &r), 200, "Get %s", uri);
    cr_expect_str_eq(r.data, value);
    cr_expect_eq(r.len, strlen(value));
    cr_expect_eq(r.format, f);
    upd_tree_result_free(&r);
}

Test(tree, get_leaf_and_interior, .description = "Get: leaf value; interior = child names by '/'")
{
    expect_get("./DevInfo/DevId", "IMEI:1", UPD_TREE_CHR);
    expect_get("DevInfo/Man", "acme", UPD_TREE_CHR);           /* "./" is optional */
    expect_get("./DevInfo", "DevId/Man", UPD_TREE_NODE);
    expect_get(".", "DevInfo/Cfg", UPD_TREE_NODE);
}

Test(tree, get_errors, .description = "Get: 404 missing, 405 no Get right, 400 bad URI, 414 long URI")
{
    upd_tree_result r = { 0 };
    cr_expect_eq(upd_tree_get(t, "./DevInfo/Nope", &r), 404);
    cr_expect_eq(upd_tree_get(t, "./Nope/DevId", &r), 404);
    cr_assert_eq(upd_tree_set(t, "./Secret", UPD_TREE_CHR, UPD_TREE_REPLACE, NULL, "x", 1), 0);
    cr_expect_eq(upd_tree_get(t, "./Secret", &r), 405);
    cr_expect_eq(upd_tree_get(t, "./DevInfo//DevId", &r), 400);
    cr_expect_eq(upd_tree_get(t, "./DevInfo/../DevInfo", &r), 400);
    cr_expect_eq(upd_tree_get(t, "./DevInfo/", &r), 400);
    cr_expect_eq(upd_tree_get(t, "", &r), 400);
    char big[UPD_TREE_URI_MAX + 8];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cr_expect_eq(upd_tree_get(t, big, &r), 414);
    cr_expect_null(r.data);
}

Test(tree, replace, .description = "Replace: 200 stores, 405 without the right or on an interior node, 404, 415 format")
{
    cr_expect_eq(upd_tree_replace(t, "./Cfg/Level", -1, "42", 2), 200);
    expect_get("./Cfg/Level", "42", UPD_TREE_INT);
    cr_expect_eq(upd_tree_replace(t, "./Cfg/Level", UPD_TREE_INT, "-7", 2), 200);
    cr_expect_eq(upd_tree_replace(t, "./Cfg/Level", -1, "4x", 2), 415);
    cr_expect_eq(upd_tree_replace(t, "./Cfg/Level", UPD_TREE_CHR, "5", 1), 415);
    expect_get("./Cfg/Level", "-7", UPD_TREE_INT);   /* refused values change nothing */
    cr_expect_eq(upd_tree_replace(t, "./DevInfo/DevId", -1, "x", 1), 405);
    cr_expect_eq(upd_tree_replace(t, "./Cfg", -1, "x", 1), 405);
    cr_expect_eq(upd_tree_replace(t, "./Cfg/Nope", -1, "x", 1), 404);
}

static int veto_calls;
static int veto(void *user, const char *uri, const void *data, size_t len)
{
    (void)uri;
    veto_calls++;
    cr_expect_str_eq(user, "cookie");
    return (len == 3 && memcmp(data, "bad", 3) == 0) ? 403 : 200;
}

Test(tree, replace_hook, .description = "a Replace hook sees the value and can refuse it")
{
    upd_tree_hooks h = { veto, NULL, "cookie" };
    cr_assert_eq(upd_tree_set_hooks(t, "./Cfg/Level", &h), 0);
    cr_expect_eq(upd_tree_replace(t, "./Cfg/Level", -1, "bad", 3), 415);  /* format first */
    cr_assert_eq(upd_tree_set(t, "./Cfg/Name", UPD_TREE_CHR, UPD_TREE_GET | UPD_TREE_REPLACE,
                              NULL, "a", 1), 0);
    cr_assert_eq(upd_tree_set_hooks(t, "./Cfg/Name", &h), 0);
    cr_expect_eq(upd_tree_replace(t, "./Cfg/Name", -1, "bad", 3), 403);
    expect_get("./Cfg/Name", "a", UPD_TREE_CHR);
    cr_expect_eq(upd_tree_replace(t, "./Cfg/Name", -1, "good", 4), 200);
    expect_get("./Cfg/Name", "good", UPD_TREE_CHR);
    cr_expect_eq(veto_calls, 2);
    cr_expect_eq(upd_tree_set_hooks(t, "./Nope", &h), UPD_E_DM_NODE);
}

Test(tree, add, .description = "Add: 200 new leaf/node under an Add-able parent, 418 exists, 404 no parent, 405 parent refuses")
{
    cr_expect_eq(upd_tree_add(t, "./Cfg/New", UPD_TREE_CHR, "v", 1), 200);
    expect_get("./Cfg/New", "v", UPD_TREE_CHR);
    cr_expect_eq(upd_tree_add(t, "./Cfg/New", UPD_TREE_CHR, "w", 1), 418);
    cr_expect_eq(upd_tree_add(t, "./Cfg/Sub", UPD_TREE_NODE, NULL, 0), 200);
    cr_expect_eq(upd_tree_add(t, "./Cfg/Sub/Leaf", UPD_TREE_INT, "1", 1), 200);
    expect_get("./Cfg", "Level/New/Sub", UPD_TREE_NODE);
    cr_expect_eq(upd_tree_add(t, "./Cfg/Miss/Leaf", UPD_TREE_CHR, "1", 1), 404);
    cr_expect_eq(upd_tree_add(t, "./DevInfo/Extra", UPD_TREE_CHR, "1", 1), 405);
    cr_expect_eq(upd_tree_add(t, "./Cfg/Level/Under", UPD_TREE_CHR, "1", 1), 405);
    cr_expect_eq(upd_tree_add(t, "./Cfg/BadInt", UPD_TREE_INT, "one", 3), 415);
    cr_expect_eq(upd_tree_add(t, "./Cfg/BadFmt", 99, "1", 1), 415);
    /* a server-added node is the server's: it may replace and delete it */
    cr_expect_eq(upd_tree_replace(t, "./Cfg/New", -1, "z", 1), 200);
    cr_expect_eq(upd_tree_delete(t, "./Cfg/New"), 200);
}

Test(tree, delete, .description = "Delete: removes the subtree; 405 without the right or on the root; 404")
{
    cr_expect_eq(upd_tree_add(t, "./Cfg/Sub", UPD_TREE_NODE, NULL, 0), 200);
    cr_expect_eq(upd_tree_add(t, "./Cfg/Sub/Leaf", UPD_TREE_CHR, "1", 1), 200);
    cr_expect_eq(upd_tree_delete(t, "./Cfg/Sub"), 200);
    upd_tree_result r = { 0 };
    cr_expect_eq(upd_tree_get(t, "./Cfg/Sub/Leaf", &r), 404);
    cr_expect_eq(upd_tree_delete(t, "./Cfg/Sub"), 404);
    cr_expect_eq(upd_tree_delete(t, "./DevInfo/DevId"), 405);
    cr_expect_eq(upd_tree_delete(t, "."), 405);
    cr_expect_eq(upd_tree_delete(t, "./Cfg/Level"), 200);
    expect_get("./Cfg", "", UPD_TREE_NODE);
}

static int exec_status;
static char exec_seen[64];
static int on_exec(void *user, const char *uri, const void *data, size_t len, const char *corr)
{
    (void)user;
    snprintf(exec_seen, sizeof exec_seen, "%s|%.*s|%s", uri, (int)len, (const char *)data,
             corr ? corr : "-");
    return exec_status;
}

Test(tree, exec, .description = "Exec: the hook's status and arguments; 405 without the right or hook; 404")
{
    cr_assert_eq(upd_tree_set(t, "./Op", UPD_TREE_NODE, UPD_TREE_GET | UPD_TREE_EXEC, NULL, NULL, 0), 0);
    cr_expect_eq(upd_tree_exec(t, "./Op", NULL, 0, NULL), 405);   /* no hook yet */
    upd_tree_hooks h = { NULL, on_exec, NULL };
    cr_assert_eq(upd_tree_set_hooks(t, "./Op", &h), 0);
    exec_status = 202;
    cr_expect_eq(upd_tree_exec(t, "./Op", "arg", 3, "c1"), 202);
    cr_expect_str_eq(exec_seen, "./Op|arg|c1");
    exec_status = 500;
    cr_expect_eq(upd_tree_exec(t, "Op", NULL, 0, NULL), 500);
    cr_expect_str_eq(exec_seen, "Op||-");
    cr_expect_eq(upd_tree_exec(t, "./DevInfo", NULL, 0, NULL), 405);
    cr_expect_eq(upd_tree_exec(t, "./Nope", NULL, 0, NULL), 404);
}

Test(tree, device_side, .description = "set/value bypass rights; set refuses a leaf on the way or a leaf over children")
{
    const char *v;
    size_t n;
    cr_assert_eq(upd_tree_value(t, "./DevInfo/DevId", &v, &n), 0);
    cr_expect_str_eq(v, "IMEI:1");
    cr_expect_eq(upd_tree_value(t, "./DevInfo", &v, &n), UPD_E_DM_NODE);
    cr_expect_eq(upd_tree_value(t, "./None", &v, &n), UPD_E_DM_NODE);
    cr_expect_eq(upd_tree_set(t, "./DevInfo/DevId/X", UPD_TREE_CHR, 0, NULL, "1", 1), UPD_E_INVAL);
    cr_expect_eq(upd_tree_set(t, "./DevInfo", UPD_TREE_CHR, 0, NULL, "1", 1), UPD_E_INVAL);
    cr_expect_eq(upd_tree_set(t, "a//b", UPD_TREE_CHR, 0, NULL, "1", 1), UPD_E_INVAL);
    cr_assert_eq(upd_tree_set(t, "./DevInfo/Lang", UPD_TREE_CHR, UPD_TREE_GET, "text/x", "en", 2), 0);
    upd_tree_result r = { 0 };
    cr_assert_eq(upd_tree_get(t, "./DevInfo/Lang", &r), 200);
    cr_expect_str_eq(r.type, "text/x");
    upd_tree_result_free(&r);
}

Test(tree, formats, .description = "format names round-trip; b64 is bin; unknown is -1")
{
    for (int f = UPD_TREE_NODE; f <= UPD_TREE_BOOL; f++)
        cr_expect_eq(upd_tree_format_parse(upd_tree_format_name((upd_tree_format)f)), f);
    cr_expect_eq(upd_tree_format_parse("b64"), UPD_TREE_BIN);
    cr_expect_eq(upd_tree_format_parse("xml"), -1);
    cr_expect_eq(upd_tree_format_parse(NULL), -1);
    cr_assert_eq(upd_tree_set(t, "./B", UPD_TREE_BOOL, UPD_TREE_GET | UPD_TREE_REPLACE, NULL, "true", 4), 0);
    cr_expect_eq(upd_tree_replace(t, "./B", -1, "yes", 3), 415);
    cr_expect_eq(upd_tree_replace(t, "./B", -1, "false", 5), 200);
}
