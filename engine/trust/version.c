/* Version order for anti-rollback: dpkg's algorithm (deb-version(7)),
 * because firmware and package versions mix numbers, letters and
 * separators, and "~" is the common way to mark a pre-release. */
#include "updelta/trust.h"

#include <ctype.h>

/* Weight of one non-digit character: '~' lowest (below the end of the
 * string, weight 0), then letters, then everything else. */
static int order(int c)
{
    if (c == '~')
        return -1;
    if (isalpha(c))
        return c;
    return c + 256;
}

int upd_version_cmp(const char *a, const char *b)
{
    const unsigned char *p = (const unsigned char *)(a ? a : "");
    const unsigned char *q = (const unsigned char *)(b ? b : "");
    while (*p || *q) {
        while ((*p && !isdigit(*p)) || (*q && !isdigit(*q))) {
            int wp = *p && !isdigit(*p) ? order(*p) : 0;
            int wq = *q && !isdigit(*q) ? order(*q) : 0;
            if (wp != wq)
                return wp < wq ? -1 : 1;
            p++;
            q++;
        }
        while (*p == '0')
            p++;
        while (*q == '0')
            q++;
        int first = 0;
        while (isdigit(*p) && isdigit(*q)) {
            if (!first)
                first = *p - *q;
            p++;
            q++;
        }
        if (isdigit(*p))
            return 1;
        if (isdigit(*q))
            return -1;
        if (first)
            return first < 0 ? -1 : 1;
    }
    return 0;
}
