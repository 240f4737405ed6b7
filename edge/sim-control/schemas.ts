import { z } from 'zod';
import { ErrorBody } from '../../protocol/http.js';

/**
 * The simulator control's HTTP bodies (edge/sim-control/plugin.ts). Edge-local like the attendant
 * API's: nothing else speaks them.
 */

const LaneIdField = z.string().min(1).max(64);

export const SimArriveBody = z.object({
  laneId: LaneIdField,
  /** The plate the camera reads; absent: the camera sees no readable plate. */
  plate: z
    .string()
    .min(1)
    .max(16)
    .regex(/^[A-Za-z0-9 -]+$/, 'letters, digits, space and - only')
    .optional(),
  /** The QR code text the driver shows the scanner (a signed credential). */
  qr: z.string().min(1).max(4096).optional(),
  /** Confidence the camera reports for the read, 0..1 (default: random 0.85..0.99). */
  confidence: z.number().min(0).max(1).optional(),
  /** How long the driver waits for the arm before reversing away [20 s]. */
  patienceMs: z.number().int().min(100).max(120_000).default(20_000),
});

export const SimLoopBody = z.object({
  laneId: LaneIdField,
  /** 'presence' = the arming loop before the arm; 'safety' = the loop under it. */
  loop: z.enum(['presence', 'safety']),
  occupied: z.boolean(),
});

export const SimFaultBody = z.object({
  laneId: LaneIdField,
  device: z.enum(['camera', 'qr']),
  fault: z.enum(['disconnect', 'reconnect']),
});

export const SimLaneView = z.object({
  laneId: z.string(),
  direction: z.enum(['entry', 'exit']),
  arm: z.enum(['down', 'raising', 'up', 'lowering', 'jammed']),
  loops: z.object({ presence: z.boolean(), safety: z.boolean() }),
  /** null: the lane has no such device; else whether it is plugged in. */
  camera: z.boolean().nullable(),
  qr: z.boolean().nullable(),
  /** A car sent by POST /sim/arrive is at the lane. */
  busy: z.boolean(),
});

export const SimListResponse = z.object({
  lotId: z.string(),
  lanes: z.array(SimLaneView),
  /** Lanes with real devices: every /sim control refuses them. */
  realLanes: z.array(z.string()),
});

export const SimArriveResponse = z.object({
  laneId: z.string(),
  /** The arm opened and the car drove through (false: it reversed away after patienceMs). */
  admitted: z.boolean(),
  /** The lane sign when the driver drove on or gave up. */
  display: z.array(z.string()),
  /** What the camera sent (null: no camera, or no plate given). */
  read: z.object({ plate: z.string(), confidence: z.number(), delivered: z.boolean() }).nullable(),
  /** Whether the scanner took the code (null: no code shown). */
  qrScanned: z.boolean().nullable(),
  lane: SimLaneView,
});

export const SimErrors = { 400: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody } as const;
