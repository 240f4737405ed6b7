import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { cancelReservationRoute, completeReservationRoute } from './reservations/actions.js';
import { changeReservationRoute } from './reservations/change.js';
import { createReservationRoute } from './reservations/create.js';
import { getReservationRoute, listReservationsRoute } from './reservations/listing.js';
import { reservationQrRoute } from './reservations/qr.js';

/**
 * The driver-facing reservation API, one route per function in `reservations/`: hold, pay, cancel,
 * read, list, QR image. Registered in this order (the OpenAPI document lists them so).
 */
export const reservationRoutes: FastifyPluginAsyncZod = async (app) => {
  createReservationRoute(app);
  completeReservationRoute(app);
  cancelReservationRoute(app);
  getReservationRoute(app);
  listReservationsRoute(app);
  reservationQrRoute(app);
  changeReservationRoute(app);
};
