/* Backend-side access to a handle (engine-internal). */
#ifndef UPD_IO_INTERNAL_H
#define UPD_IO_INTERNAL_H

#include "updelta/io.h"

/* The backend context of IO when its methods are M, else NULL. */
void *upd_io_backend_ctx(const upd_io *io, const upd_io_methods *m);

#endif
