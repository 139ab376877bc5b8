/*-------------------------------------------------------------------------
 *
 * refund.h
 *	  Units given back if the transaction that consumed them rolls back
 *	  (refund.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_REFUND_H
#define AK_REFUND_H

#include "access/xact.h"
#include "limit/quota.h"

extern void ak_refund_on_rollback(const AkKeyInfo *key, const AkQuotaCharge *charge,
								  const AkQuotaCharge *owner_charge, int64 cost,
								  TimestampTz charged_at);
extern void ak_refund_at_xact_end(XactEvent event);
extern void ak_refund_at_subxact_end(SubXactEvent event, SubTransactionId mySubid,
									 SubTransactionId parentSubid);

#endif							/* AK_REFUND_H */
