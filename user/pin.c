// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include "pin.h"

int pin_dir(const char *bpffs, const char *instance, char *buf, size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/cutthru/%s", bpffs, instance) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static int is_bpffs(const char *path)
{
	struct statfs st;

	return !statfs(path, &st) && st.f_type == BPF_FS_MAGIC;
}

int pin_prepare(const char *bpffs, const char *dir, char *why, size_t len)
{
	char parent[512];

	if (!is_bpffs(bpffs) && mount("bpf", bpffs, "bpf", 0, "mode=0700")) {
		snprintf(why, len, "mounting bpffs at %s: %s", bpffs, strerror(errno));
		return -errno;
	}
	snprintf(parent, sizeof(parent), "%s/cutthru", bpffs);
	if ((mkdir(parent, 0700) && errno != EEXIST) || (mkdir(dir, 0700) && errno != EEXIST)) {
		snprintf(why, len, "making %s: %s", dir, strerror(errno));
		return -errno;
	}
	return 0;
}

int pin_remove(const char *dir)
{
	char path[768];
	struct dirent *de;
	int count = 0;
	DIR *d;

	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (!unlink(path))
			count++;
	}
	closedir(d);
	rmdir(dir);
	return count;
}
