/*-------------------------------------------------------------------------
 *
 * persist.c
 *	  The cell table (cells.c) across a clean restart, as pg_stat_statements
 *	  keeps its statistics: the postmaster writes the cells that hold
 *	  something to a file when it shuts down cleanly, and reads them back
 *	  when it creates the shared memory again.  After a crash the buckets
 *	  start full, and quota counters start again from the keys' rows.
 *
 *	  The file: a header (magic, PostgreSQL major version, record size), the
 *	  records, their count, and the header again; written as a .tmp file
 *	  and renamed into place; removed once read, so that neither a crash nor
 *	  a base backup brings stale buckets back.  Problems are logged, never
 *	  raised: the cells then start empty.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include <unistd.h>

#include "limit/cells.h"
#include "limit/persist.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "utils/timestamp.h"

#define AK_CELLS_DUMP_FILE		"pg_stat/apikey_buckets.stat"
#define AK_CELLS_DUMP_MAGIC		0x414b4233	/* "AKB3" */
#define AK_PG_MAJOR				(PG_VERSION_NUM / 100)

static void ak_cells_load(void);
static void ak_cells_dump(int code, Datum arg);

/*
 * In the postmaster, when it attaches the shared memory: loads the saved
 * cells into a table just created, and saves them at a clean shutdown.
 */
void
ak_cells_persist_start(bool created)
{
	if (IsUnderPostmaster)
		return;
	if (created)
		ak_cells_load();
	on_shmem_exit(ak_cells_dump, (Datum) 0);
}

/* What the dump file keeps of a cell. */
typedef struct AkSavedCell
{
	AkCellKey	key;
	AkCellState state;
} AkSavedCell;

/* The dump in progress: its file, and what it counted. */
typedef struct AkDump
{
	FILE	   *file;
	int64		now_us;
	int32		period[AK_NUM_PERIODS];
	int64		count;
	bool		failed;
} AkDump;

/* Writes a cell that holds something; in-flight counts die with their transactions. */
static bool
ak_dump_cell(void *entry, void *arg)
{
	AkCell	   *c = entry;
	AkDump	   *dump = arg;
	AkSavedCell saved;

	if (dump->failed || c->key.kind == AK_CELL_CONCURRENCY ||
		ak_cell_idle(c, dump->now_us, dump->period))
		return false;
	memset(&saved, 0, sizeof(saved));
	saved.key = c->key;
	saved.state = c->u;
	if (fwrite(&saved, sizeof(saved), 1, dump->file) != 1)
		dump->failed = true;
	else
		dump->count++;
	return false;
}

/*
 * on_shmem_exit callback of the postmaster: writes the cells that are not
 * idle to a file, replaced atomically.  Skipped after a crash (code != 0):
 * then the buckets start full.  Problems are logged, never raised.
 */
static void
ak_cells_dump(int code, Datum arg)
{
	uint32		header[4] = {AK_CELLS_DUMP_MAGIC, AK_PG_MAJOR,
	(uint32) sizeof(AkSavedCell), 0};
	AkDump		dump = {0};

	if (code != 0 || ak_cells.table == NULL)
		return;
	dump.now_us = GetCurrentTimestamp();
	ak_periods_at(dump.now_us, dump.period);

	dump.file = AllocateFile(AK_CELLS_DUMP_FILE ".tmp", PG_BINARY_W);
	if (dump.file == NULL || fwrite(header, sizeof(header), 1, dump.file) != 1)
		goto error;
	ak_shash_scan_unlocked(&ak_cells, ak_dump_cell, &dump);
	if (dump.failed ||
		fwrite(&dump.count, sizeof(dump.count), 1, dump.file) != 1 ||
		fwrite(header, sizeof(header), 1, dump.file) != 1)
		goto error;
	if (FreeFile(dump.file) != 0)
	{
		dump.file = NULL;
		goto error;
	}
	(void) durable_rename(AK_CELLS_DUMP_FILE ".tmp", AK_CELLS_DUMP_FILE, LOG);
	return;

error:
	ereport(LOG,
			(errcode_for_file_access(),
			 errmsg("could not write file \"%s\": %m", AK_CELLS_DUMP_FILE ".tmp")));
	if (dump.file)
		FreeFile(dump.file);
	unlink(AK_CELLS_DUMP_FILE ".tmp");
}

/*
 * Reads the cells saved at the last clean shutdown, then removes the file
 * so that neither a crash nor a base backup can bring stale buckets back.
 * Runs in the postmaster before any backend exists.
 */
static void
ak_cells_load(void)
{
	FILE	   *file;
	uint32		header[4];
	uint32		trailer[4];
	AkSavedCell saved;
	int64		count = 0;
	int64		loaded = 0;
	long		records;

	file = AllocateFile(AK_CELLS_DUMP_FILE, PG_BINARY_R);
	if (file == NULL)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", AK_CELLS_DUMP_FILE)));
		return;
	}

	if (fread(header, sizeof(header), 1, file) != 1 ||
		header[0] != AK_CELLS_DUMP_MAGIC || header[1] != AK_PG_MAJOR ||
		header[2] != sizeof(AkSavedCell) ||
		fseek(file, -(long) (sizeof(count) + sizeof(trailer)), SEEK_END) != 0 ||
		fread(&count, sizeof(count), 1, file) != 1 ||
		fread(trailer, sizeof(trailer), 1, file) != 1 ||
		memcmp(header, trailer, sizeof(header)) != 0 ||
		(records = (ftell(file) - (long) (sizeof(header) + sizeof(count) + sizeof(trailer)))
		 / (long) sizeof(AkSavedCell)) != count ||
		fseek(file, sizeof(header), SEEK_SET) != 0)
	{
		ereport(LOG,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("ignoring invalid data in file \"%s\"", AK_CELLS_DUMP_FILE)));
		goto done;
	}

	for (int64 i = 0; i < count; i++)
	{
		AkCell	   *c;

		if (fread(&saved, sizeof(saved), 1, file) != 1)
		{
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", AK_CELLS_DUMP_FILE)));
			break;
		}
		c = ak_shash_insert_unlocked(&ak_cells, &saved.key, NULL);
		if (c == NULL)
			break;				/* apikey.max_buckets was lowered */
		c->u = saved.state;
		if (c->key.kind == AK_CELL_QUOTA)
		{
			/*
			 * Clean: the stopping worker wrote them to keys, and the next
			 * debit marks them again.  Marked dirty, a standby's counters
			 * (no worker there) would never be evictable.
			 */
			c->u.quota.dirty = c->u.quota.queued = c->u.quota.flushing = false;
		}
		else
			c->u.gcra.scale = Max(c->u.gcra.scale, 1);
		loaded++;
	}
	if (loaded < count)
		ereport(LOG,
				(errmsg("apikey restored " INT64_FORMAT " of " INT64_FORMAT " rate-limit buckets",
						loaded, count),
				 errhint("Raise apikey.max_buckets to keep them all.")));

done:
	FreeFile(file);
	unlink(AK_CELLS_DUMP_FILE);
}
