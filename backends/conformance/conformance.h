/* The conformance probe of a device executor (conformance.c), compiled into each plugin. */
#ifndef ADEAD_CONFORMANCE_H
#define ADEAD_CONFORMANCE_H

#include <stddef.h>

#include "../../include/adeadvm_exec.h"

/* Runs every kernel on d through q on edge inputs and compares the bits with the reference: 0
 * when they are equal, else -1 with the first difference (or failure) in why. */
int conformance_probe(adead_exec_device *d, adead_exec_queue *q, char *why, size_t whylen);

#endif
