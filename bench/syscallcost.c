// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * What one system call costs on this machine: the mean time of a call that
 * does nothing (getppid), over N calls, best of 5 rounds. The benchmark
 * records it beside its figures because a proxy's cost per connection is
 * partly a count of system calls, and under some hypervisors a call costs
 * a microsecond (1.16 us in this VM, a PVM guest).
 *
 *   syscallcost [N]      (default 1000000) prints {"ns_per_syscall": X}
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long calls = argc > 1 ? atol(argv[1]) : 1000000;
	double best = 0;

	if (calls <= 0 || calls > 100000000) {
		fprintf(stderr, "syscallcost: N must be 1 to 100000000\n");
		return 2;
	}
	for (int round = 0; round < 5; round++) {
		double t0 = now_ns(), ns;

		/* syscall(2), not getppid(): no libc may answer it from a cache. */
		for (long i = 0; i < calls; i++)
			syscall(SYS_getppid);
		ns = (now_ns() - t0) / calls;
		if (round == 0 || ns < best)
			best = ns;
	}
	printf("{\"ns_per_syscall\": %.1f, \"calls\": %ld}\n", best, calls);
	return 0;
}
