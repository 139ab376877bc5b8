/*-------------------------------------------------------------------------
 *
 * noncefile.c
 *	  The nonce store (nonces.c) across restarts.  As the buckets'
 *	  (limit/persist.c): at a clean shutdown the launcher writes the nonces
 *	  still in their window, with the salt that digests them, to
 *	  pg_stat/apikey_nonces.stat, and the first process to attach the
 *	  shared memory after the next start reads them back, then removes the
 *	  file.
 *
 *	  Unlike buckets, nonces must not be lost silently: a lost nonce is a
 *	  replay let through.  So the postmaster also keeps a marker file,
 *	  pg_stat/apikey_nonces.running, from the start; it is removed only once
 *	  the nonces are saved.  A store that starts without its nonces --
 *	  after a crash (the postmaster re-creating shared memory), after a stop
 *	  that left the marker (an immediate shutdown, the postmaster killed,
 *	  power loss), from a base backup taken while the server ran, with a
 *	  file it cannot read, or with a wider skew window than the one the file
 *	  was written with -- notes when it was created (forgotten_before), and
 *	  nonces.c refuses requests old enough to have been accepted before.
 *	  The very first start, with neither file, has forgotten nothing.
 *
 *	  Problems are logged, never raised.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include <unistd.h>

#include "auth/nonces.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "utils/timestamp.h"

#define AK_NONCES_FILE		"pg_stat/apikey_nonces.stat"
#define AK_NONCES_RUNNING	"pg_stat/apikey_nonces.running"
#define AK_NONCES_MAGIC		0x414b4e31	/* "AKN1" */
#define AK_PG_MAJOR			(PG_VERSION_NUM / 100)

/* The file's header, written again after the records. */
typedef struct AkNonceFileHeader
{
	uint32		magic;
	uint32		pg_major;
	uint32		record_size;
	uint32		pad;
	int64		skew_us;
	TimestampTz forgotten_before;	/* the saved store's own doubt */
	uint8		salt[AK_NONCE_SALT_LEN];
} AkNonceFileHeader;

typedef struct AkSavedNonce
{
	AkNonceKey	key;
	int64		expires_us;
} AkSavedNonce;

typedef struct AkNonceDump
{
	FILE	   *file;
	int64		now_us;
	int64		count;
	bool		failed;
} AkNonceDump;

/* In the postmaster: the store was created before, so this is a crash. */
static bool ak_nonces_created_before = false;


static void
ak_nonces_forget_before_now(const char *why)
{
	ak_nonces_shared->forgotten_before = GetCurrentTimestamp();
	ereport(LOG,
			(errmsg("apikey may have forgotten the nonces of signed requests: %s", why),
			 errdetail("Signed requests with a nonce and a timestamp older than %d s from now are refused until then.",
					   (int) (ak_nonces_shared->skew_us / USECS_PER_SEC))));
}

static void
ak_nonces_mark_running(void)
{
	FILE	   *file = AllocateFile(AK_NONCES_RUNNING, PG_BINARY_W);

	if (file == NULL || FreeFile(file) != 0)
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", AK_NONCES_RUNNING)));
}

/*
 * In the postmaster, when it creates the shared memory: notes what a store
 * just created may have forgotten -- all after a crash; what a start after
 * an unclean stop lost (the marker is there, the saved nonces are not) --
 * and marks the server running.  The saved nonces are read by the first
 * process to attach (ak_nonces_load).
 */
void
ak_nonces_persist_start(bool created)
{
	if (IsUnderPostmaster || !created)
		return;
	if (ak_nonces_created_before)
		ak_nonces_forget_before_now("the server restarted after a crash");
	else if (access(AK_NONCES_RUNNING, F_OK) == 0 && access(AK_NONCES_FILE, F_OK) != 0)
		ak_nonces_forget_before_now("the server was not shut down cleanly");
	ak_nonces_created_before = true;
	ak_nonces_mark_running();
}

static void
ak_nonce_file_header(AkNonceFileHeader *h)
{
	memset(h, 0, sizeof(*h));
	h->magic = AK_NONCES_MAGIC;
	h->pg_major = AK_PG_MAJOR;
	h->record_size = sizeof(AkSavedNonce);
	h->skew_us = ak_nonces_shared->skew_us;
	h->forgotten_before = ak_nonces_shared->forgotten_before;
	memcpy(h->salt, ak_nonces_shared->salt, AK_NONCE_SALT_LEN);
}

static bool
ak_dump_nonce(void *entry, void *arg)
{
	AkNonce    *n = entry;
	AkNonceDump *dump = arg;
	AkSavedNonce saved;
	bool		keep;

	memset(&saved, 0, sizeof(saved));
	ak_shash_lock(&n->header);
	keep = n->header.live && n->expires_us > dump->now_us;
	saved.key = n->key;
	saved.expires_us = n->expires_us;
	ak_shash_unlock(&n->header);
	if (dump->failed || !keep)
		return false;
	if (fwrite(&saved, sizeof(saved), 1, dump->file) != 1)
		dump->failed = true;
	else
		dump->count++;
	return false;
}

