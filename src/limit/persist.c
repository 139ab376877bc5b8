/*-------------------------------------------------------------------------
 *
 * persist.c
 *	  The limiter's cells (cells.c) across a clean restart, as
 *	  pg_stat_statements keeps its statistics: the launcher writes the
 *	  cells that hold something to a file when the server shuts down
 *	  cleanly, and the first process to attach apikey's shared memory after
 *	  the next start reads them back.  Concurrency counters die with their
 *	  transactions; quota counters are in apikey.quota_counters.  After a
 *	  crash the buckets start full.
 *
 *	  The file: a header (magic, format version, PostgreSQL major version,
 *	  record size), the records, their count, and the header again; written
 *	  as a .tmp file and renamed into place; removed once read, and by the
 *	  postmaster when it restarts after a crash, so that neither a crash nor
 *	  a base backup brings stale buckets back.  A file of another format or
 *	  version (pg_upgrade does not copy it) is discarded with a LOG line.
 *	  Problems are logged, never raised: the cells then start empty.
 *
 * Locking protocol
 *	  AkPersistShared.loaded is read and set under the "apikey persist"
 *	  LWLock; the first process to attach takes it exclusively, loads, and
 *	  sets it: any other that attaches meanwhile waits for the load.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include <unistd.h>

#include "auth/nonces.h"
#include "limit/cells.h"
#include "limit/named.h"
#include "limit/persist.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#define AK_CELLS_DUMP_FILE		"pg_stat/apikey_buckets.stat"
#define AK_CELLS_DUMP_MAGIC		0x414b4234	/* "AKB4" */
#define AK_CELLS_DUMP_MAGIC_0_1	0x414b4233	/* "AKB3": apikey 0.1.0's */
#define AK_CELLS_DUMP_FORMAT	4
#define AK_PG_MAJOR				(PG_VERSION_NUM / 100)

typedef struct AkPersistShared
{
	bool		loaded;
} AkPersistShared;

static AkPersistShared *ak_persist = NULL;

/* What the dump file keeps of a cell. */
typedef struct AkSavedCell
{
	AkCellKey	key;
	AkCellState state;
	Oid			dboid;			/* named cells: their owner and parameters */
	Oid			roleid;
	int64		rate;
	int64		period_us;
	int64		burst;
} AkSavedCell;

typedef uint32 AkDumpHeader[5];


/* ---- shared memory, and the postmaster's part ---- */

static void
ak_persist_forget_after_crash(int code, Datum arg)
{
	if (code != 0)
		unlink(AK_CELLS_DUMP_FILE);
}

void
ak_persist_request(void)
{
	RequestAddinShmemSpace(sizeof(AkPersistShared));
	RequestNamedLWLockTranche("apikey persist", 1);
}

/* Caller holds AddinShmemInitLock. */
void
ak_persist_shmem_init(void)
{
	bool		found;

	ak_persist = ShmemInitStruct("apikey persist", sizeof(AkPersistShared), &found);
	if (!found)
		ak_persist->loaded = false;
	if (!IsUnderPostmaster)
		on_shmem_exit(ak_persist_forget_after_crash, (Datum) 0);
}


/* ---- the dump ---- */

typedef struct AkDump
{
	FILE	   *file;
	int64		now_us;
	int64		count;
	bool		failed;
} AkDump;

static void
ak_dump_write(AkDump *dump, const AkSavedCell *saved)
{
	if (dump->failed)
		return;
	if (fwrite(saved, sizeof(*saved), 1, dump->file) != 1)
		dump->failed = true;
	else
		dump->count++;
}

/* Writes a cell that holds something; in-flight counts die with their transactions. */
static bool
ak_dump_cell(void *entry, void *arg)
{
	AkCell	   *c = entry;
	AkDump	   *dump = arg;
	AkSavedCell saved;
	bool		keep;

	memset(&saved, 0, sizeof(saved));
	ak_cell_lock(c);
	keep = c->header.live && c->key.kind != AK_CELL_CONCURRENCY &&
		!ak_cell_idle(c, dump->now_us);
	if (keep)
	{
		saved.key = c->key;
		saved.state = c->u;
		if (c->key.kind == AK_CELL_NAMED)
		{
			AkNamedCell *n = (AkNamedCell *) c;

			saved.dboid = n->dboid;
			saved.roleid = n->roleid;
			saved.rate = n->rate;
			saved.period_us = n->period_us;
			saved.burst = n->burst;
		}
	}
	ak_cell_unlock(c);
	if (keep)
		ak_dump_write(dump, &saved);
	return false;
}

static void
ak_dump_header(AkDumpHeader header)
{
	header[0] = AK_CELLS_DUMP_MAGIC;
	header[1] = AK_CELLS_DUMP_FORMAT;
	header[2] = AK_PG_MAJOR;
	header[3] = (uint32) sizeof(AkSavedCell);
	header[4] = 0;
}

