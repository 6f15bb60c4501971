/* libFuzzer target: arbitrary bytes as a package, applied in place to a
 * small in-memory image, in pieces whose sizes the input also picks.  The
 * applier must refuse or succeed without any memory error, and never write
 * past the image.  (The signature check does not exist yet; once it does,
 * this target bypasses it through the fuzz-only hook of the fuzzing issue.) */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <updelta/updelta.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t old_img[4096];
    for (size_t i = 0; i < sizeof old_img; i++)
        old_img[i] = (uint8_t)(i * 31 + 7);
    if (size < 1)
        return 0;
    size_t piece = 1 + data[0] % 97;
    data++;
    size--;
    upd_io *t = NULL;
    if (upd_io_open_mem(&t, old_img, sizeof old_img, 1u << 20) < 0)
        return 0;
    upd_apply_params p = { .target = t, .window = 4u << 20 };
    upd_applier *a = NULL;
    int rc = upd_applier_create(&a, &p);
    for (size_t off = 0; !rc && off < size; off += piece)
        rc = upd_applier_push(a, data + off, size - off < piece ? size - off : piece);
    if (!rc)
        upd_applier_finish(a);
    upd_applier_free(a);
    upd_io_close(t);
    return 0;
}
