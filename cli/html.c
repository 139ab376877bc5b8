/*-------------------------------------------------------------------------
 *
 * html.c
 *	  pg_apikey: HTML for the usage report: escaping, the page around the
 *	  sections (its style sheet inline, print rules included), and tables
 *	  of query results.
 *
 * Every text that comes from the database goes through html_escape: a key
 * named <script> is shown as written.  The page loads nothing: its
 * Content-Security-Policy forbids any fetch, and it has no script.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "catalog/pg_type_d.h"
#include "pg_apikey.h"

static const char page_style[] =
"*{box-sizing:border-box}"
"body{margin:0;background:#f4f5f7;color:#1d2330;"
"font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif}"
"main{max-width:1120px;margin:0 auto;padding:24px 20px 48px}"
"header{margin-bottom:16px}"
"h1{font-size:24px;margin:0 0 4px}"
"h2{font-size:17px;margin:0 0 10px}"
"h3{font-size:14px;margin:14px 0 6px}"
".meta{color:#5a6272;margin:0}"
".notice{background:#fff6db;border:1px solid #e8d48a;border-radius:6px;padding:8px 12px;margin:12px 0}"
"section{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:16px 18px;margin:0 0 16px}"
".cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px;margin:14px 0 16px}"
".card{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:10px 14px}"
".card b{display:block;font-size:22px}"
".card span{color:#5a6272;font-size:12px}"
"svg{display:block;width:100%;height:auto}"
"svg text{font-family:inherit;fill:#5a6272}"
".legend{display:flex;flex-wrap:wrap;gap:4px 16px;margin:6px 0 0;padding:0;list-style:none;font-size:12px}"
".legend i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:5px;"
"vertical-align:-1px}"
".legend i.dash{height:0;border-top:2px dashed;border-radius:0;vertical-align:3px}"
"table{border-collapse:collapse;width:100%;font-size:13px;margin-top:8px}"
"th,td{padding:4px 8px;border-bottom:1px solid #e6e9ee;text-align:left;vertical-align:top}"
"th{background:#f0f2f5;font-weight:600;white-space:nowrap}"
"td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
"td{white-space:nowrap}td.w{white-space:normal;min-width:10em}"
".scroll{overflow-x:auto}"
"td.k{font-family:ui-monospace,'DejaVu Sans Mono',Menlo,Consolas,monospace;white-space:nowrap}"
".tag{display:inline-block;border-radius:9px;padding:0 7px;font-size:12px;white-space:nowrap}"
".active{background:#dff3e4;color:#1e6b34}.rotating{background:#e3ecfb;color:#24528f}"
".revoked{background:#f3e0e0;color:#8a2b2b}.expired{background:#ececec;color:#555}"
".soon{background:#fff0d1;color:#8a5a00}"
".note{color:#5a6272;font-size:12px;margin:6px 0 0}"
".empty{color:#5a6272;font-style:italic}"
"@media (max-width:700px){main{padding:12px 8px}section{padding:12px 10px}"
"td,th{padding:3px 5px}}"
"@page{size:A4;margin:12mm}"
"@media print{body{background:#fff;font-size:10pt}main{max-width:none;padding:0}"
"section,.card{border-color:#bbb;break-inside:avoid;page-break-inside:avoid}"
"section.long{break-inside:auto;page-break-inside:auto}"
"*{-webkit-print-color-adjust:exact;print-color-adjust:exact}}";

void
html_escape(PQExpBuffer b, const char *s)
{
	for (; s && *s; s++)
	{
		switch (*s)
		{
			case '&':
				appendPQExpBufferStr(b, "&amp;");
				break;
			case '<':
				appendPQExpBufferStr(b, "&lt;");
				break;
			case '>':
				appendPQExpBufferStr(b, "&gt;");
				break;
			case '"':
				appendPQExpBufferStr(b, "&quot;");
				break;
			case '\'':
				appendPQExpBufferStr(b, "&#39;");
				break;
			default:
				/* control characters have no place in a page */
				if ((unsigned char) *s < 0x20 && *s != '\n' && *s != '\t')
					appendPQExpBufferChar(b, '?');
				else
					appendPQExpBufferChar(b, *s);
		}
	}
}

void
html_page_start(PQExpBuffer b, const char *title)
{
	appendPQExpBufferStr(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
						 "<meta charset=\"utf-8\">\n"
						 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
						 "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
						 "style-src 'unsafe-inline'; img-src data:\">\n"
						 "<link rel=\"icon\" href=\"data:,\">\n<title>");
	html_escape(b, title);
	appendPQExpBuffer(b, "</title>\n<style>%s</style>\n</head>\n<body>\n<main>\n", page_style);
}

void
html_page_end(PQExpBuffer b)
{
	appendPQExpBufferStr(b, "</main>\n</body>\n</html>\n");
}

static bool
numeric_type(Oid type)
{
	return type == INT2OID || type == INT4OID || type == INT8OID ||
		type == FLOAT4OID || type == FLOAT8OID || type == NUMERICOID;
}

/* Columns of sentences or names, which may wrap; the others do not. */
static bool
free_text(const char *column)
{
	static const char *const wrapping[] = {"name", "notes", "codes",
	"failed verifications (audit_log)", NULL};

	for (int i = 0; wrapping[i]; i++)
		if (strcmp(column, wrapping[i]) == 0)
			return true;
	return false;
}

/* A status of key_list as a coloured tag. */
static void
status_tag(PQExpBuffer b, const char *status)
{
	static const char *const known[] = {"active", "rotating", "revoked", "expired", NULL};

	for (int i = 0; known[i]; i++)
		if (strcmp(status, known[i]) == 0)
		{
			appendPQExpBuffer(b, "<span class=\"tag %s\">%s</span>", known[i], known[i]);
			return;
		}
	html_escape(b, status);
}

static void
table_head(PQExpBuffer b, const PGresult *res)
{
	appendPQExpBufferStr(b, "<div class=\"scroll\"><table>\n<thead><tr>");
	for (int c = 0; c < PQnfields(res); c++)
	{
		appendPQExpBuffer(b, "<th%s>", numeric_type(PQftype(res, c)) ? " class=\"n\"" : "");
		html_escape(b, PQfname(res, c));
		appendPQExpBufferStr(b, "</th>");
	}
	appendPQExpBufferStr(b, "</tr></thead>\n<tbody>\n");
}

/*
 * A table of a result: numbers aligned right, the column named monospace
 * (display prefixes) in a fixed-width font, a column named "status" as
 * tags; every cell escaped.
 */
void
html_table(PQExpBuffer b, const PGresult *res, const char *monospace)
{
	table_head(b, res);
	for (int r = 0; r < PQntuples(res); r++)
	{
		appendPQExpBufferStr(b, "<tr>");
		for (int c = 0; c < PQnfields(res); c++)
		{
			const char *name = PQfname(res, c);
			const char *value = PQgetvalue(res, r, c);

			if (numeric_type(PQftype(res, c)))
				appendPQExpBufferStr(b, "<td class=\"n\">");
			else if (monospace && strcmp(name, monospace) == 0)
				appendPQExpBufferStr(b, "<td class=\"k\">");
			else if (free_text(name))
				appendPQExpBufferStr(b, "<td class=\"w\">");
			else
				appendPQExpBufferStr(b, "<td>");
			if (strcmp(name, "status") == 0)
				status_tag(b, value);
			else
				html_escape(b, value);
			appendPQExpBufferStr(b, "</td>");
		}
		appendPQExpBufferStr(b, "</tr>\n");
	}
	appendPQExpBufferStr(b, "</tbody>\n</table></div>\n");
}
