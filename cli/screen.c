/*-------------------------------------------------------------------------
 *
 * screen.c
 *	  pg_apikey: text laid out for a terminal of a given width, for top:
 *	  lines cut to the width (never wrapped), items that flow onto the next
 *	  line whole, and tables that drop or narrow their columns by priority
 *	  when the terminal is narrow.
 *
 * Widths are display columns of the client encoding (PQdsplen), so a name
 * in another script is measured as the terminal draws it.  Text from the
 * database reaches the terminal without its control characters: a key
 * name holding an escape sequence is shown, not obeyed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "mb/pg_wchar.h"
#include "pg_apikey.h"

#define CUT_MARK	"~"			/* ends a value that was cut short */
#define COLUMN_GAP	2			/* spaces between two columns of a table */
#define LABEL_WIDTH 11			/* of the labels of screen_flow */

static int
encoding(void)
{
	return conn ? PQclientEncoding(conn) : PG_UTF8;
}

/* s as the terminal may show it: every control character becomes '?'. */
char *
screen_clean(const char *s)
{
	char	   *copy = pg_strdup(s ? s : "");

	for (unsigned char *p = (unsigned char *) copy; *p; p++)
		if (*p < 0x20 || *p == 0x7F)
			*p = '?';
	return copy;
}

/* Display columns of s (control characters count one each, as cleaned). */
int
screen_width(const char *s)
{
	int			enc = encoding();
	int			w = 0;

	while (*s)
	{
		int			len = PQmblenBounded(s, enc);
		int			dw = PQdsplen(s, enc);

		w += dw < 0 ? 1 : dw;
		s += len > 0 ? len : 1;
	}
	return w;
}

/*
 * Appends s to b in at most width columns: cut, with CUT_MARK at its end,
 * if it is wider; padded with spaces to width if pad, on the left if
 * right.
 */
void
screen_put(PQExpBuffer b, const char *s, int width, bool pad, bool right)
{
	int			enc = encoding();
	int			w = screen_width(s);
	const char *p = s;
	int			used = 0;

	if (w <= width)
	{
		if (pad && right)
			appendPQExpBuffer(b, "%*s", width - w, "");
		appendPQExpBufferStr(b, s);
		if (pad && !right)
			appendPQExpBuffer(b, "%*s", width - w, "");
		return;
	}
	if (width <= 0)
		return;
	/* what fits in width - 1 columns, then the mark */
	while (*p)
	{
		int			len = PQmblenBounded(p, enc);
		int			dw = PQdsplen(p, enc);

		dw = dw < 0 ? 1 : dw;
		if (used + dw > width - 1)
			break;
		appendBinaryPQExpBuffer(b, p, len > 0 ? len : 1);
		used += dw;
		p += len > 0 ? len : 1;
	}
	appendPQExpBufferStr(b, CUT_MARK);
	if (pad)
		appendPQExpBuffer(b, "%*s", width - used - 1, "");
}

/* A line of the frame, cut to the width. */
void
screen_line(Screen *scr, const char *text)
{
	char	   *clean = screen_clean(text);
	size_t		len = strlen(clean);

	/* (a table's last column is padded: no trailing blanks) */
	while (len > 0 && clean[len - 1] == ' ')
		clean[--len] = '\0';
	screen_put(&scr->out, clean, scr->width, false, false);
	appendPQExpBufferChar(&scr->out, '\n');
	scr->lines++;
	pg_free(clean);
}

/*
 * Items ("QUOTA_EXCEEDED 4.0") after a label, as many on a line as fit,
 * then on the next lines indented past the label; an item never splits.
 * Labels up to LABEL_WIDTH wide line their items up.
 */
static void
flow(Screen *scr, const char *label, int nitems, char *const *items, int gap)
{
	PQExpBufferData line;
	int			indent = Max(screen_width(label), LABEL_WIDTH) + 1;
	int			used;

	initPQExpBuffer(&line);
	appendPQExpBuffer(&line, "%-*s ", LABEL_WIDTH, label);
	used = indent;
	for (int i = 0; i < nitems; i++)
	{
		int			w = screen_width(items[i]);

		if (used > indent && used + gap + w > scr->width)
		{
			screen_line(scr, line.data);
			resetPQExpBuffer(&line);
			appendPQExpBuffer(&line, "%*s", indent, "");
			used = indent;
		}
		else if (used > indent)
		{
			appendPQExpBuffer(&line, "%*s", gap, "");
			used += gap;
		}
		appendPQExpBufferStr(&line, items[i]);
		used += w;
	}
	screen_line(scr, line.data);
	termPQExpBuffer(&line);
}

