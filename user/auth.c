// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <crypt.h>
#include <signal.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <security/pam_appl.h>
#include "auth.h"
#include "log.h"

struct auth_user {
	char *name;
	char *hash;
};

struct auth_users {
	struct auth_user *v;
	size_t n;
};

void auth_users_free(struct auth_users *users)
{
	size_t i;

	if (!users)
		return;
	for (i = 0; i < users->n; i++) {
		free(users->v[i].name);
		free(users->v[i].hash);
	}
	free(users->v);
	free(users);
}

static const struct auth_user *find_user(const struct auth_users *users, const char *name)
{
	size_t i;

	for (i = 0; i < users->n; i++)
		if (!strcmp(users->v[i].name, name))
			return &users->v[i];
	return NULL;
}

/* Checks one line; on success takes copies of its name and hash. */
static int parse_user_line(struct auth_users *users, char *line, const char **why)
{
	char *colon = strchr(line, ':');
	struct auth_user *v;

	if (!colon || colon == line) {
		*why = "not user:hash";
		return -EINVAL;
	}
	*colon = '\0';
	if (strlen(line) >= CUTTHRU_USER_MAX) {
		*why = "user name too long";
		return -EINVAL;
	}
	if (find_user(users, line)) {
		*why = "user listed twice";
		return -EINVAL;
	}
	/* CRYPT_SALT_OK only for methods enabled and not legacy: DES, MD5 and
	 * htpasswd's {SHA} or apr1 are refused here, not at the first login. */
	if (crypt_checksalt(colon + 1) != CRYPT_SALT_OK) {
		*why = "hash method not supported (use bcrypt $2y$, yescrypt $y$ or $6$)";
		return -EINVAL;
	}
	v = realloc(users->v, (users->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	users->v = v;
	v[users->n].name = strdup(line);
	v[users->n].hash = strdup(colon + 1);
	if (!v[users->n].name || !v[users->n].hash) {
		free(v[users->n].name);
		free(v[users->n].hash);
		return -ENOMEM;
	}
	users->n++;
	return 0;
}

static int read_users(FILE *f, const char *path, struct auth_users *users, char *err, size_t errlen)
{
	const char *why = "out of memory";
	char line[1024];
	int lineno = 0, ret;

	while (fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);

		lineno++;
		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		else if (!feof(f)) {
			snprintf(err, errlen, "%s:%d: line too long", path, lineno);
			return -EINVAL;
		}
		if (len && line[len - 1] == '\r')
			line[--len] = '\0';
		if (!len || line[0] == '#')
			continue;
		ret = parse_user_line(users, line, &why);
		if (ret) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
			return ret;
		}
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -EIO;
	}
	if (!users->n) {
		snprintf(err, errlen, "%s: no users", path);
		return -EINVAL;
	}
	return 0;
}

int auth_users_load(const char *path, struct auth_users **out, char *err, size_t errlen)
{
	struct auth_users *users = calloc(1, sizeof(*users));
	FILE *f;
	int ret;

	if (!users)
		return -ENOMEM;
	f = fopen(path, "re");
	if (!f) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto err_free;
	}
	ret = read_users(f, path, users, err, errlen);
	fclose(f);
	if (ret)
		goto err_free;
	*out = users;
	return 0;

err_free:
	auth_users_free(users);
	return ret;
}

/* Compares all of both strings, whatever matches first. */
static int equal_const_time(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i;
	unsigned char diff = la != lb;

	for (i = 0; i < la && i < lb; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return !diff;
}

int auth_users_check(const struct auth_users *users, const char *user, const char *password)
{
	const struct auth_user *u = find_user(users, user);
	struct crypt_data *data = calloc(1, sizeof(*data));
	const char *setting, *out;
	int ret;

	if (!data)
		return -ENOMEM;
	/* An unknown user costs as much as a wrong password: hash against the
	 * first user's setting, so timing does not tell which names exist. */
	setting = u ? u->hash : users->v[0].hash;
	out = crypt_rn(password, setting, data, sizeof(*data));
	if (!out)
		ret = -errno ?: -EINVAL;
	else
		ret = u && equal_const_time(out, u->hash) ? 0 : -EACCES;
	explicit_bzero(data, sizeof(*data));
	free(data);
	return ret;
}

struct pam_secret {
	const char *user;
	const char *password;
};

/* Answers PAM's prompts: the password for hidden ones, the user for echoed
 * ones; informational messages get no answer. */
static int pam_conversation(int n, const struct pam_message **msg, struct pam_response **resp,
			    void *data)
{
	const struct pam_secret *secret = data;
	struct pam_response *r;
	int i;

	if (n <= 0 || n > PAM_MAX_NUM_MSG)
		return PAM_CONV_ERR;
	r = calloc((size_t)n, sizeof(*r));
	if (!r)
		return PAM_BUF_ERR;
	for (i = 0; i < n; i++) {
		const char *answer = NULL;

		if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF)
			answer = secret->password;
		else if (msg[i]->msg_style == PAM_PROMPT_ECHO_ON)
			answer = secret->user;
		if (answer && !(r[i].resp = strdup(answer)))
			goto err;
	}
	*resp = r;
	return PAM_SUCCESS;

err:
	for (i = 0; i < n; i++) {
		if (r[i].resp)
			explicit_bzero(r[i].resp, strlen(r[i].resp));
		free(r[i].resp);
	}
	free(r);
	return PAM_BUF_ERR;
}

