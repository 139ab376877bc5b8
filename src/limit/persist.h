/*-------------------------------------------------------------------------
 *
 * persist.h
 *	  The cell table across a clean restart (persist.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_PERSIST_H
#define AK_PERSIST_H

extern void ak_cells_persist_start(bool created);

#endif							/* AK_PERSIST_H */
