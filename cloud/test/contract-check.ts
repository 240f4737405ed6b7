import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';

/**
 * The contract check behind `contract.test.ts`: reads an app's `/openapi.json` and holds the app to
 * it. For every documented route and method it sends a valid request (a fixture) and requests
 * derived from the document's own schemas (a field dropped, a wrong type, an over-long string,
 * random text), then checks that the status is one the document lists for that route, that the body
 * validates against the schema documented for that status and media type, that what the document
 * allows is never refused as `validation_failed` and what it forbids is never accepted. It also
 * lists routes the app serves that the document does not show. Returns the problems found.
 */

// ajv-formats is CommonJS with `exports.default`; under NodeNext the default import is the module.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  ajv: Ajv,
) => Ajv;

type Json = Record<string, unknown>;
type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

/** One request, all parts as the client sends them (path parameters unencoded). */
export interface ContractRequest {
  token?: string;
  params?: Record<string, string>;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: unknown;
}

/** A valid request for one route ("POST /v1/lots/{lotId}/arrivals"), sent in the listed order. */
export interface ContractStep {
  route: string;
  request: () => ContractRequest | Promise<ContractRequest>;
  /** The status the valid request must get. */
  expect: number;
  /** Reads what later steps need (ids, tokens). */
  after?: (body: unknown) => void;
}

export interface ContractOptions {
  /** Served but deliberately not in the document (the document itself, metrics, Swagger UI). */
  undocumented: RegExp[];
  /** Random derived requests per route, on top of one of each kind per field. */
  randomPerRoute: number;
  seed: number;
}

interface Operation {
  route: string;
  method: Method;
  path: string;
  op: Json;
}

interface Field {
  where: 'body' | 'query' | 'params' | 'headers';
  name: string;
  required: boolean;
  schema: Json;
}

type MutationKind = 'drop' | 'wrongType' | 'overLong' | 'text';
interface Mutation {
  field: Field;
  kind: MutationKind;
  n: number;
  text: string;
}

/**
 * OpenAPI 3.0 schemas are JSON Schema draft 4 in one respect Ajv (draft 7) reads differently:
 * `exclusiveMinimum: true` beside `minimum` (a boolean) is draft 7's `exclusiveMinimum: <number>`.
 */
export function openApiToJsonSchema<T>(value: T): T {
  if (Array.isArray(value)) return value.map(openApiToJsonSchema) as T;
  if (value === null || typeof value !== 'object') return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) out[k] = openApiToJsonSchema(v);
  for (const [flag, bound] of [
    ['exclusiveMinimum', 'minimum'],
    ['exclusiveMaximum', 'maximum'],
  ] as const) {
    if (typeof out[flag] !== 'boolean') continue;
    if (out[flag] === true) {
      out[flag] = out[bound];
      delete out[bound];
    } else delete out[flag];
  }
  return out as T;
}

const pointerEscape = (s: string) => s.replaceAll('~', '~0').replaceAll('/', '~1');

export class ContractChecker {
  readonly problems: string[] = [];
  /** Requests sent, valid and derived. */
  sent = 0;
  private readonly ajv: Ajv;
  private readonly coercing: Ajv;
  private readonly compiled = new Map<string, ValidateFunction>();
  private readonly ops: Operation[];

