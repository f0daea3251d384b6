// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Bulk TCP both ways at once, every received byte checked at its offset.
 *
 *   streamcheck server ADDR PORT BYTES_UP BYTES_DOWN
 *   streamcheck client ADDR PORT BYTES_UP BYTES_DOWN CONNECTIONS [PARALLEL]
 *
 * Each direction of connection i is a stream whose byte at offset o is a
 * function of (i, direction, o) with no repeat in any window that matters,
 * so a wrong byte tells where it came from: "repeat" with the distance back
 * to the bytes it copies, or "skip". One line per connection that went
 * wrong (first difference only), then a summary line on stdout:
 *   connections=N bad=M
 * The client sends its connection number first (8 bytes, not counted).
 * Exit status 0 when every stream arrived whole, 1 when one did not, 2 on a
 * setup error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define IO_CHUNK (256u << 10)
#define SEARCH_BACK (8u << 20)
#define PROBE 64
#define IO_TIMEOUT_MS 60000

struct stream {
	uint64_t id; /* connection number << 1 | direction */
};

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint8_t stream_byte(const struct stream *s, uint64_t off)
{
	return (uint8_t)(mix(s->id * 0x100000001b3ull ^ (off >> 3)) >> (8 * (off & 7)));
}

static void stream_fill(const struct stream *s, uint64_t off, uint8_t *buf, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		buf[i] = stream_byte(s, off + i);
}

struct side {
	int fd;
	struct stream out, in;
	uint64_t bytes_out, bytes_in;
	uint64_t conn;
	const char *who;
	int bad;
	int err;
};

static int wait_fd(int fd, short events)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int r = poll(&pfd, 1, IO_TIMEOUT_MS);

	return r == 1 ? 0 : r == 0 ? -ETIMEDOUT : -errno;
}

static void *sender(void *arg)
{
	struct side *sd = arg;
	uint8_t *buf = malloc(IO_CHUNK);
	uint64_t off = 0;

	while (buf && off < sd->bytes_out) {
		size_t n = sd->bytes_out - off < IO_CHUNK ? sd->bytes_out - off : IO_CHUNK;
		size_t done = 0;

		stream_fill(&sd->out, off, buf, n);
		while (done < n) {
			ssize_t w = send(sd->fd, buf + done, n - done, MSG_NOSIGNAL);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				sd->err = errno;
				goto out;
			}
			done += (size_t)w;
		}
		off += n;
	}
	shutdown(sd->fd, SHUT_WR);
out:
	free(buf);
	return NULL;
}

/* Where the PROBE bytes at got come from, searching back from off. */
static void explain(struct side *sd, uint64_t off, const uint8_t *got, size_t have)
{
	uint64_t from = off > SEARCH_BACK ? off - SEARCH_BACK : 0;
	size_t span = (size_t)(off - from) + SEARCH_BACK;
	uint8_t *ref = malloc(span + PROBE);
	size_t probe = have < PROBE ? have : PROBE;
	void *hit = NULL;

	if (ref) {
		stream_fill(&sd->in, from, ref, span + PROBE);
		hit = memmem(ref, span + PROBE, got, probe);
	}
	if (!hit)
		printf("%s conn=%llu offset=%llu unknown bytes\n", sd->who,
		       (unsigned long long)sd->conn, (unsigned long long)off);
	else if (from + (uint64_t)((uint8_t *)hit - ref) < off)
		printf("%s conn=%llu offset=%llu repeat distance=%llu\n", sd->who,
		       (unsigned long long)sd->conn, (unsigned long long)off,
		       (unsigned long long)(off - from - (uint64_t)((uint8_t *)hit - ref)));
	else
		printf("%s conn=%llu offset=%llu skip=%llu\n", sd->who,
		       (unsigned long long)sd->conn, (unsigned long long)off,
		       (unsigned long long)(from + (uint64_t)((uint8_t *)hit - ref) - off));
	fflush(stdout);
	free(ref);
}

static void receive_checked(struct side *sd)
{
	uint8_t *buf = malloc(IO_CHUNK + PROBE), *want = malloc(IO_CHUNK + PROBE);
	uint64_t off = 0;
	size_t i;

	while (buf && want) {
		ssize_t r;

		if (wait_fd(sd->fd, POLLIN)) {
			sd->err = ETIMEDOUT;
			break;
		}
		r = recv(sd->fd, buf, IO_CHUNK, MSG_DONTWAIT);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0) {
			sd->err = r ? errno : 0;
			break;
		}
		if (!sd->bad) {
			stream_fill(&sd->in, off, want, (size_t)r);
			if (memcmp(buf, want, (size_t)r)) {
				for (i = 0; buf[i] == want[i]; i++)
					;
				/* More bytes to tell where they come from. */
				if ((size_t)r - i < PROBE) {
					ssize_t more = recv(sd->fd, buf + r, PROBE, MSG_WAITALL);

					if (more > 0)
						r += more;
				}
				explain(sd, off + i, buf + i, (size_t)r - i);
				sd->bad = 1;
			}
		}
		off += (uint64_t)r;
	}
	if (!sd->bad && off != sd->bytes_in) {
		printf("%s conn=%llu length=%llu want=%llu err=%d\n", sd->who,
		       (unsigned long long)sd->conn, (unsigned long long)off,
		       (unsigned long long)sd->bytes_in, sd->err);
		sd->bad = 1;
	} else if (sd->bad) {
		printf("%s conn=%llu length=%llu want=%llu extra=%lld\n", sd->who,
		       (unsigned long long)sd->conn, (unsigned long long)off,
		       (unsigned long long)sd->bytes_in, (long long)(off - sd->bytes_in));
	}
	fflush(stdout);
	free(buf);
	free(want);
}

