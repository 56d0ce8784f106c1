// Bounds on what clients can make the server hold: connections, requests
// waiting for their answers (per connection and in all), answers a client
// does not read. The service runs with a small V8 heap, so any unbounded
// queue a client can fill ends the process; each bound here is enforced by
// closing the connection that exceeds it, oldest idle first, never one with
// a request in progress but for the client that is over its own bound.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface ConnectionBounds {
  /**
   * Open connections in all; past it the oldest idle one is closed to admit a new one, and a new one is refused only
   * when none is idle.
   */
  maxConnections: number;
  /** Requests on one connection waiting for their answers (pipelined); past it the connection is closed. */
  maxPipelined: number;
  /**
   * Requests waiting for their answers in all; past it the connection with the most waiting is closed, or the request
   * gets a 503.
   */
  maxInFlight: number;
  /** An answer the client does not read for this long closes its connection. */
  stalledWriteMs: number;
}

/** What the guard saw, for tests and the bench. */
export interface GuardCounts {
  connections: number;
  /** Connections taken from the listener since the start, refused ones included. */
  accepted: number;
  idle: number;
  inFlight: number;
  evicted: number;
  refused: number;
  overPipelined: number;
  shed: number;
  stalled: number;
  /** Requests read whose connection closed before their answer was written in full. */
  unanswered: number;
}

interface ConnectionState {
  /** Requests received whose answers have not finished. */
  waiting: number;
  /** When it last had no request in progress. */
  idleSince: number;
  /** Closed: its answers no longer count (Node does not always report the end of an answer queued behind others). */
  closed: boolean;
  /** bytesWritten when last seen, and since when it has not moved while an answer waited to be read. */
  written: number;
  stuckSince: number;
}

/** The HTTP parser Node attaches to a server connection (an undocumented but long-standing property). */
type ParsedSocket = Socket & { parser?: { onIncoming?: unknown } | null };

/**
 * In place of Node's handler of a parsed request head: -1 is llhttp's "stop
 * with an error", which ends the parse of what was read (Node reports it as a
 * client error on a connection already closed, which problem.ts ignores).
 */
const ignoreRequest = () => -1;

/**
 * Node parses the whole of what it read from a connection, even once the
 * connection is closed: one read of pipelined requests is about 1,400 of
 * them, each of which would cost a message object and its events, enough to
 * keep the event loop from every other client while pipelining attackers
 * reconnect. From here on, the parse stops at the next request head.
 */
function stopRouting(socket: ParsedSocket): void {
  if (socket.parser) socket.parser.onIncoming = ignoreRequest;
}

/**
 * What the guard does with a request: route it, or it has been dealt with (connection closed, or `overloaded` answers
 * it).
 */
export type Admission = 'route' | 'closed' | 'overloaded';

