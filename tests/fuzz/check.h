/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* A property the parsers' fuzzers hold: on failure, name it and abort, so
 * libFuzzer keeps the input. */
#ifndef CUTTHRU_FUZZ_CHECK_H
#define CUTTHRU_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                         \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                     \
			abort();                                                            \
		}                                                                           \
	} while (0)

#endif