int auth_pam_check(const char *service, const char *user, const char *password)
{
	struct pam_secret secret = { .user = user, .password = password };
	struct pam_conv conv = { .conv = pam_conversation, .appdata_ptr = &secret };
	pam_handle_t *pamh = NULL;
	int rc;

	rc = pam_start(service, user, &conv, &pamh);
	if (rc != PAM_SUCCESS)
		return -EIO;
	rc = pam_authenticate(pamh, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
	if (rc == PAM_SUCCESS)
		rc = pam_acct_mgmt(pamh, PAM_SILENT);
	if (rc != PAM_SUCCESS && rc != PAM_AUTH_ERR && rc != PAM_USER_UNKNOWN &&
	    rc != PAM_PERM_DENIED && rc != PAM_ACCT_EXPIRED && rc != PAM_NEW_AUTHTOK_REQD &&
	    rc != PAM_MAXTRIES)
		pr_warn("PAM service %s: %s", service, pam_strerror(pamh, rc));
	pam_end(pamh, rc);
	if (rc == PAM_SUCCESS)
		return 0;
	return rc == PAM_AUTHINFO_UNAVAIL || rc == PAM_SYSTEM_ERR || rc == PAM_BUF_ERR ||
			       rc == PAM_ABORT ?
		       -EIO :
		       -EACCES;
}

static void run_job(struct auth_job *job)
{
	if (job->users)
		job->result = auth_users_check(job->users, job->user, job->password);
	else
		job->result = auth_pam_check(job->pam_service, job->user, job->password);
	explicit_bzero(job->password, sizeof(job->password));
}

static void *worker(void *arg)
{
	struct auth_pool *pool = arg;
	struct auth_job *job;
	uint64_t one = 1;

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		while (!pool->todo && !pool->stop)
			pthread_cond_wait(&pool->wake, &pool->lock);
		if (pool->stop)
			break;
		job = pool->todo;
		pool->todo = job->next;
		if (!pool->todo)
			pool->todo_tail = &pool->todo;
		pthread_mutex_unlock(&pool->lock);

		run_job(job);

		pthread_mutex_lock(&pool->lock);
		job->next = pool->done;
		pool->done = job;
		/* Cannot fail short of 2^64 - 1 pending wake-ups. */
		if (write(pool->event_fd, &one, sizeof(one)) < 0)
			pr_warn("auth: eventfd: %s", strerror(errno));
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

int auth_pool_start(struct auth_pool *pool)
{
	sigset_t all, old;
	int i, err = 0;

	memset(pool, 0, sizeof(*pool));
	pool->todo_tail = &pool->todo;
	pool->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (pool->event_fd < 0)
		return -errno;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->wake, NULL);
	/* Workers inherit a mask blocking every signal: SIGTERM and the rest
	 * are the event loop's (signalfd), whenever it starts reading them. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < AUTH_WORKERS && !err; i++) {
		err = pthread_create(&pool->threads[i], NULL, worker, pool);
		if (!err)
			pool->n_threads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		auth_pool_stop(pool);
		return -err;
	}
	return 0;
}

void auth_pool_submit(struct auth_pool *pool, struct auth_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&pool->lock);
	*pool->todo_tail = job;
	pool->todo_tail = &job->next;
	pthread_cond_signal(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
}

/* The done list is pushed newest first; hand it out oldest first. */
struct auth_job *auth_pool_take_done(struct auth_pool *pool)
{
	struct auth_job *list, *reversed = NULL, *next;
	uint64_t count;

	if (read(pool->event_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		pr_warn("auth: eventfd: %s", strerror(errno));
	pthread_mutex_lock(&pool->lock);
	list = pool->done;
	pool->done = NULL;
	pthread_mutex_unlock(&pool->lock);
	for (; list; list = next) {
		next = list->next;
		list->next = reversed;
		reversed = list;
	}
	return reversed;
}

static void free_jobs(struct auth_job *job)
{
	struct auth_job *next;

	for (; job; job = next) {
		next = job->next;
		explicit_bzero(job->password, sizeof(job->password));
		free(job);
	}
}

void auth_pool_stop(struct auth_pool *pool)
{
	int i;

	if (pool->event_fd < 0 && !pool->n_threads)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->stop = 1;
	pthread_cond_broadcast(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
	for (i = 0; i < pool->n_threads; i++)
		pthread_join(pool->threads[i], NULL);
	pool->n_threads = 0;
	free_jobs(pool->todo);
	free_jobs(pool->done);
	pool->todo = pool->done = NULL;
	pool->todo_tail = &pool->todo;
	if (pool->event_fd >= 0)
		close(pool->event_fd);
	pool->event_fd = -1;
	pthread_mutex_destroy(&pool->lock);
	pthread_cond_destroy(&pool->wake);
}