export class ConnectionGuard {
  private readonly states = new Map<Socket, ConnectionState>();
  /** Connections with no request in progress, oldest first (a Set keeps insertion order). */
  private readonly idle = new Set<Socket>();
  private inFlight = 0;
  /** Connections answered with the refusal: what they send next is not a request left unanswered. */
  private readonly refusedSockets = new WeakSet<Socket>();
  private readonly counts = {
    accepted: 0,
    evicted: 0,
    refused: 0,
    overPipelined: 0,
    shed: 0,
    stalled: 0,
    unanswered: 0,
  };
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    server: Server,
    readonly bounds: ConnectionBounds,
    /** Writes a refusal to a connection that cannot be admitted, then closes it. */
    private readonly refuse: (socket: Socket) => void,
  ) {
    server.on('connection', (socket: Socket) => this.connected(socket));
    this.sweeper = setInterval(
      () => this.sweepStalled(),
      Math.max(100, Math.min(1000, bounds.stalledWriteMs / 4)),
    ).unref();
    server.on('close', () => clearInterval(this.sweeper));
  }

  private connected(socket: Socket): void {
    this.counts.accepted++;
    if (this.states.size >= this.bounds.maxConnections) {
      const oldest = this.idle.values().next();
      if (oldest.done) {
        this.counts.refused++;
        this.refusedSockets.add(socket);
        this.refuse(socket);
        return;
      }
      this.counts.evicted++;
      this.drop(oldest.value);
    }
    this.states.set(socket, {
      waiting: 0,
      idleSince: performance.now(),
      closed: false,
      written: 0,
      stuckSince: performance.now(),
    });
    this.idle.add(socket);
    socket.once('close', () => this.forget(socket));
  }

  private forget(socket: Socket): void {
    const state = this.states.get(socket);
    if (state) {
      state.closed = true;
      this.inFlight -= state.waiting;
      this.counts.unanswered += state.waiting;
    }
    this.states.delete(socket);
    this.idle.delete(socket);
  }

  /** Close a connection now; what it had waiting stops counting at once. */
  private drop(socket: Socket): void {
    this.forget(socket);
    socket.destroy();
    stopRouting(socket);
  }

  /** Called for each request before it is routed. */
  admit(request: IncomingMessage, response: ServerResponse): Admission {
    const socket = request.socket;
    const state = this.states.get(socket);
    // A connection the guard refused or closed: nothing more is read from it.
    if (!state) {
      if (!this.refusedSockets.has(socket)) this.counts.unanswered++;
      socket.destroy();
      stopRouting(socket);
      return 'closed';
    }
    state.waiting++;
    this.inFlight++;
    this.idle.delete(socket);
    response.once('close', () => this.answered(socket, state, response));
    if (state.waiting > this.bounds.maxPipelined) {
      this.counts.overPipelined++;
      this.drop(socket);
      return 'closed';
    }
    if (this.inFlight > this.bounds.maxInFlight) {
      const greediest = this.greediest();
      if (greediest && greediest !== socket) {
        this.counts.shed++;
        this.drop(greediest);
      } else if (greediest === socket) {
        this.counts.shed++;
        this.drop(socket);
        return 'closed';
      } else {
        return 'overloaded';
      }
    }
    return 'route';
  }

  private answered(socket: Socket, state: ConnectionState, response: ServerResponse): void {
    if (state.closed) return;
    // Closed before the whole answer was handed to the connection: the connection was closed under it.
    if (!response.writableFinished) this.counts.unanswered++;
    state.waiting--;
    this.inFlight--;
    if (state.waiting === 0 && !socket.destroyed) {
      // To the end of the line: the connection idle the longest is closed first.
      this.idle.delete(socket);
      this.idle.add(socket);
      state.idleSince = performance.now();
    }
  }

  /** The connection with the most answers waiting, if it has more than one (one each is what plain clients have). */
  private greediest(): Socket | undefined {
    let most: Socket | undefined;
    let waiting = 1;
    for (const [socket, state] of this.states) {
      if (state.waiting > waiting) {
        most = socket;
        waiting = state.waiting;
      }
    }
    return most;
  }

  /** Close connections whose client has not read an answer for stalledWriteMs. */
  private sweepStalled(): void {
    const now = performance.now();
    for (const [socket, state] of this.states) {
      if (state.waiting === 0 || socket.writableLength === 0 || socket.bytesWritten !== state.written) {
        state.written = socket.bytesWritten;
        state.stuckSince = now;
      } else if (now - state.stuckSince >= this.bounds.stalledWriteMs) {
        this.counts.stalled++;
        this.drop(socket);
      }
    }
  }

  private closing: NodeJS.Timeout | undefined;

  /**
   * Close the connections with no request in progress, the others after
   * their answer (the owner answers with Connection: close). Only those quiet
   * for `quietMs`: a client that has just connected, or just had an answer,
   * may have sent a request not yet read, which is then answered. Repeats
   * until no idle connection is left.
   */
  closeIdle(quietMs = 250): void {
    const now = performance.now();
    for (const socket of this.idle) {
      if (now - (this.states.get(socket)?.idleSince ?? 0) < quietMs) continue;
      this.forget(socket);
      // end, not destroy: what was written still reaches the client.
      socket.end();
      socket.once('finish', () => socket.destroy());
    }
    clearTimeout(this.closing);
    if (this.idle.size > 0 || this.inFlight > 0) this.closing = setTimeout(() => this.closeIdle(quietMs), 50).unref();
  }

  snapshot(): GuardCounts {
    return { connections: this.states.size, idle: this.idle.size, inFlight: this.inFlight, ...this.counts };
  }
}
