/*-------------------------------------------------------------------------
 *
 * ddl.h
 *	  Statements that need a database without connections stop its worker
 *	  first (ddl.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_DDL_H
#define AK_DDL_H

extern void ak_ddl_install_hook(void);

#endif							/* AK_DDL_H */
