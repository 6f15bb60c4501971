/*
 * updelta: delta-install engine for over-the-air firmware updates.
 *
 * One header per layer, lowest first:
 *   common.h   error codes (upd_err, upd_strerror), progress callback, version
 *   io.h       image I/O: batched requests, flush barriers, POSIX and memory backends
 *   format.h   delta package format v1: header, manifest, auth block, operations
 *   trust.h    Ed25519 keys, keyrings, package signatures, version order
 *   diff.h     generator: old + new image -> package
 *   apply.h    streaming applier: package -> image, in place or out of place
 *   journal.h  power-fail journal of an in-place apply: status
 * Programs include this file, or just the layers they use.
 */
#ifndef UPDELTA_H
#define UPDELTA_H

#include "common.h"
#include "io.h"
#include "format.h"
#include "trust.h"
#include "diff.h"
#include "apply.h"
#include "journal.h"

#endif /* UPDELTA_H */
