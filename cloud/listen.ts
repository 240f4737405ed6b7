/**
 * The cloud's listen backlog: connections the kernel completes and queues before node accepts them.
 * Node's default (511) overflowed when thousands of clients connected at once while the event loop
 * was busy — the kernel then drops the handshake and clients retry after 1 s, 3 s, 7 s…, which the
 * 10,000-user bench measured as multi-second p99s and timeouts (`nstat` TcpExtListenOverflows).
 * The kernel caps it at `net.core.somaxconn` (4096 on most current Linux; raise that for more).
 */
export const LISTEN_BACKLOG = 8192;