  constructor(
    private readonly app: FastifyInstance,
    private readonly doc: Json,
  ) {
    this.doc = openApiToJsonSchema(doc);
    this.ajv = addFormats(new Ajv({ strict: false, allErrors: true }));
    this.coercing = addFormats(new Ajv({ strict: false, allErrors: true, coerceTypes: true }));
    const paths = (this.doc.paths ?? {}) as Record<string, Record<string, Json>>;
    this.ops = Object.entries(paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([m, op]) => ({
        route: `${m.toUpperCase()} ${path}`,
        method: m.toUpperCase() as Method,
        path,
        op,
      })),
    );
  }

  /** Every documented route, e.g. "GET /v1/lots/{lotId}". */
  documentedRoutes(): string[] {
    return this.ops.map((o) => o.route);
  }

  /** Routes the app serves (from its router) that the document does not show. */
  checkUndocumentedRoutes(allowed: RegExp[]): void {
    const documented = new Set(this.documentedRoutes());
    for (const route of servedRoutes(this.app)) {
      const [, path] = route.split(' ') as [string, string];
      if (documented.has(route) || allowed.some((re) => re.test(path))) continue;
      this.problems.push(`${route} is served but not in /openapi.json`);
    }
  }

  /** The steps in order, then the derived requests for each step's route. */
  async run(steps: ContractStep[], opts: ContractOptions): Promise<void> {
    this.checkUndocumentedRoutes(opts.undocumented);
    const covered = new Set(steps.map((s) => s.route));
    for (const route of this.documentedRoutes()) {
      if (!covered.has(route)) this.problems.push(`${route} is documented but has no contract fixture`);
    }
    const valid: { op: Operation; request: ContractRequest }[] = [];
    for (const step of steps) {
      const op = this.ops.find((o) => o.route === step.route);
      if (op === undefined) {
        this.problems.push(`${step.route} has a fixture but is not in /openapi.json`);
        continue;
      }
      const request = await step.request();
      const res = await this.check(op, request, 'valid request');
      if (res !== null && res.status !== step.expect) {
        this.problems.push(
          `${op.route} valid request: ${res.status} ${trim(res.raw)}, expected ${step.expect}`,
        );
      }
      if (res !== null) step.after?.(res.json);
      valid.push({ op, request });
    }
    for (const { op, request } of valid) {
      for (const m of this.mutations(op, opts)) {
        await this.check(op, mutate(request, m), `${m.kind} ${m.field.where}.${m.field.name}`);
      }
    }
  }

  /** One of each kind for every field, plus random ones from fast-check (seeded). */
  private mutations(op: Operation, opts: ContractOptions): Mutation[] {
    const fields = this.fields(op);
    if (fields.length === 0) return [];
    const systematic = fields.flatMap((field) =>
      (['drop', 'wrongType', 'overLong'] as const).map((kind) => ({ field, kind, n: 1, text: '' })),
    );
    const random = fc.sample(
      fc.record({
        field: fc.constantFrom(...fields),
        kind: fc.constantFrom<MutationKind>('drop', 'wrongType', 'overLong', 'text', 'text'),
        n: fc.integer({ min: 1, max: 40 }),
        text: fc.oneof(fc.string({ maxLength: 24 }), fc.string({ unit: 'grapheme', maxLength: 12 })),
      }),
      { numRuns: opts.randomPerRoute, seed: opts.seed },
    );
    return [...systematic, ...random].filter((m) => applicable(m));
  }

  /** The request's parts as the document describes them. */
  private fields(op: Operation): Field[] {
    const out: Field[] = [];
    for (const p of (op.op.parameters ?? []) as Json[]) {
      const where = ({ path: 'params', query: 'query', header: 'headers' } as const)[p.in as string];
      if (where === undefined) continue;
      out.push({ where, name: String(p.name), required: p.required === true, schema: p.schema as Json });
    }
    const body = this.bodySchema(op);
    if (body !== null) {
      const required = new Set((body.required ?? []) as string[]);
      for (const [name, schema] of Object.entries((body.properties ?? {}) as Record<string, Json>)) {
        out.push({ where: 'body', name, required: required.has(name), schema: this.deref(schema) });
      }
    }
    return out;
  }

  private bodySchema(op: Operation): Json | null {
    const content = (op.op.requestBody as Json | undefined)?.content as Record<string, Json> | undefined;
    const schema = content?.['application/json']?.schema as Json | undefined;
    return schema === undefined ? null : this.deref(schema);
  }

  private deref(schema: Json): Json {
    const ref = schema.$ref;
    if (typeof ref !== 'string' || !ref.startsWith('#/')) return schema;
    let at: unknown = this.doc;
    for (const part of ref.slice(2).split('/'))
      at = (at as Json)[part.replaceAll('~1', '/').replaceAll('~0', '~')];
    return this.deref(at as Json);
  }

  /** A schema fragment of the document, compiled once, resolving `#/components/...` references. */
  private validator(pointer: string, schema: Json, coerce = false): ValidateFunction {
    const key = `${coerce}:${pointer}`;
    let v = this.compiled.get(key);
    if (v === undefined) {
      const wrapped = { components: this.doc.components, allOf: [schema] };
      v = (coerce ? this.coercing : this.ajv).compile(wrapped);
      this.compiled.set(key, v);
    }
    return v;
  }

  /** Whether the document allows the request (all parameters and the body). */
  private allows(op: Operation, req: ContractRequest): boolean {
    for (const f of this.fields(op)) {
      if (f.where === 'body') continue;
      const value = req[f.where]?.[f.name];
      if (value === undefined) {
        if (f.required) return false;
        continue;
      }
      // Wrapped in an object so that Ajv may coerce the text of a query or path value to a number.
      const schema = { type: 'object', properties: { value: f.schema } };
      if (!this.validator(`${op.route} ${f.where} ${f.name}`, schema, true)({ value })) return false;
    }
    const body = this.bodySchema(op);
    if (body !== null) {
      const required = (op.op.requestBody as Json).required === true;
      if (req.body === undefined) return !required;
      if (!this.validator(`${op.route} body`, body)(structuredClone(req.body))) return false;
    }
    return true;
  }

  /** Sends one request and checks the answer against the document; null if it could not be sent. */
  private async check(
    op: Operation,
    req: ContractRequest,
    what: string,
  ): Promise<{ status: number; json: unknown; raw: string } | null> {
    const allowed = this.allows(op, req);
    this.sent++;
    const res = await this.app.inject({
      method: op.method,
      url: urlOf(op.path, req),
      headers: { ...req.headers, ...(req.token ? { authorization: `Bearer ${req.token}` } : {}) },
      ...(req.body !== undefined ? { payload: req.body as object } : {}),
    });
    const where = `${op.route} (${what})`;
    const responses = (op.op.responses ?? {}) as Record<string, Json>;
    const documented = responses[String(res.statusCode)];
    if (documented === undefined) {
      this.problems.push(
        `${where}: answered ${res.statusCode} ${trim(res.body)}; documented: ${Object.keys(responses).join(', ')}`,
      );
      return { status: res.statusCode, json: null, raw: res.body };
    }
    const mediaType = String(res.headers['content-type'] ?? '')
      .split(';')[0]!
      .trim();
    const content = (documented.content ?? {}) as Record<string, Json>;
    const media = content[mediaType];
    let json: unknown = null;
    if (res.body === '' && Object.keys(content).length === 0)
      return { status: res.statusCode, json, raw: '' };
    if (media === undefined) {
      this.problems.push(
        `${where}: ${res.statusCode} as ${mediaType || 'no type'}; documented: ${Object.keys(content)}`,
      );
      return { status: res.statusCode, json, raw: res.body };
    }
    json = mediaType.endsWith('json') ? safeJson(res.body) : res.body;
    const pointer = `/paths/${pointerEscape(op.path)}/${op.method.toLowerCase()}/responses/${res.statusCode}/${pointerEscape(mediaType)}`;
    const v = this.validator(pointer, (media.schema ?? {}) as Json);
    if (!v(json)) {
      this.problems.push(
        `${where}: ${res.statusCode} body does not match its schema: ${this.ajv.errorsText(v.errors)}`,
      );
    }
    const error = json as { error?: unknown; issues?: { message: string }[] } | null;
    // Refused by the route's schema (only those 400s carry `issues`; a rule the document cannot state,
    // e.g. a time in the future, has none), unless the route's description quotes the rule.
    if (allowed && res.statusCode === 400 && error?.error === 'validation_failed' && error.issues) {
      const description = String(op.op.description ?? '');
      if (!error.issues.every((i) => description.includes(i.message))) {
        this.problems.push(`${where}: the document allows it but it was refused: ${trim(res.body)}`);
      }
    }
    if (!allowed && res.statusCode < 400) {
      this.problems.push(`${where}: the document forbids it but it was accepted (${res.statusCode})`);
    }
    return { status: res.statusCode, json, raw: res.body };
  }
}

