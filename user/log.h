/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* One line per event on stderr, with a syslog-style level prefix that
 * journald understands ("<3>" error ... "<7>" debug). */
#ifndef CUTTHRU_LOG_H
#define CUTTHRU_LOG_H

enum log_level {
	LOG_LVL_ERR = 3,
	LOG_LVL_WARN = 4,
	LOG_LVL_NOTICE = 5, /* life-cycle lines --quiet keeps: ready, stopping */
	LOG_LVL_INFO = 6,
	LOG_LVL_DEBUG = 7,
};

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define pr_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define pr_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define pr_notice(...) log_msg(LOG_LVL_NOTICE, __VA_ARGS__)
#define pr_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define pr_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
