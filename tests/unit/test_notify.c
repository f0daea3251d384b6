// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unit tests of user/notify.c: what systemd would receive on
 * $NOTIFY_SOCKET, read from a datagram socket of the test's own, and
 * silence without $NOTIFY_SOCKET.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "log.h"
#include "notify.h"

struct fixture {
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static int setup(void **state)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	snprintf(fx->path, sizeof(fx->path), "/tmp/cutthru-test-notify.%d", getpid());
	unlink(fx->path);
	strcpy(sun.sun_path, fx->path);
	fx->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fx->fd < 0 || bind(fx->fd, (struct sockaddr *)&sun, sizeof(sun)))
		return -1;
	setenv("NOTIFY_SOCKET", fx->path, 1);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	unsetenv("NOTIFY_SOCKET");
	close(fx->fd);
	unlink(fx->path);
	free(fx);
	return 0;
}

/* The next datagram, within 1 s; "" when none came. */
static void receive(struct fixture *fx, char *buf, size_t len, int timeout_ms)
{
	struct pollfd pfd = { .fd = fx->fd, .events = POLLIN };
	ssize_t n = 0;

	buf[0] = '\0';
	if (poll(&pfd, 1, timeout_ms) == 1)
		n = recv(fx->fd, buf, len - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
}

/* Whether line (e.g. "READY=1") is one of the message's lines. */
static int has_line(const char *msg, const char *line)
{
	size_t len = strlen(line);
	const char *p = msg;

	while ((p = strstr(p, line))) {
		if ((p == msg || p[-1] == '\n') && (p[len] == '\n' || p[len] == '\0'))
			return 1;
		p += len;
	}
	return 0;
}

static void test_ready_carries_status(void **state)
{
	struct fixture *fx = *state;
	char msg[512];

	notify_ready("2 interface(s), 3 service(s)");
	receive(fx, msg, sizeof(msg), 1000);
	assert_true(has_line(msg, "READY=1"));
	assert_true(has_line(msg, "STATUS=2 interface(s), 3 service(s)"));
	/* $NOTIFY_SOCKET stays for the notifications that follow. */
	assert_non_null(getenv("NOTIFY_SOCKET"));
}

static void test_reload_is_reloading_then_ready(void **state)
{
	struct fixture *fx = *state;
	unsigned long long usec = 0;
	char msg[512];
	const char *m;

	notify_reloading();
	receive(fx, msg, sizeof(msg), 1000);
	assert_true(has_line(msg, "RELOADING=1"));
	assert_false(has_line(msg, "READY=1"));
	m = strstr(msg, "MONOTONIC_USEC=");
	assert_non_null(m);
	assert_int_equal(sscanf(m, "MONOTONIC_USEC=%llu", &usec), 1);
	assert_true(usec > 0);

	notify_reloaded("reloaded");
	receive(fx, msg, sizeof(msg), 1000);
	assert_true(has_line(msg, "READY=1"));
	assert_true(has_line(msg, "STATUS=reloaded"));
	assert_false(has_line(msg, "RELOADING=1"));
}

static void test_stopping(void **state)
{
	struct fixture *fx = *state;
	char msg[512];

	notify_stopping();
	receive(fx, msg, sizeof(msg), 1000);
	assert_true(has_line(msg, "STOPPING=1"));
	assert_false(has_line(msg, "READY=1"));
}

/* A restart in place: the old main process names the new one, which then
 * names itself along with READY=1. */
static void test_main_pid_handover(void **state)
{
	struct fixture *fx = *state;
	char msg[512], want[64];

	notify_main_pid(4242);
	receive(fx, msg, sizeof(msg), 1000);
	assert_string_equal(msg, "MAINPID=4242");

	notify_ready_as_main("serving");
	receive(fx, msg, sizeof(msg), 1000);
	snprintf(want, sizeof(want), "MAINPID=%d", (int)getpid());
	assert_true(has_line(msg, want));
	assert_true(has_line(msg, "READY=1"));
	assert_true(has_line(msg, "STATUS=serving"));
}

/* Not started by systemd: nothing is sent anywhere, nothing fails. */
static void test_silent_without_notify_socket(void **state)
{
	struct fixture *fx = *state;
	char msg[512];

	unsetenv("NOTIFY_SOCKET");
	notify_ready("x");
	notify_reloading();
	notify_reloaded(NULL);
	notify_stopping();
	notify_main_pid(4242);
	notify_ready_as_main(NULL);
	receive(fx, msg, sizeof(msg), 100);
	assert_string_equal(msg, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ready_carries_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_is_reloading_then_ready, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stopping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_main_pid_handover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_silent_without_notify_socket, setup, teardown),
	};

	log_set_level(LOG_LVL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
