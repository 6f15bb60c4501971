/* Durable small files: temporary file, fsync, rename, directory fsync. */
#define _POSIX_C_SOURCE 200809L
#include "afile.h"

#include "updelta/common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return UPD_E_IO_WRITE;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

void upd_afile_dir_of(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(out, cap, ".");
    else if (slash == path)
        snprintf(out, cap, "/");
    else
        snprintf(out, cap, "%.*s", (int)(slash - path), path);
}

static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return UPD_E_IO_OPEN;
    int rc = fsync(fd) == 0 ? 0 : UPD_E_IO_FLUSH;
    close(fd);
    return rc;
}

int upd_afile_sync_dir_of(const char *path)
{
    char dir[4096];
    upd_afile_dir_of(path, dir, sizeof dir);
    return sync_dir(dir);
}

static int crash(int (*crash_at)(void *, int), void *user, int step)
{
    return crash_at && crash_at(user, step);
}

int upd_afile_write(const char *dir, const char *name, const void *data, size_t len,
                    int (*crash_at)(void *user, int step), void *user)
{
    if (!dir || !name || (len && !data) || strchr(name, '/'))
        return UPD_E_INVAL;
    char path[4096], tmp[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path
        || (size_t)snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name) >= sizeof tmp)
        return UPD_E_INVAL;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return UPD_E_IO_OPEN;
    int rc = 0, crashed = 0;
    if (crash(crash_at, user, UPD_AFILE_STEP_TEMP_WRITE)) {
        (void)write_all(fd, data, len / 2);
        crashed = 1;
    } else if ((rc = write_all(fd, data, len)) == 0) {
        if (crash(crash_at, user, UPD_AFILE_STEP_TEMP_SYNC))
            crashed = 1;
        else if (fsync(fd) != 0)
            rc = UPD_E_IO_FLUSH;
    }
    close(fd);
    if (rc == 0 && !crashed && crash(crash_at, user, UPD_AFILE_STEP_RENAME))
        crashed = 1;
    if (crashed)
        return UPD_E_IO_WRITE;   /* left exactly as a kill would leave it */
    if (rc < 0) {
        unlink(tmp);
        return rc;
    }
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        return UPD_E_IO_WRITE;
    }
    if (crash(crash_at, user, UPD_AFILE_STEP_DIR_SYNC))
        return UPD_E_IO_WRITE;
    return sync_dir(dir);
}
