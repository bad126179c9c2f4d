/* Configuration: obtaining an account's password from its configured source
 * (a command's output, an environment variable or a private file). The secret
 * is read into one fixed buffer that is wiped afterwards, and never appears in
 * error messages. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config_internal.h"

#define PASSWORD_MAX ((size_t)64 * 1024)

extern char **environ;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads FD into BUF (PASSWORD_MAX + 1 bytes, fixed so that no realloc leaves
 * copies of the secret behind) until end of file, or until DEADLINE (a
 * CLOCK_MONOTONIC time in ms; 0: none). Returns the length, or -1 when too
 * long, on a read error or at the deadline (errno set; E2BIG when too long,
 * ETIMEDOUT at the deadline). */
static ssize_t read_secret(int fd, char *buf, int64_t deadline)
{
	size_t len = 0;
	for (;;) {
		if (deadline) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			int64_t left = deadline - now_ms();
			if (left <= 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			int r = poll(&pfd, 1, left > 1000 ? 1000 : (int)left);
			if (r < 0 && errno != EINTR)
				return -1;
			if (r <= 0)
				continue;
		}
		ssize_t n = read(fd, buf + len, PASSWORD_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return (ssize_t)len;
		len += (size_t)n;
		if (len > PASSWORD_MAX) {
			errno = E2BIG;
			return -1;
		}
	}
}

/* The first line of BUF without CR/LF, as a new string, or NULL with err set. */
static char *first_line(const struct account *a, const char *what, char *buf, size_t len,
			char *err, size_t errlen)
{
	char *nl = memchr(buf, '\n', len);
	if (nl)
		len = (size_t)(nl - buf);
	while (len && (buf[len - 1] == '\r' || buf[len - 1] == '\n'))
		len--;
	if (memchr(buf, '\0', len)) {
		config_set_err(err, errlen, "account \"%s\": %s contains a NUL byte", a->name, what);
		return NULL;
	}
	if (memchr(buf, '\r', len)) { /* no IMAP command can carry it */
		config_set_err(err, errlen, "account \"%s\": %s holds a line break (CR)", a->name, what);
		return NULL;
	}
	if (!len) {
		config_set_err(err, errlen, "account \"%s\": %s gave an empty password", a->name, what);
		return NULL;
	}
	return xstrndup(buf, len);
}

/* waitpid(pid), bounded by DEADLINE (ms; 0: none): past it the command's
 * process group is killed. 0; 1 when it was killed so; -1 (errno). A command
 * that closed its output but goes on (a helper left behind, a hang after the
 * password) is not waited for past the account's timeout. */
static int wait_command(pid_t pid, int *status, int64_t deadline)
{
	int killed = 0;
	for (;;) {
		pid_t r = waitpid(pid, status, deadline && !killed ? WNOHANG : 0);
		if (r == pid)
			return killed;
		if (r < 0 && errno != EINTR)
			return -1;
		if (r == 0 && now_ms() >= deadline) {
			kill(-pid, SIGKILL);
			killed = 1;
		} else if (r == 0) {
			struct timespec ts = { 0, 2 * 1000000L };
			nanosleep(&ts, NULL);
		}
	}
}

/* A bounded command runs in its own process group, out of reach of a signal
 * sent to mailkeep's (a terminal's, timeout(1)'s). A run ended by SIGTERM,
 * SIGINT or SIGHUP while it runs kills that group first: else the command
 * (a password manager waiting for an agent, say) would run on, orphaned,
 * holding the standard error that cron reads until it closes. */
static const int ending_signals[] = { SIGTERM, SIGINT, SIGHUP };
#define N_ENDING (sizeof(ending_signals) / sizeof(ending_signals[0]))
static volatile sig_atomic_t command_group;

static void ending_set(sigset_t *set)
{
	sigemptyset(set);
	for (size_t i = 0; i < N_ENDING; i++)
		sigaddset(set, ending_signals[i]);
}

static void end_with_command(int sig)
{
	int e = errno;
	if (command_group > 0)
		kill(-command_group, SIGKILL);
	raise(sig); /* delivered on return, with the default action (SA_RESETHAND) */
	errno = e;
}

/* Install end_with_command for the ending signals not ignored (nohup, a
 * shell's background job), with GROUP as the command's; the previous actions
 * go to OLD. Called with the ending signals blocked. */
static void ending_signals_catch(pid_t group, struct sigaction *old)
{
	struct sigaction sa = { .sa_handler = end_with_command, .sa_flags = SA_RESETHAND };
	sigemptyset(&sa.sa_mask);
	command_group = group;
	for (size_t i = 0; i < N_ENDING; i++) {
		sigaction(ending_signals[i], NULL, &old[i]);
		if (old[i].sa_handler != SIG_IGN)
			sigaction(ending_signals[i], &sa, NULL);
	}
}

static void ending_signals_restore(const struct sigaction *old)
{
	sigset_t block, saved;
	ending_set(&block);
	sigprocmask(SIG_BLOCK, &block, &saved);
	for (size_t i = 0; i < N_ENDING; i++)
		sigaction(ending_signals[i], &old[i], NULL);
	command_group = 0;
	sigprocmask(SIG_SETMASK, &saved, NULL);
}

/* password_command or token_command, as the configuration says */
static const char *cmd_key(const struct account *a)
{
	return a->password_key ? a->password_key : "password_command";
}

/* Start A's command under /bin/sh -c, its standard output the pipe end OUT;
 * if BOUNDED in its own process group, the ending signals then caught for it
 * (*caught set, the previous actions in OLD). Its pid into *pid; 0, or
 * posix_spawn's error. */
static int spawn_command(const struct account *a, int out, int bounded, pid_t *pid, struct sigaction *old,
			 int *caught)
{
	char *argv[] = { (char *)"sh", (char *)"-c", a->password_arg, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t sigpipe, ending, saved_mask;
	int e;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out, 1);
	posix_spawnattr_init(&attr);
	/* mailkeep ignores SIGPIPE (cli.c), and an ignored signal stays ignored
	 * across exec: the command gets it back, so that a writer whose reader is
	 * gone (`cat big | head -n 1`, or the command itself once its output is
	 * refused as too long) ends quietly instead of failing writes forever */
	sigemptyset(&sigpipe);
	sigaddset(&sigpipe, SIGPIPE);
	posix_spawnattr_setsigdefault(&attr, &sigpipe);
	/* in its own process group when bounded: killed as a whole at the deadline,
	 * or when a signal ends the run (the signals are blocked from the spawn
	 * until the handler knows the group; the command starts unblocked) */
	ending_set(&ending);
	sigprocmask(SIG_BLOCK, bounded ? &ending : NULL, &saved_mask);
	posix_spawnattr_setsigmask(&attr, &saved_mask);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK |
				 (bounded ? POSIX_SPAWN_SETPGROUP : 0));
	e = posix_spawn(pid, "/bin/sh", &fa, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	if (bounded && !e) {
		ending_signals_catch(*pid, old);
		*caught = 1;
	}
	sigprocmask(SIG_SETMASK, &saved_mask, NULL);
	return e;
}

/* The password in BUF, LEN bytes read (or -1, errno E) from a command that
 * ended with wait STATUS: its first line (in BUF), or NULL with err set. */
static char *command_output(const struct account *a, char *buf, ssize_t len, int e, int status, char *err,
			    size_t errlen)
{
	char *pw = NULL;
	if (len < 0 && e == ETIMEDOUT)
		config_set_err(err, errlen, "account \"%s\": %s did not finish within %d s (the account's "
			       "timeout; a command run from a terminal is waited for)", a->name, cmd_key(a),
			       a->timeout);
	else if (len < 0 && e == E2BIG)
		config_set_err(err, errlen, "account \"%s\": %s: output is larger than 64 KiB",
			       a->name, cmd_key(a));
	else if (WIFSIGNALED(status))
		config_set_err(err, errlen, "account \"%s\": %s was killed by signal %d", a->name, cmd_key(a),
			       WTERMSIG(status));
	else if (WEXITSTATUS(status))
		config_set_err(err, errlen, "account \"%s\": %s exited with status %d", a->name, cmd_key(a),
			       WEXITSTATUS(status));
	else if (len < 0)
		config_set_err(err, errlen, "account \"%s\": %s: read: %s", a->name, cmd_key(a), strerror(e));
	else
		pw = first_line(a, a->password_key && !strcmp(a->password_key, "token_command")
					   ? "token_command output" : "password_command output",
				buf, (size_t)len, err, errlen);
	return pw;
}

/* Run from a terminal, the command may prompt (a password manager's
 * passphrase) and is waited for; otherwise (cron) it has the account's
 * timeout to finish, then it and its children are killed. */
static char *password_from_command(const struct account *a, char *buf, char *err, size_t errlen)
{
	struct sigaction old_actions[N_ENDING];
	int fds[2] = { -1, -1 }, status = 0, e, rc, caught = 0;
	int bounded = !isatty(STDIN_FILENO) && !isatty(STDERR_FILENO) && a->timeout > 0;
	int64_t deadline = bounded ? now_ms() + (int64_t)a->timeout * 1000 : 0;
	pid_t pid = -1;
	ssize_t len;
	char *pw = NULL;

	if (pipe2(fds, O_CLOEXEC) < 0) {
		config_set_err(err, errlen, "account \"%s\": %s: pipe: %s", a->name, cmd_key(a),
			       strerror(errno));
		return NULL;
	}
	e = spawn_command(a, fds[1], bounded, &pid, old_actions, &caught);
	close(fds[1]);
	if (e) {
		config_set_err(err, errlen, "account \"%s\": %s: cannot run /bin/sh: %s", a->name, cmd_key(a),
			       strerror(e));
		goto out;
	}
	len = read_secret(fds[0], buf, deadline);
	e = errno;
	int killed = len < 0 && (e == ETIMEDOUT || (e == E2BIG && bounded));
	if (killed)
		kill(-pid, SIGKILL); /* too long: what more it writes is of no use either */
	close(fds[0]); /* a command still writing gets SIGPIPE */
	fds[0] = -1;
	rc = wait_command(pid, &status, killed ? 0 : deadline);
	if (caught)
		ending_signals_restore(old_actions);
	if (rc < 0) {
		config_set_err(err, errlen, "account \"%s\": %s: waitpid: %s", a->name, cmd_key(a),
			       strerror(errno));
		goto out;
	}
	if (rc > 0) { /* output closed, but still running at the deadline */
		len = -1;
		e = ETIMEDOUT;
	}
	pw = command_output(a, buf, len, e, status, err, errlen);
out:
	if (fds[0] >= 0)
		close(fds[0]);
	return pw;
}

static char *password_from_file(const struct account *a, char *buf, char *err, size_t errlen)
{
	const char *path = a->password_arg;
	/* as written when it holds a $VAR: its value may be the password itself
	 * (password_file: $IMAP_PASSWORD for password_env) */
	const char *shown = a->password_file_shown ? a->password_file_shown : path;
	const char *q = a->password_file_shown ? "\"" : "'";
	struct stat st;
	ssize_t len;
	char *pw = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0) {
		config_set_err(err, errlen, "account \"%s\": password_file \"%s\": %s", a->name, shown,
			       strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		config_set_err(err, errlen, "account \"%s\": password_file \"%s\": %s", a->name, shown,
			       strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		config_set_err(err, errlen, "account \"%s\": password_file \"%s\" is not a regular file",
			       a->name, shown);
	} else if (st.st_mode & 077) {
		config_set_err(err, errlen, "account \"%s\": password_file \"%s\" is accessible by group or "
			       "others (mode %04o); run: chmod 600 %s%s%s", a->name, shown,
			       (unsigned)(st.st_mode & 07777), q, shown, q);
	} else if ((len = read_secret(fd, buf, 0)) < 0) {
		/* a first line within the limit is all that is needed */
		char *nl = errno == E2BIG ? memchr(buf, '\n', PASSWORD_MAX) : NULL;
		if (nl)
			pw = first_line(a, "password_file", buf, (size_t)(nl - buf), err, errlen);
		else
			config_set_err(err, errlen, "account \"%s\": password_file \"%s\": %s", a->name, shown,
				       errno == E2BIG ? "first line is longer than 64 KiB" : strerror(errno));
	} else {
		pw = first_line(a, "password_file", buf, (size_t)len, err, errlen);
	}
	close(fd);
	return pw;
}

static char *password_from_env(const struct account *a, char *err, size_t errlen)
{
	const char *v = getenv(a->password_arg);
	size_t len;
	if (!v || !*v) {
		config_set_err(err, errlen, "account \"%s\": environment variable \"%s\" (password_env) is %s",
			       a->name, a->password_arg, v ? "empty" : "not set");
		return NULL;
	}
	len = strlen(v);
	while (len && (v[len - 1] == '\r' || v[len - 1] == '\n'))
		len--;
	if (!len) {
		config_set_err(err, errlen, "account \"%s\": environment variable \"%s\" (password_env) is empty",
			       a->name, a->password_arg);
		return NULL;
	}
	if (memchr(v, '\n', len) || memchr(v, '\r', len)) {
		/* no IMAP command can carry it: said before anything is created */
		config_set_err(err, errlen, "account \"%s\": environment variable \"%s\" (password_env) holds a "
			       "line break", a->name, a->password_arg);
		return NULL;
	}
	return xstrndup(v, len);
}

char *config_get_password(const struct account *acct, char *err, size_t errlen)
{
	char *buf, *pw = NULL;
	if (!acct->password_arg || acct->password_source == PASSWORD_NONE) {
		config_set_err(err, errlen, "account \"%s\": no password source configured", acct->name);
		return NULL;
	}
	if (acct->password_source == PASSWORD_ENV)
		return password_from_env(acct, err, errlen);
	buf = xmalloc(PASSWORD_MAX + 1);
	if (acct->password_source == PASSWORD_COMMAND)
		pw = password_from_command(acct, buf, err, errlen);
	else
		pw = password_from_file(acct, buf, err, errlen);
	explicit_bzero(buf, PASSWORD_MAX + 1);
	free(buf);
	return pw;
}
