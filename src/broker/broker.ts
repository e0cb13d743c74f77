import { FsidmapError } from '../errors.js';
import { readLedger, recordWrittenNamespace, takeCensus } from '../userns-census/index.js';
import { AuditLog, type AuditSink } from './audit-log.js';
import { DEFAULT_LIMITS, type Limits } from './limits.js';
import { DEFAULT_SOCKET, openListener } from './listen.js';
import { NamespaceTracker } from './namespace-tracker.js';
import type { DelegationSource, MapHolderFactory, RangeStore } from './ports.js';
import { BrokerServer } from './server.js';
import { BrokerService } from './service.js';

/** How often draining ranges are checked against the host's namespaces. */
const REAP_INTERVAL_MS = 2000;

/** Where the audit log goes unless --audit-log says otherwise. */
export const DEFAULT_AUDIT_LOG = '/var/log/fsidmap/broker-audit.log';

export interface BrokerOptions {
  /** Socket path (default /run/fsidmap/broker.sock); ignored when systemd passes the socket. */
  readonly socket?: string;
  /** Audit log file, or "-" for stderr; or a sink (tests). */
  readonly audit?: string | AuditSink;
  readonly limits?: Limits;
  readonly delegation: DelegationSource;
  readonly holders: MapHolderFactory;
  readonly ranges?: RangeStore | null;
  readonly env?: NodeJS.ProcessEnv;
}

export interface RunningBroker {
  /** The socket path, or null when systemd passed the socket. */
  readonly socket: string | null;
  /** Resolves when the broker has stopped. */
  readonly done: Promise<void>;
  readonly server: BrokerServer;
  stop(): Promise<void>;
}

/**
 * Starts the broker: socket, audit log, policy and operations, connection
 * loop. It needs root (CAP_SYS_ADMIN for mounts, CAP_SETUID/CAP_SETGID for
 * maps of ranges); everything it does for a peer is decided per request.
 */
export function startBroker(o: BrokerOptions): RunningBroker {
  if (process.geteuid?.() !== 0) {
    throw new FsidmapError(
      'ERR_NOT_ROOT',
      'the broker must run as root: it makes idmapped mounts and writes maps of ranges for its peers',
      {
        hint: 'start it as root (systemctl start fsidmap-broker, or sudo fsidmap broker); users then run fsidmap without sudo',
      },
    );
  }
  const limits = o.limits ?? DEFAULT_LIMITS;
  const audit = typeof o.audit === 'object' ? o.audit : AuditLog.open(o.audit ?? DEFAULT_AUDIT_LOG);
  const ownAudit = typeof o.audit !== 'object';
  let listener;
  try {
    listener = openListener(o.socket ?? DEFAULT_SOCKET, o.env);
  } catch (e) {
    if (ownAudit) (audit as AuditLog).close();
    throw e;
  }
  const tracker = new NamespaceTracker();
  const census = async () => {
    const c = await takeCensus();
    return c.unreadable.length > 0 ? null : new Set(c.namespaces.map((n) => n.inode));
  };
  const service = new BrokerService({
    limits,
    delegation: o.delegation,
    holders: o.holders,
    ranges: o.ranges ?? null,
    tracker,
    census,
    ledger: (nsFd, inode, maps, by) => void recordWrittenNamespace(nsFd, inode, maps, by),
  });
  const server = new BrokerServer({
    listenFd: listener.fd,
    limits,
    audit,
    handler: service.handle,
    userName: (uid) => o.delegation.userName(uid),
    watched: () => tracker.fds(),
    onWatchedReady: (fd) => tracker.exited(fd),
    accountOf: (uid) => service.accountOf(uid),
  });
  // accountOf counts a uid inside a range the broker allocated as that range's owner: know them from the start.
  void service.refreshOwned().catch(() => undefined);
  audit.record({
    peer: null,
    conn: null,
    op: null,
    id: null,
    request: null,
    decision: 'allowed',
    code: null,
    reason: `broker started on ${listener.path ?? 'the socket systemd passed'} (pid ${process.pid})`,
  });
  // Drained ranges are freed without waiting for the next alloc (quietly: a failing census is retried next time).
  const reaper = setInterval(() => {
    void service.reapDrained().catch(() => undefined);
    // Entries of namespaces that are gone are removed by reading the ledger: one open_by_handle_at each.
    try {
      readLedger();
    } catch {
      /* retried next time */
    }
  }, REAP_INTERVAL_MS);
  reaper.unref();
  const done = server.start().finally(async () => {
    clearInterval(reaper);
    listener.close();
    tracker.closeAll();
    await o.ranges?.close();
    audit.record({ peer: null, conn: null, op: null, id: null, request: null, decision: 'allowed', code: null, reason: 'broker stopped' });
    if (ownAudit) (audit as AuditLog).close();
  });
  return {
    socket: listener.path,
    done,
    server,
    stop: async () => {
      await server.stop();
      await done;
    },
  };
}
