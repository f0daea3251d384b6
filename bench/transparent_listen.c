// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * LD_PRELOAD shim: sets IP_TRANSPARENT (IPV6_TRANSPARENT) on every TCP socket
 * just before it starts listening. nginx's stream `listen` has no
 * `transparent` flag, and an nftables `tproxy` rule only hands packets to a
 * transparent listener. Setting the option before listen() is enough: the
 * tproxy lookup checks it per packet. Needs CAP_NET_ADMIN (the bench runs as
 * root); a failure is reported on stderr and listen() goes on, so that the
 * bench's own check catches it rather than a silent fallback.
 *
 *   cc -shared -fPIC -o transparent_listen.so transparent_listen.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#ifndef IP_TRANSPARENT
#define IP_TRANSPARENT 19
#endif
#ifndef IPV6_TRANSPARENT
#define IPV6_TRANSPARENT 75
#endif

int listen(int fd, int backlog)
{
	static int (*real_listen)(int, int);
	if (!real_listen)
		real_listen = (int (*)(int, int))dlsym(RTLD_NEXT, "listen");

	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int type = 0;
	socklen_t tl = sizeof(type);
	int saved = errno;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_STREAM) {
		int one = 1, r = 0;
		if (ss.ss_family == AF_INET)
			r = setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one));
		else if (ss.ss_family == AF_INET6)
			r = setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one));
		if (r < 0)
			fprintf(stderr, "transparent_listen: IP_TRANSPARENT on fd %d: %s\n", fd,
				strerror(errno));
	}
	errno = saved;
	return real_listen(fd, backlog);
}
