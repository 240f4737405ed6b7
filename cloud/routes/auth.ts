import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  CreateUserBody,
  ErrorBody,
  RefreshBody,
  RegisterBody,
  TokenBody,
  TokenResponse,
  UserView,
} from '../../protocol/http.js';
import { HttpError, unwrap } from '../errors.js';
import type { CloudApi } from './api.js';

/** Accounts and tokens: register, log in, refresh, who am I, and admin-created users. */
export const authRoutes: FastifyPluginAsyncZod = async (app) => {
  registerRoute(app);
  tokenRoute(app);
  refreshRoute(app);
  meRoute(app);
  createUserRoute(app);
};

/** Self-service sign-up makes drivers only; other roles come from an admin. */
function registerRoute(app: CloudApi): void {
  app.post(
    '/v1/auth/register',
    {
      config: { access: 'public', throttle: 'register' },
      schema: {
        tags: ['auth'],
        summary: 'Register a driver account; returns tokens',
        security: [],
        body: RegisterBody,
        response: { 201: TokenResponse, 400: ErrorBody, 409: ErrorBody },
      },
    },
    async (req, reply) => {
      const user = unwrap(
        await app.users.create({ email: req.body.email, password: req.body.password, role: 'driver' }),
      );
      return reply.code(201).send(await app.issueTokens(user));
    },
  );
}

function tokenRoute(app: CloudApi): void {
  app.post(
    '/v1/auth/token',
    {
      config: { access: 'public', throttle: 'login' },
      schema: {
        tags: ['auth'],
        summary: 'Log in with email and password',
        security: [],
        body: TokenBody,
        response: { 200: TokenResponse, 400: ErrorBody, 401: ErrorBody },
      },
    },
    async (req) => {
      const found = await app.users.authenticate(req.body.email, req.body.password);
      if (found === null) {
        throw new HttpError({
          status: 401,
          error: 'invalid_credentials',
          message: 'email or password is wrong',
        });
      }
      const user = await app.users.byId(found.id);
      if (user === null)
        throw new HttpError({ status: 401, error: 'invalid_credentials', message: 'user is gone' });
      return app.issueTokens(user);
    },
  );
}

function refreshRoute(app: CloudApi): void {
  app.post(
    '/v1/auth/refresh',
    {
      config: { access: 'public', throttle: 'refresh' },
      schema: {
        tags: ['auth'],
        summary: 'Trade a refresh token for new tokens (the old refresh token is spent)',
        security: [],
        body: RefreshBody,
        response: { 200: TokenResponse, 400: ErrorBody, 401: ErrorBody },
      },
    },
    async (req) => {
      const { user: found, refreshToken } = unwrap(await app.users.rotateRefreshToken(req.body.refreshToken));
      const user = await app.users.byId(found.id);
      if (user === null)
        throw new HttpError({ status: 401, error: 'invalid_refresh_token', message: 'user is gone' });
      return app.issueTokens(user, refreshToken);
    },
  );
}

function meRoute(app: CloudApi): void {
  app.get(
    '/v1/me',
    {
      config: { access: 'authenticated' },
      schema: { tags: ['auth'], summary: 'The current user', response: { 200: UserView, 401: ErrorBody } },
    },
    async (req) => {
      const user = await app.users.byId(req.user.id);
      if (user === null) throw new HttpError({ status: 401, error: 'unauthorized', message: 'user is gone' });
      return user;
    },
  );
}

function createUserRoute(app: CloudApi): void {
  app.post(
    '/v1/users',
    {
      config: { access: ['admin'] },
      schema: {
        tags: ['auth'],
        summary: 'Create a user with any role (admin)',
        body: CreateUserBody,
        response: {
          201: UserView,
          400: ErrorBody,
          401: ErrorBody,
          403: ErrorBody,
          404: ErrorBody,
          409: ErrorBody,
        },
      },
    },
    async (req, reply) => reply.code(201).send(unwrap(await app.users.create(req.body))),
  );
}
