/*-------------------------------------------------------------------------
 *
 * jwtrole.h
 *	  Which roles a JWT minted by exchange() may name (jwtrole.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_JWTROLE_H
#define AK_JWTROLE_H

extern const char *ak_jwt_role_rule;

extern const char *ak_jwt_role_problem(const char *role);

#endif							/* AK_JWTROLE_H */
