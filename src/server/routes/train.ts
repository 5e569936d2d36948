import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from 'typebox';
import { ERROR_RESPONSES, jobAccepted } from '../../api/schemas.js';
import { jobUrl, jobView } from '../../api/views.js';
import { MIN_LABELLED_TO_TRAIN, trainInBackground } from '../../app/backgroundIndex.js';
import { DEFAULT_AUGMENT } from '../../config.js';
import { FashionError } from '../../errors.js';
import { DEFAULT_TRAIN } from '../../refine/mlp.js';
import type { ApiDeps } from '../deps.js';

/** The most epochs a request may ask: `fashion train --epochs` takes as many. */
export const MAX_TRAIN_EPOCHS = 10_000;
/** What the catalog's writer lock says while an API training holds it (writes refused meanwhile are told so). */
export const TRAIN_LOCK_HOLDER = 'training (POST /api/train)';

const TrainBody = Type.Object(
  {
    epochs: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_TRAIN_EPOCHS, description: `Training epochs (default ${DEFAULT_TRAIN.epochs}, as \`fashion train\`)` })),
    augment: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 1,
        description: `Share of labelled items that also train as a re-photographed copy (default: the server's FASHION_AUGMENT, ${DEFAULT_AUGMENT} unless set); 0 trains without copies, in far less time`,
      }),
    ),
  },
  { additionalProperties: false },
);
type TrainJson = Static<typeof TrainBody>;

/**
 * POST /api/train: the refinement learned again from the catalog's labels, e.g. after a shop has pushed many products
 * through the write API, as a background 'train' job (src/app/backgroundIndex.ts): the training runs in a child
 * process holding the catalog's writer lock, and when it has finished the server answers from the new refinement,
 * without a restart. Answers 202 with the job at once (Location: /api/jobs/{id}); asked while a training is queued or
 * running, it answers that job. Needs a write key.
 */
export const trainRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, { svc }) => {
  app.post('/api/train', {
    config: { access: 'write' },
    schema: {
      tags: ['jobs'],
      summary: 'Train the refinement again from the catalog\'s labels, as a background job',
      description:
        'Optional JSON body `{"epochs"?, "augment"?}`. 202 with the job (Location: /api/jobs/{id}); GET it until it has finished: then searches answer from the new refinement. ' +
        'Asked while a training is queued or running, the answer is that job. Writes answer 409 catalog/locked while it trains. ' +
        `A catalog with fewer than ${MIN_LABELLED_TO_TRAIN} labelled items (articleType) is refused: 409 catalog/too-few-labels.`,
      security: [{ bearer: [] }],
      body: { required: false, content: { 'application/json': { schema: TrainBody } } },
      response: {
        202: jobAccepted('The training job, queued or running (a new one, or the one already under way)'),
        ...ERROR_RESPONSES,
      },
    },
  }, async (req, reply) => {
    // The body's schema checks JSON alone: a form would otherwise be taken for no body and train with the defaults.
    if (req.isMultipart()) throw new FashionError('input/invalid', 'Expected a JSON body ({"epochs"?, "augment"?}) or none but received multipart/form-data');
    const body = (req.body ?? {}) as TrainJson;
    const job = await trainInBackground(svc, { ...body, holder: TRAIN_LOCK_HOLDER });
    req.log.info({ jobId: job.id, status: job.status, params: job.params }, 'training submitted');
    return reply.code(202).header('location', jobUrl(job)).send(jobView(job));
  });
};
