/*
 * The little of PostgreSQL's backend that the fuzzed files call, written
 * for the harnesses (fuzz/README.md): memory freed after each input, and
 * ereport(ERROR) as a longjmp back to the harness.
 */
#ifndef FUZZ_STUBS_H
#define FUZZ_STUBS_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>

/* where ereport(ERROR) jumps to; set by FUZZ_TRY */
extern sigjmp_buf *fuzz_error_jump;

/* runs stmt; true if it returned, false if it raised an ERROR */
#define FUZZ_TRY(stmt) \
	({ sigjmp_buf _jb; bool _ok; fuzz_error_jump = &_jb; \
	   if (sigsetjmp(_jb, 0) == 0) { stmt; _ok = true; } else _ok = false; \
	   fuzz_error_jump = NULL; _ok; })

/* frees what palloc gave out since the last call */
extern void fuzz_free_all(void);

/* aborts, so that libFuzzer reports the input, when cond is false */
#define FUZZ_CHECK(cond) \
	do { if (!(cond)) fuzz_fail(#cond, __FILE__, __LINE__); } while (0)
extern void fuzz_fail(const char *what, const char *file, int line) __attribute__((noreturn));

#endif
