// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include "control.h"
#include "log.h"

#define REQUEST_MAX 128

/* One client: its request as it arrives, then the answer as it leaves. */
struct client {
	struct io io;
	struct control *ctl;
	char request[REQUEST_MAX];
	size_t request_len;
	char *answer;
	size_t answer_len, answer_off;
};

static void client_free(struct client *cl)
{
	io_del(cl->ctl->loop, &cl->io);
	close(cl->io.fd);
	free(cl->answer);
	free(cl);
}

static void answer(struct client *cl, const char *line)
{
	char command[REQUEST_MAX], *space;
	struct control *ctl = cl->ctl;
	size_t body_len = 0;
	char *body = NULL;
	FILE *out;
	int json, ret;

	snprintf(command, sizeof(command), "%s", line);
	space = strchr(command, ' ');
	json = space && !strcmp(space + 1, "json");
	if (space)
		*space = '\0';
	out = open_memstream(&body, &body_len);
	if (!out) {
		client_free(cl);
		return;
	}
	ret = ctl->handle(ctl->ctx, command, json, out);
	fclose(out);
	if (asprintf(&cl->answer, "%s%s", ret ? "error: " : "ok\n", body ? body : "") < 0)
		cl->answer = NULL;
	free(body);
	if (!cl->answer) {
		client_free(cl);
		return;
	}
	cl->answer_len = strlen(cl->answer);
	io_set(ctl->loop, &cl->io, EPOLLOUT);
}

static void on_client(struct loop *loop, struct io *io, uint32_t events)
{
	struct client *cl = io->ctx;
	char *newline;
	ssize_t n;

	if (cl->answer) {
		n = send(io->fd, cl->answer + cl->answer_off, cl->answer_len - cl->answer_off,
			 MSG_NOSIGNAL);
		if (n > 0)
			cl->answer_off += (size_t)n;
		if ((n < 0 && errno != EAGAIN) || cl->answer_off == cl->answer_len)
			client_free(cl);
		return;
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	n = read(io->fd, cl->request + cl->request_len, sizeof(cl->request) - 1 - cl->request_len);
	if (n <= 0) {
		if (n == 0 || errno != EAGAIN)
			client_free(cl);
		return;
	}
	cl->request_len += (size_t)n;
	cl->request[cl->request_len] = '\0';
	newline = strchr(cl->request, '\n');
	if (newline && !strncmp(cl->request, "takeover ", 9) && cl->ctl->takeover) {
		struct control *ctl = cl->ctl;
		int fd = io->fd;

		*newline = '\0';
		io_del(loop, io);
		/* The request line is all a new daemon sends before our hello. */
		ctl->takeover(ctl->ctx, fd, cl->request + 9);
		free(cl);
		return;
	}
	if (newline) {
		*newline = '\0';
		answer(cl, cl->request);
	} else if (cl->request_len == sizeof(cl->request) - 1) {
		client_free(cl); /* no command is that long */
	}
}

static void on_listener(struct loop *loop, struct io *io, uint32_t events)
{
	struct control *ctl = io->ctx;
	struct client *cl;
	int fd;

	(void)events;
	fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	cl = calloc(1, sizeof(*cl));
	if (!cl || io_add(loop, &cl->io, fd, EPOLLIN, on_client, cl)) {
		free(cl);
		close(fd);
		return;
	}
	cl->ctl = ctl;
}

static int socket_path(const char *instance, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if ((size_t)snprintf(sun->sun_path, sizeof(sun->sun_path), "%s/%s.sock", CONTROL_DIR,
			     instance) >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	return 0;
}

static int connect_to(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sun, sizeof(*sun))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int control_open(struct control *ctl, struct loop *loop, const char *instance)
{
	struct sockaddr_un sun;
	int fd, err;

	ctl->loop = loop;
	ctl->listener.fd = -1;
	err = socket_path(instance, &sun);
	if (err)
		return err;
	if (mkdir(CONTROL_DIR, 0755) && errno != EEXIST)
		return -errno;
	fd = connect_to(&sun);
	if (fd >= 0) {
		close(fd);
		return -EADDRINUSE; /* a live daemon of this instance answers */
	}
	unlink(sun.sun_path); /* left by a killed one */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Root only: reload and the connection list are not for everyone. */
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) || chmod(sun.sun_path, 0600) ||
	    listen(fd, 16)) {
		err = -errno;
		close(fd);
		return err;
	}
	snprintf(ctl->path, sizeof(ctl->path), "%s", sun.sun_path);
	err = io_add(loop, &ctl->listener, fd, EPOLLIN, on_listener, ctl);
	if (err) {
		close(fd);
		unlink(ctl->path);
		ctl->listener.fd = -1;
	}
	return err;
}

