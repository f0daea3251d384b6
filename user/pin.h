/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Pinned state: the intercepting controller's maps live in
 * <bpffs>/cutthru/<instance>/ (bpftool map dump pinned ... reads them with
 * their field names), so a restarted daemon finds its counters, logins and
 * blocks again; cutthru detach removes them.
 */
#ifndef CUTTHRU_PIN_H
#define CUTTHRU_PIN_H

#include <stddef.h>

#define DEFAULT_BPFFS "/sys/fs/bpf"

/* "<bpffs>/cutthru/<instance>"; -ENAMETOOLONG if it does not fit. */
int pin_dir(const char *bpffs, const char *instance, char *buf, size_t len);
/* Mounts bpffs at bpffs if it is not one yet (a private mount namespace,
 * as under ip netns exec, has none), and makes dir. */
int pin_prepare(const char *bpffs, const char *dir, char *why, size_t len);
/* Unpins everything in dir and removes it. Returns how many pins went. */
int pin_remove(const char *dir);

#endif
