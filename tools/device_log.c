/* updelta-device logging: one timestamped line per step, to stderr and,
 * when configured, appended to the log file. */
#define _POSIX_C_SOURCE 200809L
#include "device.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_fd = -1;

void dev_log_open(const char *path)
{
    if (path)
        log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

void dev_log(const char *fmt, ...)
{
    char line[1024];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = (int)strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    n += snprintf(line + n, sizeof line - (size_t)n, ".%03ldZ updelta-device[%d]: ",
                  ts.tv_nsec / 1000000, (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    n = m < 0 ? n : (n + m < (int)sizeof line - 1 ? n + m : (int)sizeof line - 2);
    line[n++] = '\n';
    /* one write per line: lines from a killed and a restarted process never interleave */
    (void)!write(STDERR_FILENO, line, (size_t)n);
    if (log_fd >= 0)
        (void)!write(log_fd, line, (size_t)n);
}

void dev_log_line(void *user, const char *line)
{
    (void)user;
    dev_log("dm: %s", line);
}