/* ---- tables ---- */

/* Each column's width as its widest cell of the first nrows, title included. */
static void
natural_widths(const ScreenColumn *cols, int ncols, const PGresult *res,
			   int nrows, int *natural)
{
	for (int c = 0; c < ncols; c++)
	{
		natural[c] = screen_width(cols[c].title);
		for (int r = 0; r < nrows; r++)
		{
			char	   *cell = screen_clean(PQgetvalue(res, r, c));

			natural[c] = Max(natural[c], screen_width(cell));
			pg_free(cell);
		}
	}
}

/*
 * The width of each column within scr->width, 0 for a column left out:
 * columns are taken by priority as long as they fit at their narrowest (a
 * number whole, a text down to its min_width); the room left widens the
 * texts, again by priority.
 */
static void
fit_columns(const Screen *scr, const ScreenColumn *cols, int ncols,
			const int *natural, int *width)
{
	int			used = -COLUMN_GAP;

	for (int prio = 1; prio <= ncols; prio++)
		for (int c = 0; c < ncols; c++)
		{
			int			least = cols[c].right ? natural[c] : Min(natural[c], cols[c].min_width);

			if (cols[c].priority != prio)
				continue;
			width[c] = 0;
			if (used + COLUMN_GAP + least <= scr->width)
			{
				width[c] = least;
				used += COLUMN_GAP + least;
			}
		}
	for (int prio = 1; prio <= ncols; prio++)
		for (int c = 0; c < ncols; c++)
			if (cols[c].priority == prio && width[c] > 0 && width[c] < natural[c])
			{
				int			more = Min(natural[c] - width[c], scr->width - used);

				width[c] += more;
				used += more;
			}
}

/* One row of the table: cell(c) for each column shown. */
static void
table_row(Screen *scr, const ScreenColumn *cols, int ncols, const int *width,
		  const PGresult *res, int row)
{
	PQExpBufferData line;
	bool		first = true;

	initPQExpBuffer(&line);
	for (int c = 0; c < ncols; c++)
	{
		char	   *cell;

		if (width[c] == 0)
			continue;
		if (row < 0)
			cell = pg_strdup(cols[c].title);
		else
			cell = screen_clean(PQgetvalue(res, row, c));
		if (!first)
			appendPQExpBuffer(&line, "%*s", COLUMN_GAP, "");
		screen_put(&line, cell, width[c], true, cols[c].right);
		first = false;
		pg_free(cell);
	}
	screen_line(scr, line.data);
	termPQExpBuffer(&line);
}

/*
 * The first maxrows rows of res, whose columns are cols, as a table with
 * a title line; the columns that do not fit are left out, the lowest
 * priority (the highest number) first.  Priorities run from 1 to ncols.
 */
void
screen_table(Screen *scr, const ScreenColumn *cols, int ncols,
			 const PGresult *res, int maxrows)
{
	int			nrows = Min(PQntuples(res), maxrows);
	int		   *natural = pg_malloc0(sizeof(int) * ncols);
	int		   *width = pg_malloc0(sizeof(int) * ncols);

	Assert(PQnfields(res) >= ncols);
	natural_widths(cols, ncols, res, nrows, natural);
	fit_columns(scr, cols, ncols, natural, width);
	table_row(scr, cols, ncols, width, res, -1);
	for (int r = 0; r < nrows; r++)
		table_row(scr, cols, ncols, width, res, r);
	pg_free(natural);
	pg_free(width);
}

void
screen_flow(Screen *scr, const char *label, int nitems, char *const *items)
{
	flow(scr, label, nitems, items, 2);
}

/* A sentence after a label, broken into lines between words. */
void
screen_words(Screen *scr, const char *label, const char *text)
{
	char	   *copy = pg_strdup(text);
	char	  **words = pg_malloc(sizeof(char *) * (strlen(text) / 2 + 2));
	int			n = 0;

	for (char *w = strtok(copy, " "); w; w = strtok(NULL, " "))
		words[n++] = w;
	flow(scr, label, n, words, 1);
	pg_free(words);
	pg_free(copy);
}
