// Errors as RFC 9457 problem details (application/problem+json), for every
// 4xx and 5xx the service sends: validation, unknown routes, wrong methods,
// limits, and the framework's own errors.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { http } from './node-http.js';
import { PROBLEM_CONTENT_TYPE, echo, type Problem } from './schemas.js';

/** Problem types of this service; HTTP-level errors use about:blank. */
export const PROBLEM_TYPES = {
  http: 'about:blank',
  invalidParameter: 'urn:criu-readiness:problem:invalid-parameter',
  unknownFeature: 'urn:criu-readiness:problem:unknown-feature',
  refreshTooSoon: 'urn:criu-readiness:problem:refresh-too-soon',
  notReady: 'urn:criu-readiness:problem:not-ready',
} as const;

export interface ProblemInit extends Partial<Omit<Problem, 'status' | 'detail' | 'instance'>> {
  status: number;
  detail: string;
}

function problemBody(init: ProblemInit, url?: string): string {
  const {
    status,
    detail,
    type = PROBLEM_TYPES.http,
    title = http.STATUS_CODES[status] ?? 'Error',
    ...extensions
  } = init;
  const instance = url === undefined ? undefined : echo(url.split('?')[0], 200);
  const problem: Problem = { type, title, status, detail, instance, ...extensions };
  return JSON.stringify(problem);
}

export function sendProblem(request: FastifyRequest, reply: FastifyReply, init: ProblemInit): FastifyReply {
  if (init.retryAfterSeconds !== undefined) reply.header('retry-after', String(init.retryAfterSeconds));
  if (init.allow) reply.header('allow', init.allow.join(', '));
  return reply
    .code(init.status)
    .header('cache-control', 'no-store')
    .type(PROBLEM_CONTENT_TYPE)
    .send(problemBody(init, request.url));
}

/** The answer before the first probe run has finished. */
export function notReady(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendProblem(request, reply, {
    status: 503,
    type: PROBLEM_TYPES.notReady,
    title: 'Not ready',
    detail: 'the first probe run has not finished yet; try again shortly',
    retryAfterSeconds: 1,
  });
}

/** A route pattern's segments matched against a request path: `:x` one segment, `*` the rest. */
function matches(pattern: string, path: string): boolean {
  const want = pattern.split('/');
  const got = path.split('/');
  for (let i = 0; i < want.length; i++) {
    if (want[i] === '*') return true;
    if (i >= got.length) return false;
    if (want[i].startsWith(':')) {
      if (got[i] === '') return false;
    } else if (want[i] !== got[i]) return false;
  }
  return want.length === got.length;
}

function validationProblem(error: FastifyError): ProblemInit {
  const where = error.validationContext ?? 'request';
  const invalidParams = (error.validation ?? []).map((v) => ({
    name: v.instancePath.replace(/^\//, '').replaceAll('/', '.') || where,
    reason: v.message ?? 'is not valid',
  }));
  return {
    status: 400,
    type: PROBLEM_TYPES.invalidParameter,
    title: 'Invalid parameter',
    detail: invalidParams.map((p) => p.reason).join('; ') || error.message,
    invalidParams,
  };
}

/**
 * Error, not-found and framework handlers that answer with problem details:
 * 400 for bad input, 404 for an unknown path, 405 (with Allow) for a known
 * path with another method, the framework's 4xx as they are, 500 otherwise.
 */
export function installProblemHandlers(app: FastifyInstance, logger: Logger): void {
  const routes = new Map<string, Set<string>>();
  app.addHook('onRoute', (route) => {
    const methods = routes.get(route.url) ?? new Set<string>();
    for (const method of [route.method].flat()) methods.add(method);
    if (methods.has('GET')) methods.add('HEAD');
    routes.set(route.url, methods);
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0];
    // The router ignores a trailing slash; so does the method check.
    const routePath = path.length > 1 ? path.replace(/\/+$/, '') : path;
    const allowed = new Set<string>();
    for (const [pattern, methods] of routes) if (matches(pattern, routePath)) for (const m of methods) allowed.add(m);
    if (allowed.size > 0 && !allowed.has(request.method)) {
      const allow = [...allowed].sort();
      return sendProblem(request, reply, {
        status: 405,
        detail: `${echo(path)} does not accept ${request.method}; it accepts ${allow.join(', ')}`,
        allow,
      });
    }
    return sendProblem(request, reply, {
      status: 404,
      detail: `no route ${request.method} ${echo(path)}; see /docs for the API`,
    });
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error.validation) return sendProblem(request, reply, validationProblem(error));
    const status =
      error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) {
      logger.error(
        { err: error, reqId: request.id, method: request.method, url: echo(request.url, 200) },
        'request failed',
      );
      return sendProblem(request, reply, { status, detail: 'the service failed to answer; its log has the cause' });
    }
    return sendProblem(request, reply, { status, detail: error.message });
  });
}

/** For fastify's frameworkErrors option: a malformed URL and the like. */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const status =
    error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 400;
  // Their messages quote the whole path: say what is wrong without it.
  const detail =
    status === 414
      ? 'a path segment is longer than the service accepts'
      : error.code === 'FST_ERR_BAD_URL'
        ? 'the path is not valid (bad percent-encoding)'
        : echo(error.message, 200);
  sendProblem(request, reply, { status, detail });
}