/*
 * Writes the cells that are not idle to the file, replaced atomically: by
 * the launcher when the server shuts down.  Problems are logged, never
 * raised.
 */
void
ak_persist_dump(void)
{
	AkDumpHeader header;
	AkDump		dump = {0};

	ak_dump_header(header);
	dump.now_us = GetCurrentTimestamp();
	dump.file = AllocateFile(AK_CELLS_DUMP_FILE ".tmp", PG_BINARY_W);
	if (dump.file == NULL || fwrite(header, sizeof(header), 1, dump.file) != 1)
		goto error;
	for (int t = 0; t < AK_NUM_CELL_TABLES; t++)
		ak_shash_scan(&ak_cell_tables[t], LW_SHARED, ak_dump_cell, &dump);
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


/* ---- the load ---- */

/*
 * Checks the file's header and trailer; returns its record count, or -1
 * (logged) when the file is not one this build can read.
 */
static int64
ak_load_check(FILE *file)
{
	AkDumpHeader expected;
	AkDumpHeader header;
	AkDumpHeader trailer;
	int64		count;
	long		records;

	ak_dump_header(expected);
	if (fread(header, sizeof(uint32), 1, file) == 1 && header[0] == AK_CELLS_DUMP_MAGIC_0_1)
	{
		/* an upgrade from 0.1.0: its buckets were kept per key, not lineage */
		ereport(LOG,
				(errmsg("ignoring file \"%s\" written by apikey 0.1.0", AK_CELLS_DUMP_FILE),
				 errhint("Rate-limit buckets start full after this upgrade.")));
		return -1;
	}
	if (fseek(file, 0, SEEK_SET) != 0 ||
		fread(header, sizeof(header), 1, file) != 1 ||
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
		return -1;
	}
	if (memcmp(header, expected, sizeof(header)) != 0)
	{
		ereport(LOG,
				(errmsg("ignoring file \"%s\" of another format or PostgreSQL version",
						AK_CELLS_DUMP_FILE),
				 errdetail("It has format %u for PostgreSQL %u; this server reads format %u for PostgreSQL %u.",
						   header[1], header[2], expected[1], expected[2]),
				 errhint("Rate-limit buckets start full.")));
		return -1;
	}
	return count;
}

/* Puts a saved cell back; false when there is no room for it. */
static bool
ak_load_cell(const AkSavedCell *saved)
{
	if (saved->key.kind == AK_CELL_NAMED)
		return ak_named_restore(&saved->key, &saved->state.gcra, saved->dboid,
								saved->roleid, saved->rate, saved->period_us,
								saved->burst);
	return ak_cells_restore(&saved->key, &saved->state);
}

/* Reads the cells saved at the last clean shutdown, then removes the file. */
static void
ak_persist_load(void)
{
	FILE	   *file;
	AkSavedCell saved;
	int64		count;
	int64		loaded = 0;

	file = AllocateFile(AK_CELLS_DUMP_FILE, PG_BINARY_R);
	if (file == NULL)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", AK_CELLS_DUMP_FILE)));
		return;
	}
	count = ak_load_check(file);
	for (int64 i = 0; i < count; i++)
	{
		if (fread(&saved, sizeof(saved), 1, file) != 1)
		{
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", AK_CELLS_DUMP_FILE)));
			break;
		}
		if (ak_load_cell(&saved))
			loaded++;
	}
	if (count > 0 && loaded < count)
		ereport(LOG,
				(errmsg("apikey restored " INT64_FORMAT " of " INT64_FORMAT " rate-limit buckets",
						loaded, count),
				 errhint("Raise apikey.shared_memory_budget to keep them all.")));
	FreeFile(file);
	unlink(AK_CELLS_DUMP_FILE);
}

/*
 * The area's attach callback (shmem/area.c): the first process to attach
 * after the shared memory was made loads the saved cells, and the nonces
 * of signed requests (auth/noncefile.c); the others wait for it.
 */
void
ak_persist_on_attach(void)
{
	LWLock	   *lock = &GetNamedLWLockTranche("apikey persist")->lock;

	LWLockAcquire(lock, LW_SHARED);
	if (ak_persist->loaded)
	{
		LWLockRelease(lock);
		return;
	}
	LWLockRelease(lock);

	LWLockAcquire(lock, LW_EXCLUSIVE);
	if (!ak_persist->loaded)
	{
		ak_persist_load();
		(void) ak_nonces_load();
		ak_persist->loaded = true;
	}
	LWLockRelease(lock);
}

/*
 * For a launcher that starts again while the server runs: a file written
 * by its predecessor is stale the moment anything changes, and the load it
 * was for happened long ago.
 */
void
ak_persist_forget(void)
{
	if (ak_persist->loaded)
		unlink(AK_CELLS_DUMP_FILE);
}
