import { TOPIC_ROOT } from './mqtt.js';

/**
 * Who may publish and subscribe what on the sync broker (docs/architecture.md#security).
 *
 * The same rule is shipped twice: as a Mosquitto ACL file (deploy/mosquitto/acl) and as this
 * module, which the embedded broker (cloud/broker/embedded.ts) enforces. deploy/test parses the
 * ACL file and cross-checks both; test/broker.test.ts proves the rule on both running brokers.
 *
 * Username scheme (forced by Mosquitto: `pattern` rules substitute `%u` with the whole username):
 * - `cloud` is the cloud service account (every cloud instance, each with its own client id);
 * - a lot's username IS its lot id (`[A-Za-z0-9_-]{1,64}`), so `parkedge/v1/lot/%u/up/#` works;
 * - the lot id `cloud` is reserved: its topics are denied to everyone (`topic deny` in the file).
 *
 * Rule, in MQTT filter terms (`#` also matches its parent level, as in MQTT):
 * - cloud: publish `parkedge/v1/lot/+/down/#`, read `parkedge/v1/lot/+/up/#`, also through
 *   `$share/<group>/…` shared subscriptions;
 * - lot L: publish `parkedge/v1/lot/L/up/#`, read `parkedge/v1/lot/L/down/#`;
 * - everything else is denied: anonymous and unknown users, `$SYS`, other roots, other lots.
 *
 * Where the two brokers differ (both documented in deploy/README.md):
 * - Mosquitto 2's acl_file grants every SUBSCRIBE and checks `read` on each delivered message;
 *   the embedded broker refuses a filter that reaches beyond the account (SUBACK 0x80) and also
 *   checks each delivery. Either way the account never receives a message it may not read.
 * - Topics and filters longer than MAX_TOPIC_CHARS or containing NUL are refused here; our
 *   protocol never produces them, Mosquitto would accept them within an account's grant.
 */

export const CLOUD_USERNAME = 'cloud';
/** Lot ids that can never be lot accounts, because the username space is shared with them. */
export const RESERVED_LOT_IDS: readonly string[] = [CLOUD_USERNAME];
/** Longest topic or filter accepted (protocol topics are < 100 characters). */
export const MAX_TOPIC_CHARS = 256;

const LOT_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
const SHARE_PREFIX = '$share/';

export type BrokerAccount =
  | { kind: 'cloud'; username: string }
  | { kind: 'lot'; username: string; lotId: string };

/** A topic filter as the broker's rule sees it: `+` and `#` are wildcards. */
export interface Grant {
  publish: readonly string[];
  read: readonly string[];
  /** Topics under these filters are denied even when a grant covers them. */
  deny: readonly string[];
  /** Whether `$share/<group>/<filter>` may be used for a filter the account may read. */
  sharedSubscriptions: boolean;
}

export function isValidLotId(lotId: string): boolean {
  return typeof lotId === 'string' && LOT_ID_RE.test(lotId) && !RESERVED_LOT_IDS.includes(lotId);
}

/** The broker username of a lot (the lot id itself; see the scheme above). */
export function lotUsername(lotId: string): string {
  if (!isValidLotId(lotId)) throw new RangeError(`not a usable lot id: ${JSON.stringify(lotId)}`);
  return lotId;
}

/** Maps a broker username to its account; `null` for anything that is neither cloud nor a lot. */
export function accountFromUsername(username: string | null | undefined): BrokerAccount | null {
  if (typeof username !== 'string') return null;
  if (username === CLOUD_USERNAME) return { kind: 'cloud', username };
  if (isValidLotId(username)) return { kind: 'lot', username, lotId: username };
  return null;
}

export function grantsOf(account: BrokerAccount): Grant {
  const reserved = RESERVED_LOT_IDS.map((id) => `${TOPIC_ROOT}/${id}/#`);
  if (account.kind === 'cloud')
    return {
      publish: [`${TOPIC_ROOT}/+/down/#`],
      read: [`${TOPIC_ROOT}/+/up/#`],
      deny: reserved,
      sharedSubscriptions: true,
    };
  return {
    publish: [`${TOPIC_ROOT}/${account.lotId}/up/#`],
    read: [`${TOPIC_ROOT}/${account.lotId}/down/#`],
    deny: reserved,
    sharedSubscriptions: false,
  };
}

