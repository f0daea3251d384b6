/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Readiness, reload and stop notifications to systemd (sd_notify). Each is
 * a no-op when $NOTIFY_SOCKET is not set, i.e. not started by systemd with
 * Type=notify. */
#ifndef CUTTHRU_NOTIFY_H
#define CUTTHRU_NOTIFY_H

/* Set-up is done and the listeners accept: "READY=1", status as STATUS=. */
void notify_ready(const char *status);
/* A reload starts ("RELOADING=1"); notify_reloaded() when it is over,
 * whether the new configuration was taken or refused. */
void notify_reloading(void);
void notify_reloaded(const char *status);
/* Zero-downtime restart under systemd: the old main process names its
 * successor ("MAINPID=" the new pid) before it exits; the successor,
 * ready, names itself with READY=1 (accepted once it is the main process,
 * or at once with NotifyAccess=all). */
void notify_main_pid(int pid);
void notify_ready_as_main(const char *status);
/* Shutdown starts: "STOPPING=1". */
void notify_stopping(void);

#endif
