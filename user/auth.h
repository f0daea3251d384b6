/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Checking a user name and password: against a file of crypt(3) hashes
 * (libxcrypt: bcrypt, yescrypt, sha512crypt) or through PAM. Both are slow
 * on purpose (a bcrypt check takes tens of milliseconds, PAM may ask a
 * remote LDAP or RADIUS server), so they run on worker threads and never in
 * the event loop; each finished check is handed back through an eventfd.
 */
#ifndef CUTTHRU_AUTH_H
#define CUTTHRU_AUTH_H

#include <pthread.h>
#include <stddef.h>
#include "cutthru/abi.h"

#define AUTH_PASSWORD_MAX 256
#define AUTH_WORKERS 2

struct auth_users;

/* Loads "user:hash" lines (htpasswd format; '#' comments and blank lines
 * skipped). Refuses, naming file:line, a malformed line, a duplicate user or
 * a hash method libxcrypt does not accept as strong enough. */
int auth_users_load(const char *path, struct auth_users **out, char *err, size_t errlen);
void auth_users_free(struct auth_users *users);
/* Synchronous check (workers call it; tests too). 0, -EACCES or -errno. */
int auth_users_check(const struct auth_users *users, const char *user, const char *password);
int auth_pam_check(const char *service, const char *user, const char *password);

struct auth_job {
	/* Loop thread only: the connection waiting for the answer, or NULL
	 * once it has gone. Workers never touch it. */
	void *owner;
	const struct auth_users *users; /* one of users and pam_service */
	const char *pam_service;
	char user[CUTTHRU_USER_MAX];
	char password[AUTH_PASSWORD_MAX]; /* wiped once checked */
	int result; /* 0 accepted, -EACCES refused, else -errno */
	struct auth_job *next;
};

struct auth_pool {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct auth_job *todo, **todo_tail;
	struct auth_job *done;
	pthread_t threads[AUTH_WORKERS];
	int n_threads;
	int stop;
	int event_fd; /* readable when done holds jobs */
};

int auth_pool_start(struct auth_pool *pool);
void auth_pool_submit(struct auth_pool *pool, struct auth_job *job);
/* The finished jobs, oldest first; the caller frees them. */
struct auth_job *auth_pool_take_done(struct auth_pool *pool);
/* Stops the workers (after their current check) and frees every job. */
void auth_pool_stop(struct auth_pool *pool);

#endif