/** May this account publish to this topic? */
export function canPublish(account: BrokerAccount | null, topic: string): boolean {
  if (!account || !isValidPublishTopic(topic)) return false;
  const grant = grantsOf(account);
  return !matchesAny(grant.deny, topic) && matchesAny(grant.publish, topic);
}

/** May a message published on this topic be delivered to this account? */
export function canRead(account: BrokerAccount | null, topic: string): boolean {
  if (!account || !isValidPublishTopic(topic)) return false;
  const grant = grantsOf(account);
  return !matchesAny(grant.deny, topic) && matchesAny(grant.read, topic);
}

/**
 * May this account subscribe to this filter? Only when every topic the filter can match lies
 * within the account's read grant, so a wildcard can never widen access beyond the own lot.
 */
export function canSubscribe(account: BrokerAccount | null, filter: string): boolean {
  if (!account || typeof filter !== 'string') return false;
  const grant = grantsOf(account);
  let plain = filter;
  const shared = splitSharedSubscription(filter);
  if (shared) {
    if (!grant.sharedSubscriptions) return false;
    plain = shared.filter;
  } else if (filter.startsWith(SHARE_PREFIX)) {
    return false; // a malformed shared subscription
  }
  if (!isValidTopicFilter(plain)) return false;
  return grant.read.some((g) => filterIsWithin(plain, g));
}

/** `$share/<group>/<filter>` → its parts; `null` when the text is not a well-formed shared subscription. */
export function splitSharedSubscription(filter: string): { group: string; filter: string } | null {
  if (typeof filter !== 'string' || !filter.startsWith(SHARE_PREFIX)) return null;
  const rest = filter.slice(SHARE_PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return null;
  const group = rest.slice(0, slash);
  if (/[+#]/.test(group)) return null;
  return { group, filter: rest.slice(slash + 1) };
}

/** A topic a client may publish to: non-empty, no wildcards, no NUL, bounded length. */
export function isValidPublishTopic(topic: string): boolean {
  return (
    typeof topic === 'string' &&
    topic.length > 0 &&
    topic.length <= MAX_TOPIC_CHARS &&
    !/[+#\u0000]/.test(topic) &&
    isWellFormedUtf16(topic)
  );
}

/** A subscription filter: `+` only as a whole level, `#` only as the whole last level. */
export function isValidTopicFilter(filter: string): boolean {
  if (typeof filter !== 'string' || filter.length === 0 || filter.length > MAX_TOPIC_CHARS) return false;
  if (filter.includes('\u0000') || !isWellFormedUtf16(filter)) return false;
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) return false;
    if (level.includes('+') && level !== '+') return false;
  }
  return true;
}

/** MQTT matching of a topic against a filter, including the `$`-topic rule. */
export function topicMatchesFilter(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  // [MQTT-4.7.2-1] a filter starting with a wildcard does not match topics starting with $.
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    const level = f[i]!;
    if (level === '#') return true; // also matches the parent level
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}

/** True when every topic matched by `filter` is also matched by `grant` (both valid filters). */
export function filterIsWithin(filter: string, grant: string): boolean {
  const f = filter.split('/');
  const g = grant.split('/');
  for (let i = 0; i < g.length; i++) {
    const gl = g[i]!;
    if (gl === '#') return true;
    const fl = f[i];
    if (fl === undefined || fl === '#') return false;
    if (gl === '+') continue;
    if (fl === '+' || fl !== gl) return false;
  }
  return f.length === g.length;
}

function matchesAny(filters: readonly string[], topic: string): boolean {
  return filters.some((f) => topicMatchesFilter(f, topic));
}

/** Lone surrogates cannot be encoded as the UTF-8 MQTT requires. */
function isWellFormedUtf16(s: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}
