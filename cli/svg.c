/*-------------------------------------------------------------------------
 *
 * svg.c
 *	  pg_apikey: the charts of the usage report, drawn as inline SVG:
 *	  stacked bars and lines over time (or over the days of a month), and
 *	  horizontal bars for rankings.  No script, no font or style sheet from
 *	  elsewhere: the page draws them as it is.
 *
 * A chart scales to the width of its section (a viewBox, width 100%).
 * Each bar and point has a <title>, which browsers show on hover; the
 * legend is HTML under the chart.  Labels from the database are escaped.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <math.h>
#include <time.h>

#include "pg_apikey.h"

/* the drawing, in viewBox units */
#define VIEW_W		960
#define VIEW_H		280
#define PLOT_LEFT	64
#define PLOT_RIGHT	16
#define PLOT_TOP	14
#define PLOT_BOTTOM 36
#define PLOT_W		(VIEW_W - PLOT_LEFT - PLOT_RIGHT)
#define PLOT_H		(VIEW_H - PLOT_TOP - PLOT_BOTTOM)

/* A round number for the top of the y axis, and its step (4 or 5 steps). */
static double
nice_step(double max, double *top)
{
	double		raw = max / 4;
	double		mag,
				norm,
				step;

	if (!(raw > 0))
	{
		*top = 1;
		return 0.25;
	}
	mag = pow(10, floor(log10(raw)));
	norm = raw / mag;
	step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10) * mag;
	*top = ceil(max / step - 1e-9) * step;
	return step;
}

/* 1234567 as "1.2M", 2500 as "2.5k", 0.25 as "0.25". */
static void
short_number(char *buf, size_t len, double v)
{
	double		a = fabs(v);

	if (a >= 1e9)
		snprintf(buf, len, "%.3gG", v / 1e9);
	else if (a >= 1e6)
		snprintf(buf, len, "%.3gM", v / 1e6);
	else if (a >= 1e4)
		snprintf(buf, len, "%.3gk", v / 1e3);
	else
		snprintf(buf, len, "%.4g", v);
}

static double
y_of(double v, double top)
{
	return PLOT_TOP + PLOT_H - (v / top) * PLOT_H;
}

static double
x_of(const Chart *c, double x)
{
	double		span = c->x_max - c->x_min;

	return PLOT_LEFT + (span > 0 ? (x - c->x_min) / span : 0.5) * PLOT_W;
}

/* Horizontal grid lines and their labels on the y axis. */
static void
y_axis(PQExpBuffer b, const Chart *c, double top, double step)
{
	for (double v = 0; v <= top + step / 2; v += step)
	{
		char		label[32];
		double		y = y_of(v, top);

		short_number(label, sizeof(label), v);
		appendPQExpBuffer(b, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" "
						  "stroke=\"%s\" stroke-width=\"1\"/>"
						  "<text x=\"%d\" y=\"%.1f\" font-size=\"12\" text-anchor=\"end\">%s%s</text>\n",
						  PLOT_LEFT, VIEW_W - PLOT_RIGHT, y, y, v == 0 ? "#9aa3b2" : "#e6e9ee",
						  PLOT_LEFT - 6, y + 4, label, c->y_suffix ? c->y_suffix : "");
	}
}

/* A time's label: "14:00", or the day ("Nov 21") at midnight or if wide. */
static void
time_label(char *buf, size_t len, double t, long step)
{
	time_t		tt = (time_t) t;
	struct tm  *tm = gmtime(&tt);

	if (step >= 86400 || (tm->tm_hour == 0 && tm->tm_min == 0))
		strftime(buf, len, "%b %d", tm);
	else
		strftime(buf, len, "%H:%M", tm);
}

/* Ticks on the x axis: at round times (UTC), or at round day numbers. */
static void
x_axis(PQExpBuffer b, const Chart *c)
{
	static const long time_steps[] = {3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400,
	2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400, 91 * 86400};
	double		span = c->x_max - c->x_min;
	long		step = 1;
	int			i;

	if (c->time_axis)
	{
		for (i = 0; i < (int) lengthof(time_steps) - 1 && span / time_steps[i] > 9; i++)
			;
		step = time_steps[i];
	}
	else
		for (step = 1; span / step > 15; step *= 2)
			;
	for (double x = ceil(c->x_min / step) * step; x <= c->x_max + 1e-9; x += step)
	{
		char		label[32];

		if (c->time_axis)
			time_label(label, sizeof(label), x, step);
		else
			snprintf(label, sizeof(label), "%s%.0f", c->x_prefix ? c->x_prefix : "", x);
		appendPQExpBuffer(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#9aa3b2\"/>"
						  "<text x=\"%.1f\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">%s</text>\n",
						  x_of(c, x), x_of(c, x), PLOT_TOP + PLOT_H, PLOT_TOP + PLOT_H + 5,
						  x_of(c, x), VIEW_H - PLOT_BOTTOM + 20, label);
	}
}

