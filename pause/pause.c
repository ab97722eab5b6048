/*
 * pause is the first process of every pod sandbox. It holds the pod's
 * namespaces open, reaps the zombies that the PID namespace hands it as
 * PID 1, and exits 0 on SIGTERM or SIGINT. With -v it prints its version
 * and exits; otherwise it says nothing, but for a warning on stderr when it
 * is not PID 1 (then orphans of the pod's processes are not its to reap),
 * as upstream's pause does.
 *
 * It is C, built static and stripped (gcc -Os -static -s: scripts/lib.sh's
 * build_pause, internal/gobuild's Pause), because it runs once per pod: a
 * Go program's runtime costs each pause process about half a MiB of
 * anonymous memory (heap arena metadata, the stacks of its threads), this
 * one 44 KiB. Its tests are internal/gobuild's pause_test.go.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Printed by -v; keep it in step with the tag of pause/image's Ref. */
#define VERSION "1.1"

static void say(int fd, const char *s)
{
	size_t n = strlen(s);
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void stop(int sig)
{
	(void)sig;
	_exit(0);
}

/*
 * reap waits for every child that has exited. Signals coalesce, so one
 * SIGCHLD can stand for many exits: loop until nothing is left to reap.
 */
static void reap(int sig)
{
	int saved = errno;
	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	errno = saved;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--version") == 0) {
			say(STDOUT_FILENO, "pause.minikubelet " VERSION "\n");
			return 0;
		}
	}
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = stop;
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
		return 1;
	sa.sa_handler = reap;
	sa.sa_flags = SA_NOCLDSTOP | SA_RESTART;
	if (sigaction(SIGCHLD, &sa, NULL) < 0)
		return 1;
	/*
	 * A child that exited before the handler was in place raised a
	 * SIGCHLD that was discarded: reap it now. One that exits later
	 * raises the handler.
	 */
	reap(SIGCHLD);
	/* After the handlers: who reads the warning may signal at once. */
	if (getpid() != 1)
		say(STDERR_FILENO, "pause: warning: not the first process of its PID namespace: it reaps only its own children\n");
	for (;;)
		pause();
}