/**
 * A problem written straight to a socket, which is then closed: for what Node answers before fastify sees a request.
 */
function writeProblem(socket: Duplex, init: ProblemInit, url?: string): void {
  const body = problemBody(init, url);
  const allow =
    (init.allow ? `Allow: ${init.allow.join(', ')}\r\n` : '') +
    (init.retryAfterSeconds !== undefined ? `Retry-After: ${init.retryAfterSeconds}\r\n` : '');
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${init.status} ${http.STATUS_CODES[init.status]}\r\n` +
        `Content-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        `${allow}Connection: close\r\n\r\n${body}`,
    );
  }
}

/**
 * For fastify's clientErrorHandler option: what Node's parser rejects before
 * fastify sees a request (headers too large, a malformed request line).
 */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  // One answer per request: an answer already given or begun on this connection is not followed by another.
  if (
    answeredAndClosing.has(socket) ||
    (socket as Socket & { _httpMessage?: { headersSent: boolean } })._httpMessage?.headersSent
  ) {
    socket.destroy(error);
    return;
  }
  const [status, detail] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'the request line and headers are larger than the service accepts']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'the request did not arrive in time']
        : [400, 'the request is not valid HTTP'];
  writeProblem(socket, { status, detail });
  socket.destroy(error);
}

/** The methods some route of the service accepts. */
const SERVICE_METHODS = ['GET', 'HEAD', 'POST'];

/**
 * Problems for the requests Node answers itself, bare, or drops: CONNECT
 * (Node closes the connection without a word when nobody listens for it) and
 * an Expect other than 100-continue (Node's 417 has no body).
 */
export function installServerProblemHandlers(server: Server): void {
  server.on('connect', (_request: IncomingMessage, socket: Duplex) => {
    writeProblem(socket, {
      status: 405,
      detail: 'the service is not a proxy: it does not accept CONNECT',
      allow: SERVICE_METHODS,
    });
    socket.end();
  });
  server.on('checkExpectation', (request: IncomingMessage, response: ServerResponse) => {
    respondProblem(request, response, {
      status: 417,
      detail: 'the only expectation the service meets is 100-continue',
    });
  });
}

/** Connections given a final answer before fastify, whose parser may still complain about what follows. */
const answeredAndClosing = new WeakSet<Duplex>();

/** A problem answered through Node's response, before fastify has a request: the connection then closes. */
function respondProblem(request: IncomingMessage, response: ServerResponse, init: ProblemInit): void {
  const body = problemBody(init, request.url);
  const headers: Record<string, string | number> = {
    'content-type': PROBLEM_CONTENT_TYPE,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    connection: 'close',
  };
  if (init.retryAfterSeconds !== undefined) headers['retry-after'] = init.retryAfterSeconds;
  answeredAndClosing.add(request.socket);
  response.writeHead(init.status, headers).end(body);
}

/** A connection refused before any request (the connection limit): a 503 written straight to it, then closed. */
export function refuseConnection(socket: Socket): void {
  answeredAndClosing.add(socket);
  writeProblem(socket, {
    status: 503,
    detail: 'the service has as many connections as it accepts, none of them idle; try again shortly',
    retryAfterSeconds: 1,
  });
  socket.end();
  // A client that never reads does not keep it open.
  setTimeout(() => socket.destroy(), 1000).unref();
}

/** Too many requests waiting for their answers in all: a 503 before routing. */
export function answerOverloaded(request: IncomingMessage, response: ServerResponse): void {
  respondProblem(request, response, {
    status: 503,
    detail: 'the service has as many requests in progress as it accepts; try again shortly',
    retryAfterSeconds: 1,
  });
}

/**
 * Only chunked is a transfer coding the service takes (RFC 9112 6.1: a
 * server answers 501 to one it does not understand, and closes). Node's
 * parser would route the request and then also fail on its body: two
 * answers to one request. True when it answered.
 */
export function answerUnknownTransferEncoding(request: IncomingMessage, response: ServerResponse): boolean {
  const coding = request.headers['transfer-encoding'];
  if (coding === undefined || /^\s*chunked\s*$/i.test(coding)) return false;
  respondProblem(request, response, { status: 501, detail: 'the only transfer coding the service accepts is chunked' });
  return true;
}

/** A Host the service does not answer for (DNS rebinding): 421. */
export function answerMisdirected(request: IncomingMessage, response: ServerResponse): void {
  respondProblem(request, response, {
    status: 421,
    detail:
      `the service does not answer for host ` +
      `${JSON.stringify(echo(request.headers.host ?? ''))}; use its IP address, or add the name with --allowed-hosts`,
  });
}

/** A POST from a web page of another site: 403. */
export function answerCrossOrigin(request: IncomingMessage, response: ServerResponse): void {
  respondProblem(request, response, {
    status: 403,
    detail: 'the service does not accept a POST from a web page of another site',
  });
}

/**
 * An HTTP/1.1 request without Host is a 400 (RFC 9112 3.2). Node's own answer
 * has no body, so the check is made here, with Node's turned off. True when
 * it answered.
 */
export function answerMissingHost(request: IncomingMessage, response: ServerResponse): boolean {
  if (request.headers.host !== undefined || request.httpVersionMajor !== 1 || request.httpVersionMinor !== 1)
    return false;
  respondProblem(request, response, { status: 400, detail: 'an HTTP/1.1 request must have a Host header' });
  return true;
}
