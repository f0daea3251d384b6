// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>
#include "log.h"
#include "notify.h"

/*
 * $NOTIFY_SOCKET is left in the environment (unset_environment = 0): the
 * later RELOADING=1 and STOPPING=1 need it. A failure is a warning, never
 * fatal: without READY=1 the service manager times the start out, which
 * says enough.
 */
static void notify(const char *what, int rc)
{
	if (rc < 0)
		pr_warn("telling systemd %s failed: %s", what, strerror(-rc));
}

void notify_ready(const char *status)
{
	notify("ready", sd_notifyf(0, "READY=1\nSTATUS=%s", status ? status : "ready"));
}

/* systemd >= 253 (Type=notify-reload) wants the time the reload started,
 * CLOCK_MONOTONIC in microseconds; older ones ignore it. */
void notify_reloading(void)
{
	struct timespec now;
	unsigned long long usec = 0;

	if (!clock_gettime(CLOCK_MONOTONIC, &now))
		usec = (unsigned long long)now.tv_sec * 1000000ULL +
		       (unsigned long long)now.tv_nsec / 1000;
	notify("reloading",
	       sd_notifyf(0, "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=%llu", usec));
}

void notify_reloaded(const char *status)
{
	notify("reloaded", sd_notifyf(0, "READY=1\nSTATUS=%s", status ? status : "ready"));
}

void notify_main_pid(int pid)
{
	notify("the new main process", sd_notifyf(0, "MAINPID=%d", pid));
}

void notify_ready_as_main(const char *status)
{
	notify("ready", sd_notifyf(0, "MAINPID=%d\nREADY=1\nSTATUS=%s", (int)getpid(),
				   status ? status : "ready"));
}

void notify_stopping(void)
{
	notify("stopping", sd_notify(0, "STOPPING=1\nSTATUS=stopping"));
}
