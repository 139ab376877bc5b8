/*-------------------------------------------------------------------------
 *
 * terminal.c
 *	  pg_apikey: the terminal that top draws on: its size, raw mode (no
 *	  echo, keys as they are typed), the alternate screen, and putting all
 *	  of it back on exit, on a signal and around a suspend (^Z).
 *
 * Plain ANSI escape sequences (VT100 and xterm's alternate screen), which
 * every terminal emulator in use understands: no curses.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "pg_apikey.h"

/* alternate screen, cursor hidden; and back */
#define ENTER_SCREEN	"\033[?1049h\033[?25l\033[H\033[2J"
#define LEAVE_SCREEN	"\033[?25h\033[?1049l"

static struct termios saved_termios;
static volatile sig_atomic_t raw_active = false;
static volatile sig_atomic_t stop_signal = 0;
static volatile sig_atomic_t resized = false;

/* Written from signal handlers too: write(2) and tcsetattr are safe there. */
static void
leave_raw(void)
{
	ssize_t		rc pg_attribute_unused();

	if (!raw_active)
		return;
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
	rc = write(STDOUT_FILENO, LEAVE_SCREEN, strlen(LEAVE_SCREEN));
	raw_active = false;
}

static bool
enter_raw(void)
{
	struct termios raw = saved_termios;
	ssize_t		rc pg_attribute_unused();

	/* keys one at a time, unechoed; ^C and ^Z still signal */
	raw.c_lflag &= ~(ICANON | ECHO);
	raw.c_cc[VMIN] = 0;
	raw.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) != 0)
		return false;
	raw_active = true;
	rc = write(STDOUT_FILENO, ENTER_SCREEN, strlen(ENTER_SCREEN));
	return true;
}

static void
on_stop_signal(int signo)
{
	stop_signal = signo;
}

static void
on_resize(int signo)
{
	(void) signo;
	resized = true;
}

static void on_continue(int signo);

static void
set_handler(int signo, void (*handler) (int))
{
	struct sigaction act;

	memset(&act, 0, sizeof(act));
	act.sa_handler = handler;
	sigemptyset(&act.sa_mask);
	sigaction(signo, &act, NULL);
}

/* ^Z: the shell gets its terminal back as it was, then we stop. */
static void
on_suspend(int signo)
{
	int			save_errno = errno;

	(void) signo;
	leave_raw();
	set_handler(SIGTSTP, SIG_DFL);
	set_handler(SIGCONT, on_continue);
	raise(SIGTSTP);
	errno = save_errno;
}

/* fg: raw mode again; the next frame redraws the screen. */
static void
on_continue(int signo)
{
	int			save_errno = errno;

	(void) signo;
	set_handler(SIGTSTP, on_suspend);
	(void) enter_raw();
	errno = save_errno;
}

bool
terminal_start(void)
{
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
		return false;
	if (tcgetattr(STDIN_FILENO, &saved_termios) != 0)
		return false;
	atexit(leave_raw);
	set_handler(SIGINT, on_stop_signal);
	set_handler(SIGTERM, on_stop_signal);
	set_handler(SIGHUP, on_stop_signal);
	set_handler(SIGQUIT, on_stop_signal);
	set_handler(SIGTSTP, on_suspend);
	set_handler(SIGWINCH, on_resize);
	return enter_raw();
}

void
terminal_end(void)
{
	leave_raw();
}

int
terminal_stop_signal(void)
{
	return stop_signal;
}

/* Whether the window changed size since the last call. */
bool
terminal_resized(void)
{
	bool		was = resized;

	resized = false;
	return was;
}

/*
 * Waits up to ms for a key; returns it, or 0 if none came (or a signal
 * cut the wait short).
 */
int
terminal_wait_key(int ms)
{
	struct pollfd pfd = {STDIN_FILENO, POLLIN, 0};
	unsigned char c;

	if (poll(&pfd, 1, ms) <= 0 || !(pfd.revents & POLLIN))
		return 0;
	if (read(STDIN_FILENO, &c, 1) != 1)
		return 0;
	return c;
}

/*
 * The size to draw in: the terminal's, else $COLUMNS and $LINES, else
 * 80 columns and no limit on the rows (0).
 */
void
terminal_size(int *cols, int *rows)
{
	struct winsize ws;
	const char *env;

	*cols = 80;
	*rows = 0;
	if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 &&
		ws.ws_col > 0)
	{
		*cols = ws.ws_col;
		*rows = ws.ws_row;
		return;
	}
	if ((env = getenv("COLUMNS")) != NULL && atoi(env) > 0)
		*cols = atoi(env);
	if ((env = getenv("LINES")) != NULL && atoi(env) > 0)
		*rows = atoi(env);
}

/* Draws a frame over the last one: each line cleared to its end. */
void
terminal_draw(const char *frame)
{
	PQExpBufferData b;

	initPQExpBuffer(&b);
	appendPQExpBufferStr(&b, "\033[H");
	for (const char *p = frame; *p; p++)
	{
		/* (no newline after the last line: the screen must not scroll) */
		if (*p == '\n')
			appendPQExpBufferStr(&b, p[1] ? "\033[K\r\n" : "\033[K");
		else
			appendPQExpBufferChar(&b, *p);
	}
	appendPQExpBufferStr(&b, "\033[J");
	fwrite(b.data, 1, b.len, stdout);
	fflush(stdout);
	termPQExpBuffer(&b);
}