static void
svg_start(PQExpBuffer b, const Chart *c, int height)
{
	appendPQExpBuffer(b, "<svg viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"", VIEW_W, height);
	html_escape(b, c->title);
	appendPQExpBufferStr(b, "\" xmlns=\"http://www.w3.org/2000/svg\">\n");
}

/* The legend, in HTML under the chart. */
static void
legend(PQExpBuffer b, const Chart *c)
{
	appendPQExpBufferStr(b, "<ul class=\"legend\">");
	for (int s = 0; s < c->nseries; s++)
	{
		if (c->series[s].name[0] == '\0')
			continue;
		appendPQExpBuffer(b, "<li><i class=\"%s\" style=\"%s:%s\"></i>",
						  c->series[s].dashed ? "dash" : "",
						  c->series[s].dashed ? "border-color" : "background",
						  c->series[s].color);
		html_escape(b, c->series[s].name);
		appendPQExpBufferStr(b, "</li>");
	}
	appendPQExpBufferStr(b, "</ul>\n");
}

/* What the <title> of point i says: its x and each series' value. */
static void
point_title(PQExpBuffer b, const Chart *c, int i)
{
	char		label[48];

	if (c->time_axis)
	{
		time_t		tt = (time_t) c->x[i];

		strftime(label, sizeof(label), "%Y-%m-%d %H:%M UTC", gmtime(&tt));
	}
	else
		snprintf(label, sizeof(label), "%s%.0f", c->x_prefix ? c->x_prefix : "", c->x[i]);
	appendPQExpBuffer(b, "<title>%s", label);
	for (int s = 0; s < c->nseries; s++)
		if (!isnan(c->series[s].v[i]) && c->series[s].name[0] != '\0')
		{
			appendPQExpBufferStr(b, "\n");
			html_escape(b, c->series[s].name);
			appendPQExpBuffer(b, ": %.10g%s", c->series[s].v[i], c->y_suffix ? c->y_suffix : "");
		}
	appendPQExpBufferStr(b, "</title>");
}

/* ---- the charts ---- */

/*
 * Bars over x, one a point, the series stacked in their order (the first
 * at the bottom); each bar spans x_step.
 */
void
svg_stacked_bars(PQExpBuffer b, Chart *c)
{
	double		max = 0,
				top,
				step;

	for (int i = 0; i < c->npoints; i++)
	{
		double		total = 0;

		for (int s = 0; s < c->nseries; s++)
			total += isnan(c->series[s].v[i]) ? 0 : c->series[s].v[i];
		max = Max(max, total);
	}
	step = nice_step(c->y_max > 0 ? c->y_max : max, &top);
	c->x_min = c->x[0];
	c->x_max = c->x[c->npoints - 1] + c->x_step;
	svg_start(b, c, VIEW_H);
	y_axis(b, c, top, step);
	for (int i = 0; i < c->npoints; i++)
	{
		double		x0 = x_of(c, c->x[i]);
		double		w = x_of(c, c->x[i] + c->x_step) - x0;
		double		gap = w > 4 ? w * 0.12 : 0;
		double		base = 0;

		appendPQExpBufferStr(b, "<g>");
		point_title(b, c, i);
		for (int s = 0; s < c->nseries; s++)
		{
			double		v = isnan(c->series[s].v[i]) ? 0 : c->series[s].v[i];

			if (v > 0)
				appendPQExpBuffer(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\"/>",
								  x0 + gap, y_of(base + v, top), Max(w - 2 * gap, 0.5),
								  y_of(base, top) - y_of(base + v, top), c->series[s].color);
			base += v;
		}
		appendPQExpBufferStr(b, "</g>\n");
	}
	x_axis(b, c);
	appendPQExpBufferStr(b, "</svg>\n");
	legend(b, c);
}

/* One series as lines between its points; NAN leaves a gap. */
static void
series_lines(PQExpBuffer b, const Chart *c, const ChartSeries *s, double top)
{
	bool		open = false;

	for (int i = 0; i <= c->npoints; i++)
	{
		bool		have = i < c->npoints && !isnan(s->v[i]);

		if (have && !open)
		{
			appendPQExpBuffer(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s "
							  "stroke-linejoin=\"round\" points=\"",
							  s->color, s->dashed ? " stroke-dasharray=\"6 4\"" : "");
			open = true;
		}
		if (have)
			appendPQExpBuffer(b, "%.1f,%.1f ", x_of(c, c->x[i]), y_of(Min(s->v[i], top), top));
		else if (open)
		{
			appendPQExpBufferStr(b, "\"/>\n");
			open = false;
		}
	}
}

/*
 * Lines over x, one per series, on an axis from 0; a point alone (its
 * neighbours missing) is a dot.  Each point has a title.
 */
void
svg_lines(PQExpBuffer b, Chart *c)
{
	double		max = 0,
				top,
				step;

	for (int s = 0; s < c->nseries; s++)
		for (int i = 0; i < c->npoints; i++)
			if (!isnan(c->series[s].v[i]))
				max = Max(max, c->series[s].v[i]);
	step = nice_step(c->y_max > 0 ? c->y_max : max, &top);
	c->x_min = c->x[0];
	c->x_max = c->x[c->npoints - 1];
	if (c->x_max <= c->x_min)
		c->x_max = c->x_min + 1;
	svg_start(b, c, VIEW_H);
	y_axis(b, c, top, step);
	for (int s = 0; s < c->nseries; s++)
		series_lines(b, c, &c->series[s], top);
	/* dots for hover, and for points alone */
	for (int i = 0; i < c->npoints; i++)
		for (int s = 0; s < c->nseries; s++)
			if (!isnan(c->series[s].v[i]))
			{
				appendPQExpBuffer(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%s\" fill=\"%s\">",
								  x_of(c, c->x[i]), y_of(Min(c->series[s].v[i], top), top),
								  c->npoints > 60 ? "1.5" : "3", c->series[s].color);
				point_title(b, c, i);
				appendPQExpBufferStr(b, "</circle>\n");
			}
	x_axis(b, c);
	appendPQExpBufferStr(b, "</svg>\n");
	legend(b, c);
}

#define HBAR_LABEL_W 250
#define HBAR_ROW	24

/* Horizontal bars, one a label, the series stacked; the total at the end. */
void
svg_hbars(PQExpBuffer b, Chart *c, char *const *labels)
{
	double		max = 0;
	int			height = c->npoints * HBAR_ROW + 8;
	double		room = VIEW_W - HBAR_LABEL_W - 90;

	for (int i = 0; i < c->npoints; i++)
	{
		double		total = 0;

		for (int s = 0; s < c->nseries; s++)
			total += c->series[s].v[i];
		max = Max(max, total);
	}
	svg_start(b, c, height);
	for (int i = 0; i < c->npoints; i++)
	{
		double		y = 4 + i * HBAR_ROW;
		double		x = HBAR_LABEL_W + 8;
		char		total[32];
		double		sum = 0;

		appendPQExpBuffer(b, "<g><title>");
		html_escape(b, labels[i]);
		for (int s = 0; s < c->nseries; s++)
		{
			appendPQExpBufferStr(b, "\n");
			html_escape(b, c->series[s].name);
			appendPQExpBuffer(b, ": %.10g", c->series[s].v[i]);
		}
		appendPQExpBuffer(b, "</title><text x=\"%d\" y=\"%.1f\" font-size=\"13\" "
						  "text-anchor=\"end\">", HBAR_LABEL_W, y + 15);
		html_escape(b, labels[i]);
		appendPQExpBufferStr(b, "</text>");
		for (int s = 0; s < c->nseries; s++)
		{
			double		w = max > 0 ? c->series[s].v[i] / max * room : 0;

			if (w > 0)
				appendPQExpBuffer(b, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%d\" fill=\"%s\"/>",
								  x, y + 3, Max(w, 1), HBAR_ROW - 8, c->series[s].color);
			x += w;
			sum += c->series[s].v[i];
		}
		short_number(total, sizeof(total), sum);
		appendPQExpBuffer(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">%s</text></g>\n",
						  x + 6, y + 15, total);
	}
	appendPQExpBufferStr(b, "</svg>\n");
	legend(b, c);
}
