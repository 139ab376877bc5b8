/*-------------------------------------------------------------------------
 *
 * pause.h
 *	  Pausing a key and resuming it: disable(), enable() (pause.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_PAUSE_H
#define AK_PAUSE_H

extern bool ak_key_disable(Datum key_id, text *reason);
extern bool ak_key_enable(Datum key_id);

#endif							/* AK_PAUSE_H */