/* Both directions of one connection; returns 1 when a stream was bad. */
static int run_conn(struct side *sd)
{
	pthread_t tx;

	if (pthread_create(&tx, NULL, sender, sd)) {
		sd->bad = 1;
		return 1;
	}
	receive_checked(sd);
	pthread_join(tx, NULL);
	close(sd->fd);
	return sd->bad;
}

static int parse_addr(const char *addr, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		*len = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*len = sizeof(*in6);
		return 0;
	}
	return -EINVAL;
}

struct job {
	struct sockaddr_storage ss;
	socklen_t len;
	uint64_t up, down;
	uint64_t next, total;
	pthread_mutex_t lock;
	int bad;
};

static void *server_conn(void *arg)
{
	struct side *sd = arg;
	uint64_t conn = 0;

	if (recv(sd->fd, &conn, sizeof(conn), MSG_WAITALL) != sizeof(conn)) {
		close(sd->fd);
		free(sd);
		return NULL;
	}
	sd->conn = conn;
	sd->in.id = conn << 1;
	sd->out.id = conn << 1 | 1;
	run_conn(sd);
	free(sd);
	return NULL;
}

static int serve(struct job *job)
{
	int one = 1, lfd = socket(job->ss.ss_family, SOCK_STREAM, 0);

	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&job->ss, job->len) || listen(lfd, 128)) {
		perror("server socket");
		return 2;
	}
	printf("listening\n");
	fflush(stdout);
	for (;;) {
		struct side *sd = calloc(1, sizeof(*sd));
		pthread_t t;

		if (!sd)
			return 2;
		sd->fd = accept(lfd, NULL, NULL);
		if (sd->fd < 0) {
			free(sd);
			continue;
		}
		sd->who = "server";
		sd->bytes_out = job->down;
		sd->bytes_in = job->up;
		if (pthread_create(&t, NULL, server_conn, sd)) {
			close(sd->fd);
			free(sd);
			continue;
		}
		pthread_detach(t);
	}
}

static void *client_lane(void *arg)
{
	struct job *job = arg;

	for (;;) {
		struct side sd = { .who = "client", .bytes_out = job->up, .bytes_in = job->down };
		uint64_t conn;

		pthread_mutex_lock(&job->lock);
		conn = job->next++;
		pthread_mutex_unlock(&job->lock);
		if (conn >= job->total)
			return NULL;
		sd.conn = conn;
		sd.out.id = conn << 1;
		sd.in.id = conn << 1 | 1;
		sd.fd = socket(job->ss.ss_family, SOCK_STREAM, 0);
		if (sd.fd < 0 || connect(sd.fd, (struct sockaddr *)&job->ss, job->len) ||
		    send(sd.fd, &conn, sizeof(conn), 0) != sizeof(conn)) {
			printf("client conn=%llu connect: %s\n", (unsigned long long)conn,
			       strerror(errno));
			if (sd.fd >= 0)
				close(sd.fd);
			sd.bad = 1;
		} else {
			run_conn(&sd);
		}
		if (sd.bad) {
			pthread_mutex_lock(&job->lock);
			job->bad++;
			pthread_mutex_unlock(&job->lock);
		}
	}
}

int main(int argc, char **argv)
{
	struct job job = { .lock = PTHREAD_MUTEX_INITIALIZER };
	pthread_t lanes[64];
	int i, parallel = 1;

	if (argc < 6 || parse_addr(argv[2], atoi(argv[3]), &job.ss, &job.len)) {
		fprintf(stderr,
			"usage: streamcheck server|client ADDR PORT UP DOWN [CONNS [PAR]]\n");
		return 2;
	}
	job.up = strtoull(argv[4], NULL, 0);
	job.down = strtoull(argv[5], NULL, 0);
	if (!strcmp(argv[1], "server"))
		return serve(&job);
	job.total = argc > 6 ? strtoull(argv[6], NULL, 0) : 1;
	parallel = argc > 7 ? atoi(argv[7]) : 1;
	if (parallel < 1 || parallel > 64)
		return 2;
	for (i = 0; i < parallel; i++)
		pthread_create(&lanes[i], NULL, client_lane, &job);
	for (i = 0; i < parallel; i++)
		pthread_join(lanes[i], NULL);
	printf("connections=%llu bad=%d\n", (unsigned long long)job.total, job.bad);
	return job.bad ? 1 : 0;
}
