// The HTTP face of the webhook. The only module importing fastify; buildApp never listens.
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { type AdmissionSettings, admit, type Reviewed } from './admit.ts';
import { loopDelayMargin } from './loop-delay.ts';
import { rejection } from './review.ts';

export interface AppOptions {
  readonly admission: AdmissionSettings;
  /** True once a policy is loaded; /readyz answers 503 until then (and again while shutting down). */
  readonly ready: () => boolean;
  /** Largest accepted request body in bytes. */
  readonly bodyLimit: number;
  /** Serve HTTPS with this certificate; plain HTTP (tests) when absent. */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  /** True while shutting down: every answer then closes its connection. */
  readonly draining?: () => boolean;
  /** Written at each review with when it arrived (`performance.now()`): shutdown waits for quiet. */
  readonly activity?: { lastReviewAt: number };
}

/** When the request arrived, set on Node's request object before fastify sees it. */
const ARRIVED = Symbol('portcullis.arrived');
type Stamped = FastifyRequest['raw'] & { [ARRIVED]?: number };

/**
 * Longer than the idle timeout of Go's HTTP client (90 s), which the API server uses: the client
 * closes an idle connection first, so the server never closes one a request is being sent on.
 */
const KEEP_ALIVE_TIMEOUT_MS = 95_000;

export function buildApp(options: AppOptions): FastifyInstance {
  const { admission } = options;
  // No logger for fastify: admit() logs one line per review, the error handler below logs what
  // fails, and `serve` says where it listens. With a logger fastify would make a child logger
  // and add response listeners for every request, which cost more than a cached review does.
  const app = Fastify({
    bodyLimit: options.bodyLimit,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    // A request that reaches a closing server is still answered: the API server does not retry
    // a 503 without Retry-After, and the review costs no more than the 503 would.
    return503OnClosing: false,
    ...(options.tls === undefined ? {} : { https: { cert: options.tls.cert, key: options.tls.key } }),
  }) as unknown as FastifyInstance;

  const draining = options.draining ?? (() => false);
  const margin = loopDelayMargin(admission.deadlineMs, (ms) => admission.metrics.deadlineMargin(ms / 1000));
  app.addHook('onClose', async () => margin.stop());
  // The clock starts when the request arrived, before its body was read: stamped as Node emits
  // the request, ahead of fastify's own listener, without a hook to run.
  app.server.prependListener('request', (raw: Stamped) => {
    raw[ARRIVED] = performance.now();
  });
  const activity = options.activity ?? { lastReviewAt: 0 };
  const clock = (request: FastifyRequest) => {
    const arrivedAt = (request.raw as Stamped)[ARRIVED] ?? performance.now();
    activity.lastReviewAt = arrivedAt;
    return { arrivedAt, margin };
  };

  // Whatever goes wrong before a review is read still gets an AdmissionReview-shaped answer.
  app.setErrorHandler((error: FastifyError, _request, reply) => {
    const status =
      error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500
        ? error.statusCode
        : 500;
    const message =
      error.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
        ? `admission review: body larger than the ${options.bodyLimit} byte limit`
        : `admission review: ${error.message}`;
    if (status === 500) admission.logger.error({ err: error }, 'request failed');
    void reply.code(status).send(rejection('', status, message));
  });

  // A review answered from the caches is sent at once, without awaiting a promise.
  const reviewRoute = (mutate: boolean) => (request: FastifyRequest, reply: FastifyReply) => {
    const send = ({ status, review }: Reviewed) => {
      if (draining()) void reply.header('connection', 'close');
      return reply.code(status).send(review);
    };
    const answer = admit(admission, request.body, mutate, clock(request));
    return answer instanceof Promise ? answer.then(send) : send(answer);
  };
  app.post('/validate', reviewRoute(false));
  app.post('/mutate', reviewRoute(true));
  app.get('/healthz', async () => 'ok\n');
  app.get('/readyz', async (_request, reply) =>
    options.ready() ? reply.send('ok\n') : reply.code(503).send('no trust policy loaded\n'),
  );
  app.get('/metrics', async (_request, reply) => {
    const { contentType, body } = await admission.metrics.render();
    return reply.type(contentType).send(body);
  });
  return app;
}
