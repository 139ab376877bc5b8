/*-------------------------------------------------------------------------
 *
 * spi.h
 *	  Statements with parameters, and columns of values sent as arrays:
 *	  the one way apikey runs SQL (spi.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_SPI_H
#define AK_SPI_H

#define AK_MAX_PARAMS		32

/* The parameters of a statement, $1 to $n. */
typedef struct AkParams
{
	int			n;
	Oid			types[AK_MAX_PARAMS];
	Datum		values[AK_MAX_PARAMS];
	char		nulls[AK_MAX_PARAMS];
} AkParams;

/* Any result of a statement that succeeded, for ak_spi_exec's expect. */
#define AK_SPI_ANY			0

extern void ak_param(AkParams *p, Oid type, Datum value, bool isnull);
extern void ak_param_ptr(AkParams *p, Oid type, const void *ptr);
extern uint64 ak_spi_exec(const char *sql, const AkParams *p, int expect);
extern Datum ak_spi_value(uint64 row, int col, bool *isnull);

/*
 * Columns of values, one array parameter each, for statements that write
 * many rows at once: "... FROM unnest($1::uuid[], $2::int8[], ...)".
 * Column c of a set built with elemtypes[] is parameter $(c + 1).
 */
typedef struct AkColumns
{
	int			ncols;
	int			nrows;
	const Oid  *elemtypes;
	Datum	   *values[AK_MAX_PARAMS];
	bool	   *nulls[AK_MAX_PARAMS];
} AkColumns;

extern void ak_columns_init(AkColumns *c, const Oid *elemtypes, int ncols,
							int nrows, bool null);
extern void ak_column_set(AkColumns *c, int col, int row, Datum value);
extern void ak_column_set_null(AkColumns *c, int col, int row);
extern void ak_columns_params(const AkColumns *c, AkParams *p);

extern Datum ak_array_datum(Datum *values, bool *nulls, int n, Oid elemtype,
							Oid *argtype);

#endif							/* AK_SPI_H */
