/*-------------------------------------------------------------------------
 *
 * spi.c
 *	  Statements with parameters through SPI, and columns of values sent as
 *	  one array parameter each: how the management functions and the worker
 *	  write to apikey's tables.  The caller has connected to SPI.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "core/spi.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/lsyscache.h"

void
ak_param(AkParams *p, Oid type, Datum value, bool isnull)
{
	Assert(p->n < AK_MAX_PARAMS);
	p->types[p->n] = type;
	p->values[p->n] = isnull ? (Datum) 0 : value;
	p->nulls[p->n] = isnull ? 'n' : ' ';
	p->n++;
}

/* A pass-by-reference value, NULL for SQL NULL. */
void
ak_param_ptr(AkParams *p, Oid type, const void *ptr)
{
	ak_param(p, type, PointerGetDatum(ptr), ptr == NULL);
}

/*
 * Runs a statement; returns the number of rows it processed or returned.
 * A failure, or a result other than expect (unless AK_SPI_ANY), is an
 * internal error: apikey's statements are its own.
 */
uint64
ak_spi_exec(const char *sql, const AkParams *p, int expect)
{
	int			rc;

	rc = SPI_execute_with_args(sql, p ? p->n : 0,
							   p ? (Oid *) p->types : NULL,
							   p ? (Datum *) p->values : NULL,
							   p ? p->nulls : NULL,
							   false, 0);
	if (rc < 0 || (expect != AK_SPI_ANY && rc != expect))
		elog(ERROR, "apikey: unexpected result of SPI_execute_with_args: %s",
			 SPI_result_code_string(rc));
	return SPI_processed;
}

Datum
ak_spi_value(uint64 row, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
						 col, isnull);
}

/*
 * n values of type elemtype (nulls may be NULL: none) as a one-dimensional
 * array; *argtype is set to the array type, for SPI.
 */
Datum
ak_array_datum(Datum *values, bool *nulls, int n, Oid elemtype, Oid *argtype)
{
	int16		len;
	bool		byval;
	char		align;
	int			dims[1] = {n};
	int			lbs[1] = {1};

	get_typlenbyvalalign(elemtype, &len, &byval, &align);
	*argtype = get_array_type(elemtype);
	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs,
											  elemtype, len, byval, align));
}


/* ---- columns ---- */

/* Room for nrows rows of ncols columns, every value NULL if null. */
void
ak_columns_init(AkColumns *c, const Oid *elemtypes, int ncols, int nrows,
				bool null)
{
	Assert(ncols <= AK_MAX_PARAMS);
	c->ncols = ncols;
	c->nrows = nrows;
	c->elemtypes = elemtypes;
	for (int col = 0; col < ncols; col++)
	{
		c->values[col] = palloc0(Max(nrows, 1) * sizeof(Datum));
		c->nulls[col] = palloc(Max(nrows, 1) * sizeof(bool));
		memset(c->nulls[col], null, Max(nrows, 1) * sizeof(bool));
	}
}

void
ak_column_set(AkColumns *c, int col, int row, Datum value)
{
	Assert(col < c->ncols && row < c->nrows);
	c->values[col][row] = value;
	c->nulls[col][row] = false;
}

void
ak_column_set_null(AkColumns *c, int col, int row)
{
	Assert(col < c->ncols && row < c->nrows);
	c->values[col][row] = (Datum) 0;
	c->nulls[col][row] = true;
}

/* Appends the columns, as arrays, to p: column c is the next parameter. */
void
ak_columns_params(const AkColumns *c, AkParams *p)
{
	for (int col = 0; col < c->ncols; col++)
	{
		Oid			argtype;
		Datum		array = ak_array_datum(c->values[col], c->nulls[col], c->nrows,
										   c->elemtypes[col], &argtype);

		ak_param(p, argtype, array, false);
	}
}
