/*-------------------------------------------------------------------------
 *
 * top.c
 *	  pg_apikey top: a live view of apikey on a terminal, a frame every
 *	  interval over one connection, until q (or ^C); or, with --once, one
 *	  frame on stdout for a script.
 *
 * The rates come from the differences of apikey.stats between two
 * frames, so --once reads it twice, one interval apart.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <signal.h>
#include <time.h>

#include "common/connect.h"
#include "pg_apikey.h"

typedef struct TopOptions
{
	bool		once;
	const char *interval;
} TopOptions;

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* --interval: seconds, 0.1 to 3600, decimals allowed. */
static double
read_interval(const char *s)
{
	char	   *end;
	double		v;

	if (s == NULL)
		return 1.0;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= 0.1 && v <= 3600))
		usage_error("invalid --interval \"%s\": expected seconds from 0.1 to 3600", s);
	return v;
}

/* The frame, as wide and as tall as stdout allows. */
static char *
frame_for_terminal(const TopData *d, double interval, bool live)
{
	TopView		v;

	terminal_size(&v.width, &v.height);
	/* (a character in a terminal's last column may wrap: leave it free) */
	if (live)
		v.width--;
	v.interval = interval;
	v.live = live;
	return top_frame(d, &v);
}

static int
top_once(TopData *d, double interval)
{
	char	   *frame;

	if (top_read(d) && d->f->stats)
	{
		/* a second sample, for the rates */
		pg_usleep((long) (interval * 1e6));
		(void) top_read(d);
	}
	if (d->error)
		return report_server_error(d->error_res, NULL);
	frame = frame_for_terminal(d, interval, false);
	fputs(frame, stdout);
	pg_free(frame);
	return EXIT_OK;
}

/* The connection is lost: a new one, set up as connect_db's was. */
static void
reconnect(void)
{
	PQreset(conn);
	if (PQstatus(conn) == CONNECTION_OK)
		PQclear(PQexec(conn, ALWAYS_SECURE_SEARCH_PATH_SQL));
}

/* Waits for the next frame; false if q was typed or a signal came. */
static bool
wait_next_frame(double deadline)
{
	for (;;)
	{
		double		left = deadline - now_seconds();
		int			key;

		if (terminal_stop_signal())
			return false;
		if (left <= 0)
			return true;
		key = terminal_wait_key((int) (left * 1000) + 1);
		if (key == 'q' || key == 'Q')
			return false;
		if (key == ' ' || terminal_resized())
			return true;		/* draw again now */
	}
}

static int
top_live(TopData *d, double interval)
{
	int			signo;

	if (!terminal_start())
		die(EXIT_USAGE, "top needs a terminal; --once prints one frame");
	for (;;)
	{
		double		started = now_seconds();
		char	   *frame;

		if (PQstatus(conn) == CONNECTION_BAD)
			reconnect();
		(void) top_read(d);
		frame = frame_for_terminal(d, interval, true);
		terminal_draw(frame);
		pg_free(frame);
		if (!wait_next_frame(started + interval))
			break;
	}
	terminal_end();
	/* stopped by a signal: end as its default action would */
	if ((signo = terminal_stop_signal()) != 0)
	{
		signal(signo, SIG_DFL);
		raise(signo);
	}
	return EXIT_OK;
}

static int
cmd_top(int argc, char **argv)
{
	TopOptions	o = {0};
	TopFeatures f;
	TopData		d = {0};
	double		interval;
	int			nargs;

	parse_command_line(argc, argv, &o, &nargs);
	interval = read_interval(o.interval);
	if (gopts.json)
		usage_error("top has no JSON output");
	connect_db();
	top_features(&f);
	d.f = &f;
	return o.once ? top_once(&d, interval) : top_live(&d, interval);
}

static const CommandOption top_options[] = {
	{"once", OPTION_FLAG, offsetof(TopOptions, once)},
	{"interval", OPTION_STRING, offsetof(TopOptions, interval)},
	END_OPTIONS
};

const Command top_command = {
	"top", cmd_top, top_options, 0, 0,
	"top [--once] [--interval=SECONDS]",
	"A live view of apikey, a frame a second: requests and refusals per second,\n"
	"this hour's busiest and most refused keys and owners, the keys nearest\n"
	"their quota, the worker's last flush, buckets in use and refused\n"
	"addresses.  q quits.  Run as an owner, it shows what row-level security\n"
	"lets it see, and says so.\n"
	"\n"
	"Options:\n"
	"      --once                 print one frame on stdout and exit\n"
	"      --interval=SECONDS     between frames (default 1; decimals allowed)\n"
};