function applicable(m: Mutation): boolean {
  const { field, kind } = m;
  if (field.where === 'params') {
    // An empty path segment is another URL (a 404 of the router), not a value of this parameter.
    if (kind === 'drop') return false;
    if (kind === 'text' && m.text === '') return false;
  }
  if (kind === 'overLong') return typeof field.schema.maxLength === 'number';
  if (kind === 'wrongType' && field.where !== 'body') {
    return field.schema.type === 'integer' || field.schema.type === 'number';
  }
  return true;
}

function wrongTypeValue(schema: Json): unknown {
  switch (schema.type) {
    case 'string':
      return 12345;
    case 'integer':
    case 'number':
      return 'abc';
    case 'boolean':
      return 'yes';
    case 'array':
      return { not: 'an array' };
    case 'object':
      return ['not an object'];
    default:
      return Symbol.for('skip');
  }
}

/** The request with one field changed as the mutation says. */
function mutate(req: ContractRequest, m: Mutation): ContractRequest {
  const { field, kind } = m;
  const value = (() => {
    if (kind === 'drop') return undefined;
    if (kind === 'wrongType') return field.where === 'body' ? wrongTypeValue(field.schema) : 'abc';
    if (kind === 'overLong') {
      const max = field.schema.maxLength as number;
      // Now and then past the router's own limit for path parameters.
      const extra = field.where === 'params' && m.n > 35 ? 2048 : m.n;
      return 'A'.repeat(max + extra);
    }
    return m.text;
  })();
  if (typeof value === 'symbol') return req;
  if (field.where === 'body') {
    const body = { ...(req.body as Json) };
    if (value === undefined) delete body[field.name];
    else body[field.name] = value;
    return { ...req, body };
  }
  const part = { ...req[field.where] };
  if (value === undefined) delete part[field.name];
  else part[field.name] = String(value);
  return { ...req, [field.where]: part };
}

function urlOf(path: string, req: ContractRequest): string {
  const filled = path.replace(/\{([^}]+)\}/g, (_, name: string) =>
    encodeURIComponent(req.params?.[name] ?? ''),
  );
  const query = new URLSearchParams(req.query ?? {}).toString();
  return query === '' ? filled : `${filled}?${query}`;
}

/** "METHOD /path/{param}" for every route the router holds, HEAD (automatic for GET) left out. */
export function servedRoutes(app: FastifyInstance): string[] {
  const out: string[] = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^([│ ]*)[├└]── (.*?)(?: \(([^)]*)\))?$/.exec(line);
    if (m === null) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    if (m[3] === undefined) continue;
    const path = stack.join('').replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    for (const method of m[3].split(',').map((s) => s.trim())) {
      if (method !== 'HEAD') out.push(`${method} ${path}`);
    }
  }
  return out;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

const trim = (s: string) => (s.length > 200 ? `${s.slice(0, 200)}…` : s);
