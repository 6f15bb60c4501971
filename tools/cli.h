/* Shared pieces of the updelta command-line tool. */
#ifndef UPD_CLI_H
#define UPD_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <updelta/updelta.h>

typedef struct {
    int quiet, verbose, json;
} cli_opts;

/* Progress bar on stderr when it is a terminal and not quiet. */
typedef struct {
    int      on;
    int      phase;
    double   t_start, t_last;
} cli_progress;

void cli_progress_init(cli_progress *p, const cli_opts *o);
void cli_progress_cb(void *user, int phase, uint64_t done, uint64_t total);
void cli_progress_end(cli_progress *p);

/* Parse "123", "64K", "16M", "2G"; -1 on error. */
int cli_parse_size(const char *s, uint64_t *out);
/* Read a whole file into memory (malloc'd); 0 or -1 with errno. */
int cli_read_file(const char *path, uint8_t **data, size_t *len);
/* Report a library error on stderr: "updelta: CONTEXT: text (NAME)". */
int cli_fail(const char *context, int code);
/* "1,234,567" */
const char *cli_num(uint64_t v, char buf[32]);

int cmd_diff(int argc, char **argv);
int cmd_apply(int argc, char **argv);
int cmd_inspect(int argc, char **argv);

#endif
