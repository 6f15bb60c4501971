/* dm_tool: the codec from the shell, for dm_wbxml_test.sh (the libwbxml
 * tools cross-check) and for regenerating the golden files in tests/dm/.
 *
 *   dm_tool sample NAME xml|wbxml       write sample NAME (dm_samples.c)
 *   dm_tool parse xml|wbxml FILE        parse FILE, write it back as XML
 *
 * Output goes to stdout; a parse error prints its code and reason to
 * stderr and exits 2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_samples.h"

static int encoding(const char *s)
{
    return strcmp(s, "xml") == 0 ? UPD_DM_XML : strcmp(s, "wbxml") == 0 ? UPD_DM_WBXML : 0;
}

static int emit(const upd_dm_msg *m, int enc)
{
    uint8_t *out;
    size_t len;
    int rc = upd_dm_write(m, enc, &out, &len);
    if (rc < 0) {
        fprintf(stderr, "dm_tool: write: %s\n", upd_errname(rc));
        return 2;
    }
    int ok = fwrite(out, 1, len, stdout) == len;
    free(out);
    return ok ? 0 : 1;
}

static int parse_file(int enc, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    static uint8_t buf[4u << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    upd_dm_msg *m;
    char why[160];
    int rc = upd_dm_parse(buf, n, enc, NULL, &m, why, sizeof why);
    if (rc < 0) {
        fprintf(stderr, "dm_tool: %s: %s: %s\n", path, upd_errname(rc), why);
        return 2;
    }
    rc = emit(m, UPD_DM_XML);
    upd_dm_msg_free(m);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "sample") == 0 && encoding(argv[3])) {
        for (size_t i = 0; i < DM_SAMPLE_COUNT; i++) {
            if (strcmp(dm_sample_name(i), argv[2]) == 0) {
                upd_dm_msg *m = dm_sample(i);
                int rc = emit(m, encoding(argv[3]));
                upd_dm_msg_free(m);
                return rc;
            }
        }
    }
    if (argc == 4 && strcmp(argv[1], "parse") == 0 && encoding(argv[2]))
        return parse_file(encoding(argv[2]), argv[3]);
    fprintf(stderr, "usage: dm_tool sample NAME xml|wbxml | dm_tool parse xml|wbxml FILE\n");
    return 1;
}
