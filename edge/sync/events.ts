import type { DecodeFailure } from '../../protocol/mqtt.js';
import type { ConnectivityChange } from './connectivity.js';
import type { LotConfigMessage } from './ports.js';

/** What the sync client tells the rest of the edge (and tests) through `EdgeSync.events`. */
export interface EdgeSyncEvents {
  connectivity: [ConnectivityChange];
  /** A config newer than the stored one was applied. */
  config: [LotConfigMessage];
  /** A change batch (live or resync) went through the store. */
  applied: [{ applied: number; skipped: number; cursor: number }];
  /** A message was dropped; reason is a DecodeFailure or 'wrong_lot'. */
  dropped: [{ topic: string; reason: DropReason; message: string }];
  /** The cloud speaks a protocol major we do not (fleet skew); reported, message refused. */
  version_mismatch: [{ topic: string; message: string }];
  /** A resync (or snapshot) finished and the cursor caught up to what the cloud said its head was. */
  resynced: [{ cursor: number; snapshot: boolean }];
  /** A late overflow grant was cancelled. */
  overflow_cancelled: [{ correlationId: string; reservationId: string }];
}

export type DropReason = DecodeFailure | 'wrong_lot' | 'handler_error';