/*
 * At shutdown, by the launcher: writes the nonces still in their window,
 * replacing the file atomically, then removes the marker.  Not after a
 * crash or an immediate shutdown: the marker then stays.
 */
void
ak_nonces_dump(void)
{
	AkNonceFileHeader header;
	AkNonceDump dump = {0};

	ak_nonce_file_header(&header);
	dump.now_us = GetCurrentTimestamp();
	dump.file = AllocateFile(AK_NONCES_FILE ".tmp", PG_BINARY_W);
	if (dump.file == NULL || fwrite(&header, sizeof(header), 1, dump.file) != 1)
		goto error;
	ak_shash_scan(&ak_nonces, LW_SHARED, ak_dump_nonce, &dump);
	if (dump.failed ||
		fwrite(&dump.count, sizeof(dump.count), 1, dump.file) != 1 ||
		fwrite(&header, sizeof(header), 1, dump.file) != 1)
		goto error;
	if (FreeFile(dump.file) != 0)
	{
		dump.file = NULL;
		goto error;
	}
	if (durable_rename(AK_NONCES_FILE ".tmp", AK_NONCES_FILE, LOG) == 0)
		unlink(AK_NONCES_RUNNING);
	return;

error:
	ereport(LOG,
			(errcode_for_file_access(),
			 errmsg("could not write file \"%s\": %m", AK_NONCES_FILE ".tmp")));
	if (dump.file)
		FreeFile(dump.file);
	unlink(AK_NONCES_FILE ".tmp");
}

/* Whether the file's header and trailer agree, and its records count. */
static bool
ak_nonce_file_valid(FILE *file, AkNonceFileHeader *header, int64 *count)
{
	AkNonceFileHeader trailer;
	long		records;

	if (fread(header, sizeof(*header), 1, file) != 1 ||
		header->magic != AK_NONCES_MAGIC || header->pg_major != AK_PG_MAJOR ||
		header->record_size != sizeof(AkSavedNonce) ||
		fseek(file, -(long) (sizeof(*count) + sizeof(trailer)), SEEK_END) != 0 ||
		fread(count, sizeof(*count), 1, file) != 1 ||
		fread(&trailer, sizeof(trailer), 1, file) != 1 ||
		memcmp(header, &trailer, sizeof(trailer)) != 0)
		return false;
	records = (ftell(file) - (long) (sizeof(*header) + sizeof(*count) + sizeof(trailer)))
		/ (long) sizeof(AkSavedNonce);
	return records == *count && fseek(file, sizeof(*header), SEEK_SET) == 0;
}

/* Reads the saved records into the store; false if one was lost. */
static bool
ak_nonces_read_records(FILE *file, int64 count)
{
	int64		now_us = GetCurrentTimestamp();
	AkSavedNonce saved;

	for (int64 i = 0; i < count; i++)
	{
		if (fread(&saved, sizeof(saved), 1, file) != 1)
			return false;
		if (saved.expires_us > now_us &&
			!ak_nonce_restore(&saved.key, saved.expires_us))
			return false;		/* apikey.max_nonces was lowered */
	}
	return true;
}

/*
 * Reads the nonces saved at the last clean shutdown, then removes the
 * file.  Returns false when there was no file.  A file that cannot be read
 * whole, or was written with a narrower window, leaves the store unsure of
 * what it forgot.  Runs in the first process that attaches the shared
 * memory after a start (limit/persist.c), which the others wait for.
 */
bool
ak_nonces_load(void)
{
	FILE	   *file = AllocateFile(AK_NONCES_FILE, PG_BINARY_R);
	AkNonceFileHeader header;
	int64		count = 0;

	if (file == NULL)
	{
		bool		missing = (errno == ENOENT);

		if (!missing)
			ak_nonces_forget_before_now("the saved nonces could not be read");
		return !missing;
	}
	if (!ak_nonce_file_valid(file, &header, &count))
		ak_nonces_forget_before_now("the file of saved nonces is not valid");
	else
	{
		memcpy(ak_nonces_shared->salt, header.salt, AK_NONCE_SALT_LEN);
		/* what the saved store could not vouch for, this one cannot either */
		ak_nonces_shared->forgotten_before = header.forgotten_before;
		if (!ak_nonces_read_records(file, count))
			ak_nonces_forget_before_now("not every saved nonce could be restored (was apikey.max_nonces lowered?)");
		else if (header.skew_us < ak_nonces_shared->skew_us)
			ak_nonces_forget_before_now("apikey.signature_max_skew was raised");
	}
	FreeFile(file);
	unlink(AK_NONCES_FILE);
	return true;
}
