/*-------------------------------------------------------------------------
 *
 * check.h
 *	  check_request(): a PostgREST request's key, limits and headers
 *	  (check.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_PGRST_CHECK_H
#define AK_PGRST_CHECK_H

extern void ak_check_request(void);

#endif							/* AK_PGRST_CHECK_H */