int control_listen_fd(const struct control *ctl)
{
	return ctl->listener.fd;
}

void control_release(struct control *ctl)
{
	ctl->path[0] = '\0';
	control_close(ctl);
}

int control_adopt(struct control *ctl, struct loop *loop, const char *instance, int fd)
{
	struct sockaddr_un sun;
	int err;

	ctl->loop = loop;
	err = socket_path(instance, &sun);
	if (err)
		return err;
	snprintf(ctl->path, sizeof(ctl->path), "%s", sun.sun_path);
	err = io_add(loop, &ctl->listener, fd, EPOLLIN, on_listener, ctl);
	if (err)
		ctl->listener.fd = -1;
	return err;
}

int control_takeover_connect(const char *instance, int version)
{
	struct sockaddr_un sun;
	char line[32];
	int fd, err;

	err = socket_path(instance, &sun);
	if (err)
		return err;
	fd = connect_to(&sun);
	if (fd < 0)
		return fd;
	snprintf(line, sizeof(line), "takeover %d\n", version);
	if (write(fd, line, strlen(line)) != (ssize_t)strlen(line)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

void control_close(struct control *ctl)
{
	if (ctl->listener.fd < 0)
		return;
	io_del(ctl->loop, &ctl->listener);
	close(ctl->listener.fd);
	ctl->listener.fd = -1;
	if (ctl->path[0])
		unlink(ctl->path);
}

static int print_answer(int fd)
{
	char buf[65536];
	size_t have = 0;
	int first = 1, is_error = 0;
	ssize_t n;

	while ((n = read(fd, buf + have, sizeof(buf) - 1 - have)) > 0) {
		char *body = buf;

		have += (size_t)n;
		buf[have] = '\0';
		if (first) {
			if (!strncmp(buf, "error: ", 7)) {
				is_error = 1;
				body = buf + 7;
			} else if (!strncmp(buf, "ok\n", 3)) {
				body = buf + 3;
			} else if (have < 7) {
				continue; /* the status line is not all there yet */
			}
			first = 0;
		}
		fputs(body, is_error ? stderr : stdout);
		have = 0;
	}
	if (first || n < 0) {
		fprintf(stderr, "cutthru: no answer from the daemon\n");
		return 2;
	}
	return is_error;
}

int control_request_quiet(const char *instance)
{
	struct sockaddr_un sun;
	int fd;

	if (socket_path(instance, &sun))
		return -ENAMETOOLONG;
	fd = connect_to(&sun);
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

int control_request(const char *instance, const char *command, int json)
{
	struct sockaddr_un sun;
	char line[REQUEST_MAX];
	int fd, ret;

	if (socket_path(instance, &sun))
		return 2;
	fd = connect_to(&sun);
	if (fd < 0) {
		fprintf(stderr, "cutthru: no daemon of instance '%s' answers at %s: %s\n", instance,
			sun.sun_path, strerror(-fd));
		return 2;
	}
	snprintf(line, sizeof(line), "%s%s\n", command, json ? " json" : "");
	if (write(fd, line, strlen(line)) != (ssize_t)strlen(line)) {
		fprintf(stderr, "cutthru: writing to %s: %s\n", sun.sun_path, strerror(errno));
		close(fd);
		return 2;
	}
	ret = print_answer(fd);
	close(fd);
	return ret;
}
